"""The review pages and every reviewer action, through the Django test client."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_q.models import OrmQ

from pipeline import actions
from pipeline.models import Draft, PipelineRun, ReviewAction, StepRun, WebhookSource
from tests.factories import make_lead, make_reviewer, make_submission, make_waiting_draft

pytestmark = pytest.mark.django_db

FROM_QUEUE = {"HX-Request": "true", "HX-Current-URL": "http://testserver/"}
HTMX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/drafts/1/"}


@pytest.fixture
def alice():
    return make_reviewer("alice")


@pytest.fixture
def client_alice(client, alice):
    client.force_login(alice)
    return client


def text(response) -> str:
    return response.content.decode()


def row_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr id="draft-row-(\d+)"', html)]


# --- Queue ------------------------------------------------------------------------------------


def test_queue_lists_pending_drafts_highest_score_first(client_alice):
    low = make_waiting_draft(score=40)
    high = make_waiting_draft(score=90)
    middle = make_waiting_draft(score=65)
    decided = make_waiting_draft(score=99)
    Draft.objects.filter(pk=decided.pk).update(status=Draft.Status.APPROVED)
    response = client_alice.get("/")
    assert response.status_code == 200
    assert row_ids(text(response)) == [high.pk, middle.pk, low.pk]
    assert "3 pending drafts" in text(response)


def test_queue_sorts_oldest_first_on_request(client_alice):
    older = make_waiting_draft(score=10)
    newer = make_waiting_draft(score=90)
    Draft.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(hours=5))
    assert row_ids(text(client_alice.get("/?sort=oldest"))) == [older.pk, newer.pk]


def test_queue_filters_by_label_source_age_and_assignee(client_alice, alice):
    source = WebhookSource.objects.create(name="Website form", slug="website", secret="whsec_x")
    spam = make_waiting_draft(label="spam", score=10)
    from_source = make_waiting_draft(source=source)
    imported = make_waiting_draft(channel="import")
    mine = make_waiting_draft(assigned_to=alice)
    old = make_waiting_draft()
    # Age counts from the lead's arrival, not from when this draft was (re)written.
    submission = old.run.submission
    submission.received_at = timezone.now() - timedelta(days=4)
    submission.save(update_fields=["received_at"])

    assert row_ids(text(client_alice.get("/?label=spam"))) == [spam.pk]
    assert row_ids(text(client_alice.get("/?source=source:website"))) == [from_source.pk]
    assert row_ids(text(client_alice.get("/?source=import"))) == [imported.pk]
    assert row_ids(text(client_alice.get("/?mine=on"))) == [mine.pk]
    assert row_ids(text(client_alice.get("/?age=3d"))) == [old.pk]
    assert old.pk not in row_ids(text(client_alice.get("/?age=1h")))


def test_queue_searches_name_email_and_company(client_alice):
    by_name = make_waiting_draft(lead=make_lead(name="Grace Hopper"))
    by_email = make_waiting_draft(lead=make_lead(email="ada@analytical.example"))
    by_company = make_waiting_draft(lead=make_lead(company="Initech"))
    make_waiting_draft()
    assert row_ids(text(client_alice.get("/?q=hopper"))) == [by_name.pk]
    assert row_ids(text(client_alice.get("/?q=analytical"))) == [by_email.pk]
    assert row_ids(text(client_alice.get("/?q=INITECH"))) == [by_company.pk]


def test_queue_paginates(client_alice, settings):
    from review import queries

    drafts = [make_waiting_draft(score=score) for score in range(queries.QUEUE_PAGE_SIZE + 3)]
    first = text(client_alice.get("/"))
    second = text(client_alice.get("/?page=2"))
    assert len(row_ids(first)) == queries.QUEUE_PAGE_SIZE
    assert len(row_ids(second)) == 3
    assert set(row_ids(first)) | set(row_ids(second)) == {draft.pk for draft in drafts}
    assert "Page 2 of 2" in second


def test_an_htmx_queue_request_gets_only_the_list(client_alice):
    make_waiting_draft()
    response = client_alice.get("/?label=high_intent", headers={"HX-Request": "true"})
    html = text(response)
    assert html.lstrip().startswith('<div id="queue-list"')
    assert "<html" not in html
    assert 'hx-get="/?label=high_intent"' in html


def test_the_live_refresh_answers_204_until_something_changes(client_alice):
    make_waiting_draft()
    html = text(client_alice.get("/", headers={"HX-Request": "true"}))
    stamp = re.search(r'name="stamp" value="(\w+)"', html).group(1)
    unchanged = client_alice.get(f"/?stamp={stamp}", headers={"HX-Request": "true"})
    assert unchanged.status_code == 204
    arrival = make_waiting_draft(score=99)
    refreshed = client_alice.get(f"/?stamp={stamp}", headers={"HX-Request": "true"})
    assert refreshed.status_code == 200
    assert row_ids(text(refreshed))[0] == arrival.pk


def test_a_lead_named_like_a_script_shows_as_text(client_alice):
    lead = make_lead(name="<script>alert(1)</script>", company="<img src=x onerror=alert(2)>")
    draft = make_waiting_draft(lead=lead, message="<b>hi</b><script>alert(3)</script>")
    for url in ("/", f"/drafts/{draft.pk}/", f"/leads/{lead.pk}/", "/leads/"):
        html = text(client_alice.get(url))
        assert "<script>alert" not in html and "<img src=x" not in html, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url


def test_a_soft_claim_is_shown_to_other_reviewers(client, alice):
    bob = make_reviewer("bob")
    draft = make_waiting_draft()
    actions.claim_draft(draft, by=alice)
    client.force_login(bob)
    assert "alice is reviewing" in text(client.get("/"))
    assert "alice is reviewing this draft right now" in text(client.get(f"/drafts/{draft.pk}/"))


def test_claiming_from_the_panel_returns_the_claim_notice(client, alice):
    bob = make_reviewer("bob")
    draft = make_waiting_draft()
    client.force_login(alice)
    response = client.post(f"/drafts/{draft.pk}/claim/", headers=HTMX)
    assert "You are reviewing this draft" in text(response)
    assert Draft.objects.get(pk=draft.pk).claimed_by == alice
    client.force_login(bob)
    response = client.post(f"/drafts/{draft.pk}/claim/", headers=HTMX)
    assert "alice is reviewing this draft" in text(response)


# --- Draft view -------------------------------------------------------------------------------


def test_the_draft_view_has_everything_needed_to_judge_it(client_alice):
    draft = make_waiting_draft(
        message="We need a CRM sync for 40 reps.", fallback_reason="claude timed out"
    )
    make_submission(draft.lead, message="An older question about pricing.")
    html = text(client_alice.get(f"/drafts/{draft.pk}/"))
    assert "We need a CRM sync for 40 reps." in html  # their message
    assert "asks for a demo" in html  # classification reasons
    assert "Buying intent" in html and "30/40" in html and "asks for a demo next week" in html
    assert "Sales engagement software" in html and "51-200 people" in html  # company profile
    assert draft.subject in html and "Does Tuesday at 10:00 work" in html
    assert 'data-step="classify"' in html and "850 ms" in html and "strategy-claude" in html
    assert "fell back to rules: claude timed out" in html
    assert "An older question about pricing." in html  # earlier submission
    assert html.index('data-step="classify"') < html.index('data-step="send"')


def test_an_htmx_draft_request_gets_only_the_panel(client_alice):
    draft = make_waiting_draft()
    html = text(client_alice.get(f"/drafts/{draft.pk}/", headers=FROM_QUEUE))
    assert html.lstrip().startswith(f'<article class="draft" id="draft-{draft.pk}"')
    assert "<html" not in html


# --- Approve ----------------------------------------------------------------------------------


def test_approve_from_the_queue_updates_in_place_and_queues_the_send(
    client_alice, alice, django_capture_on_commit_callbacks
):
    draft = make_waiting_draft()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_alice.post(
            f"/drafts/{draft.pk}/approve/", {"version": 1}, headers=FROM_QUEUE
        )
    assert response.status_code == 200
    html = text(response)
    assert "Approved: the reply is queued for sending." in html
    assert f'<tr id="draft-row-{draft.pk}" hx-swap-oob="delete">' in html
    assert (
        response.headers["HX-Trigger-After-Settle"] == f'{{"draft-decided": {{"id": {draft.pk}}}}}'
    )
    gate = StepRun.objects.get(run_id=draft.run_id, name="gate")
    assert gate.status == StepRun.Status.SUCCEEDED and gate.output["approved_by"] == alice.pk
    assert StepRun.objects.get(run_id=draft.run_id, name="send").status == StepRun.Status.QUEUED
    assert OrmQ.objects.count() == 1
    assert draft.pk not in row_ids(text(client_alice.get("/")))


def test_approve_without_htmx_redirects_to_the_queue_with_a_message(client_alice):
    draft = make_waiting_draft()
    response = client_alice.post(f"/drafts/{draft.pk}/approve/", {"version": 1}, follow=True)
    assert response.redirect_chain == [("/", 302)]
    assert "Approved: the reply is queued for sending." in text(response)


def test_approving_an_approved_draft_says_so_and_changes_nothing(client, alice):
    bob = make_reviewer("bob")
    draft = make_waiting_draft()
    actions.approve_draft(draft, by=alice, version=1)
    client.force_login(bob)
    response = client.post(f"/drafts/{draft.pk}/approve/", {"version": 1}, headers=FROM_QUEUE)
    assert response.status_code == 200
    assert "Already approved by alice" in text(response)
    assert "HX-Trigger-After-Settle" not in response.headers
    assert ReviewAction.objects.filter(action="approve").count() == 1


def test_approving_a_version_someone_edited_is_a_conflict_showing_the_current_text(client, alice):
    bob = make_reviewer("bob")
    draft = make_waiting_draft()
    actions.edit_draft(draft, by=alice, version=1, subject="Alice's subject", body="Alice's body")
    client.force_login(bob)
    response = client.post(
        f"/drafts/{draft.pk}/approve/",
        {"version": 1, "subject": "Bob's subject", "body": "Bob's body"},
        headers=FROM_QUEUE,
    )
    assert response.status_code == 409
    html = text(response)
    assert "alice changed this draft" in html
    assert "Alice&#x27;s body" in html  # the current text
    assert "Bob&#x27;s body" in html  # bob's unsaved text, kept for him
    assert 'name="version" value="2"' in html  # the next try uses the current version
    assert Draft.objects.get(pk=draft.pk).status == Draft.Status.PENDING


def test_save_and_approve_stores_the_edit_and_sends_the_edited_text(client_alice, alice):
    draft = make_waiting_draft()
    response = client_alice.post(
        f"/drafts/{draft.pk}/approve/",
        {"version": 1, "subject": "Quick demo?", "body": "Hi!\r\nTuesday works.\r\n"},
        headers=FROM_QUEUE,
    )
    assert response.status_code == 200
    draft.refresh_from_db()
    assert (draft.status, draft.subject, draft.body) == (
        "approved",
        "Quick demo?",
        "Hi!\nTuesday works.\n",
    )
    assert draft.revisions.get(number=2).author == alice
    gate = StepRun.objects.get(run_id=draft.run_id, name="gate")
    assert gate.output["body"] == "Hi!\nTuesday works.\n"


# --- Edit -------------------------------------------------------------------------------------


def test_edit_opens_an_inline_editor(client_alice):
    draft = make_waiting_draft()
    html = text(client_alice.get(f"/drafts/{draft.pk}/edit/", headers=FROM_QUEUE))
    assert html.lstrip().startswith('<form id="edit-form"')
    assert '<textarea id="edit-body" name="body"' in html and "Does Tuesday at 10:00 work" in html
    assert f'formaction="/drafts/{draft.pk}/approve/"' in html


def test_saving_an_edit_makes_a_new_revision_and_keeps_the_draft_pending(client_alice):
    draft = make_waiting_draft()
    response = client_alice.post(
        f"/drafts/{draft.pk}/edit/",
        {"version": 1, "subject": "Shorter", "body": "Tuesday?"},
        headers=FROM_QUEUE,
    )
    assert response.status_code == 200
    html = text(response)
    assert "Saved as revision 2." in html and "Tuesday?" in html
    assert 'name="version" value="2"' in html
    draft.refresh_from_db()
    assert (draft.status, draft.version, draft.revisions.count()) == ("pending", 2, 2)


def test_two_reviewers_editing_the_same_version_second_sees_a_conflict(client, alice):
    bob = make_reviewer("bob")
    draft = make_waiting_draft()
    client.force_login(alice)
    client.post(f"/drafts/{draft.pk}/edit/", {"version": 1, "subject": "A", "body": "alice"})
    client.force_login(bob)
    response = client.post(
        f"/drafts/{draft.pk}/edit/", {"version": 1, "subject": "B", "body": "bob"}, headers=HTMX
    )
    assert response.status_code == 409
    assert "Your text was not saved" in text(response)
    assert Draft.objects.get(pk=draft.pk).body == "alice"


def test_an_empty_body_is_refused_and_the_editor_keeps_the_text(client_alice):
    draft = make_waiting_draft()
    response = client_alice.post(
        f"/drafts/{draft.pk}/edit/",
        {"version": 1, "subject": "Kept subject", "body": ""},
        headers=HTMX,
    )
    assert response.status_code == 422
    html = text(response)
    assert 'id="edit-form"' in html and 'value="Kept subject"' in html
    assert Draft.objects.get(pk=draft.pk).version == 1


# --- Reject -----------------------------------------------------------------------------------


def test_reject_with_a_reason_from_the_list(client_alice, alice):
    draft = make_waiting_draft()
    response = client_alice.post(
        f"/drafts/{draft.pk}/reject/",
        {"version": 1, "reason_choice": "Not a fit for us"},
        headers=FROM_QUEUE,
    )
    assert response.status_code == 200
    assert f'<tr id="draft-row-{draft.pk}" hx-swap-oob="delete">' in text(response)
    draft.refresh_from_db()
    assert (draft.status, draft.reject_reason) == ("rejected", "Not a fit for us")
    assert PipelineRun.objects.get(pk=draft.run_id).status == PipelineRun.Status.REJECTED


def test_a_typed_reject_note_sits_beside_the_picked_category(client_alice):
    draft = make_waiting_draft()
    client_alice.post(
        f"/drafts/{draft.pk}/reject/",
        {"version": 1, "reason_choice": "Spam or a bot", "reason_text": "Competitor fishing"},
        headers=HTMX,
    )
    assert Draft.objects.get(pk=draft.pk).reject_reason == "Spam or a bot: Competitor fishing"


def test_reject_without_a_reason_is_refused(client_alice):
    draft = make_waiting_draft()
    response = client_alice.post(f"/drafts/{draft.pk}/reject/", {"version": 1}, headers=HTMX)
    assert response.status_code == 422
    assert "Pick or type a reason." in text(response)
    assert '<details id="reject-box" class="action-box" open>' in text(response)
    assert Draft.objects.get(pk=draft.pk).status == Draft.Status.PENDING


# --- Regenerate, reassign ----------------------------------------------------------------------


def test_regenerate_reruns_the_drafting_step_and_the_panel_waits_for_the_new_draft(client_alice):
    draft = make_waiting_draft()
    response = client_alice.post(
        f"/drafts/{draft.pk}/regenerate/",
        {"version": 1, "instruction": "mention the EU hosting"},
        headers=FROM_QUEUE,
    )
    assert response.status_code == 200
    html = text(response)
    assert "Writing a new draft (mention the EU hosting)" in html
    assert f'hx-get="/drafts/{draft.pk}/" hx-trigger="load delay:2s"' in html
    run = PipelineRun.objects.get(pk=draft.run_id)
    assert run.options["draft_instruction"] == "mention the EU hosting"
    assert run.steps.get(name="draft").status == StepRun.Status.QUEUED


def test_a_replaced_draft_opens_its_successor(client_alice):
    draft = make_waiting_draft()
    Draft.objects.filter(pk=draft.pk).update(status=Draft.Status.SUPERSEDED)
    newer = Draft.objects.create(
        lead=draft.lead, run=draft.run, subject="New", body="Shorter text", score=62
    )
    assert client_alice.get(f"/drafts/{draft.pk}/").url == f"/drafts/{newer.pk}/"
    html = text(client_alice.get(f"/drafts/{draft.pk}/", headers=FROM_QUEUE))
    assert f'id="draft-{newer.pk}"' in html and "Shorter text" in html


def test_reassign_updates_the_row_in_place(client_alice):
    bob = make_reviewer("bob")
    draft = make_waiting_draft()
    response = client_alice.post(
        f"/drafts/{draft.pk}/reassign/", {"to": bob.pk}, headers=FROM_QUEUE
    )
    assert response.status_code == 200
    html = text(response)
    assert (
        f'<tr id="draft-row-{draft.pk}" class="draft-row" data-draft-id="{draft.pk}" hx-swap-oob="true">'
        in html
    )
    assert "→ bob" in html
    assert Draft.objects.get(pk=draft.pk).assigned_to == bob


def test_reassign_refuses_users_who_cannot_review(client_alice):
    outsider = make_reviewer("outsider", group="")
    draft = make_waiting_draft()
    response = client_alice.post(f"/drafts/{draft.pk}/reassign/", {"to": outsider.pk}, headers=HTMX)
    assert response.status_code == 422
    assert Draft.objects.get(pk=draft.pk).assigned_to is None


# --- Permissions, CSRF, CSP ---------------------------------------------------------------------


def test_anonymous_users_are_sent_to_the_login_page(client):
    draft = make_waiting_draft()
    response = client.post(f"/drafts/{draft.pk}/approve/", {"version": 1})
    assert response.status_code == 302 and response.url.startswith("/login/")
    assert Draft.objects.get(pk=draft.pk).status == Draft.Status.PENDING


def test_staff_without_the_reviewer_group_cannot_see_or_act(client):
    client.force_login(make_reviewer("nobody", group=""))
    draft = make_waiting_draft()
    assert client.get("/").status_code == 403
    assert client.post(f"/drafts/{draft.pk}/approve/", {"version": 1}).status_code == 403
    assert Draft.objects.get(pk=draft.pk).status == Draft.Status.PENDING


def test_reviewers_act_on_drafts_but_only_admins_change_settings():
    reviewer, admin = make_reviewer(), make_reviewer(group="Admins")
    assert reviewer.has_perm("pipeline.review_draft") and admin.has_perm("pipeline.review_draft")
    assert not reviewer.has_perm("pipeline.change_settings")
    assert admin.has_perm("pipeline.change_settings")


def test_a_post_without_the_csrf_token_is_refused(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    draft = make_waiting_draft()
    response = client.post(f"/drafts/{draft.pk}/approve/", {"version": 1}, headers=FROM_QUEUE)
    assert response.status_code == 403
    assert Draft.objects.get(pk=draft.pk).status == Draft.Status.PENDING


def test_htmx_sends_the_csrf_token_in_a_header_and_that_is_accepted(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    draft = make_waiting_draft()
    page = text(client.get("/"))
    token = re.search(r"hx-headers='\{\"x-csrftoken\": \"([^\"]+)\"\}'", page).group(1)
    response = client.post(
        f"/drafts/{draft.pk}/approve/",
        {"version": 1},
        headers={**FROM_QUEUE, "X-CSRFToken": token},
    )
    assert response.status_code == 200
    assert Draft.objects.get(pk=draft.pk).status == Draft.Status.APPROVED


def test_pages_send_a_strict_csp_and_contain_no_inline_script_or_style(client_alice):
    draft = make_waiting_draft()
    actions.edit_draft(draft, by=make_reviewer(), version=1, subject="s", body="b")
    for url in (
        "/",
        f"/drafts/{draft.pk}/",
        f"/drafts/{draft.pk}/edit/",
        f"/leads/{draft.lead_id}/",
        "/leads/",
        "/runs/",
        f"/runs/{draft.run_id}/",
    ):
        response = client_alice.get(url)
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, url
        assert "unsafe-eval" not in policy, url
        html = text(response)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert not re.search(r"\s(style|on[a-z]+)\s*=", html), url


# --- Leads and runs ----------------------------------------------------------------------------


def test_the_lead_page_shows_the_audit_with_the_edit_diff_and_reject_reason(client_alice, alice):
    draft = make_waiting_draft(body="Hello\nOld line\nBye")
    actions.edit_draft(
        draft, by=alice, version=1, subject=draft.subject, body="Hello\nNew line\nBye"
    )
    actions.reject_draft(draft, by=alice, version=2, reason="Already in contact with us")
    html = text(client_alice.get(f"/leads/{draft.lead_id}/"))
    assert '<span class="diff-removed">-Old line</span>' in html
    assert '<span class="diff-added">+New line</span>' in html
    assert '<span class="reject-reason">Already in contact with us</span>' in html
    assert html.count('<span class="badge">rejected</span>') == 1
    assert "alice" in html


def test_the_leads_list_shows_every_lead_with_its_latest_run(client_alice):
    waiting = make_waiting_draft()
    no_run = make_lead(name="Quiet Person")
    html = text(client_alice.get("/leads/"))
    assert (
        f'href="/runs/{waiting.run_id}/"><span class="badge waiting">waiting for review</span>'
        in html
    )
    assert "Quiet Person" in html and "no run" in html
    assert f"/leads/{no_run.pk}/" in html


def make_failed_run():
    draft = make_waiting_draft()
    run = PipelineRun.objects.get(pk=draft.run_id)
    StepRun.objects.filter(run=run, name="crm_write").update(
        status=StepRun.Status.FAILED, error="HubSpot answered 503"
    )
    PipelineRun.objects.filter(pk=run.pk).update(status=PipelineRun.Status.FAILED)
    return run


def test_the_runs_list_puts_failed_runs_first(client_alice):
    failed = make_failed_run()
    make_waiting_draft()
    make_waiting_draft()
    html = text(client_alice.get("/runs/"))
    ids = [int(pk) for pk in re.findall(r'<tr id="run-row-(\d+)"', html)]
    assert ids[0] == failed.pk and len(ids) == 3
    assert 'Save to the CRM</strong>: <span class="error small">HubSpot answered 503' in html
    assert html.count('class="retry-button"') == 1


def test_retry_from_the_runs_list_requeues_the_failed_step(client_alice):
    run = make_failed_run()
    response = client_alice.post(
        f"/runs/{run.pk}/retry/",
        headers={"HX-Request": "true", "HX-Target": f"run-row-{run.pk}"},
    )
    assert response.status_code == 200
    assert text(response).lstrip().startswith(f'<tr id="run-row-{run.pk}"')
    assert "retrying 1 step(s)" in text(response)
    assert run.steps.get(name="crm_write").status == StepRun.Status.QUEUED
    assert ReviewAction.objects.get(action="retry").detail["run_id"] == run.pk


def test_retry_without_htmx_redirects_to_the_run_page(client_alice):
    run = make_failed_run()
    response = client_alice.post(f"/runs/{run.pk}/retry/", follow=True)
    assert response.redirect_chain == [(f"/runs/{run.pk}/", 302)]
    assert "retrying 1 step(s)" in text(response)


def test_retry_needs_the_reviewer_permission(client):
    client.force_login(make_reviewer(group=""))
    run = make_failed_run()
    assert client.post(f"/runs/{run.pk}/retry/").status_code == 403
    assert PipelineRun.objects.get(pk=run.pk).status == PipelineRun.Status.FAILED


def test_an_edited_and_approved_draft_reaches_the_outbox_through_the_send_step(
    client_alice, django_capture_on_commit_callbacks
):
    from django.core import mail

    from pipeline import engine
    from pipeline.models import OutboundEmail

    draft = make_waiting_draft()
    with django_capture_on_commit_callbacks(execute=True):
        client_alice.post(
            f"/drafts/{draft.pk}/approve/",
            {"version": 1, "subject": "Demo on Tuesday", "body": "Hi,\nTuesday 10:00 it is.\n"},
            headers=FROM_QUEUE,
        )
    assert mail.outbox == []  # the view sends nothing itself
    send = StepRun.objects.get(run_id=draft.run_id, name="send")
    engine.execute(send.pk, dispatch=lambda step_run_id: None)  # what the worker does
    email = OutboundEmail.objects.get(run_id=draft.run_id)
    assert (email.state, email.subject, email.draft_id) == ("sent", "Demo on Tuesday", draft.pk)
    (message,) = mail.outbox
    assert message.body.startswith("Hi,\nTuesday 10:00 it is.")
    assert PipelineRun.objects.get(pk=draft.run_id).status == PipelineRun.Status.SUCCEEDED


def test_a_regenerated_draft_replaces_the_old_one_and_can_be_approved(client_alice):
    from pipeline import engine

    draft = make_waiting_draft()
    client_alice.post(
        f"/drafts/{draft.pk}/regenerate/", {"version": 1, "instruction": "shorter"}, headers=HTMX
    )
    draft_step = StepRun.objects.get(run_id=draft.run_id, name="draft")
    engine.execute(draft_step.pk, dispatch=lambda step_run_id: None)  # the worker's part

    newer = Draft.objects.get(run_id=draft.run_id, status=Draft.Status.PENDING)
    assert newer.pk != draft.pk
    assert newer.revisions.get().instruction == "shorter"
    gate = StepRun.objects.get(run_id=draft.run_id, name="gate")
    assert gate.status == StepRun.Status.WAITING and gate.output["draft_id"] == newer.pk
    html = text(client_alice.get(f"/drafts/{draft.pk}/", headers=FROM_QUEUE))
    assert f'id="draft-{newer.pk}"' in html  # the waiting panel now shows the new draft
    assert row_ids(text(client_alice.get("/"))) == [newer.pk]
    response = client_alice.post(f"/drafts/{newer.pk}/approve/", {"version": 1}, headers=HTMX)
    assert response.status_code == 200
    assert StepRun.objects.get(run_id=draft.run_id, name="send").status == StepRun.Status.QUEUED


def test_a_reviewers_rejection_reads_as_rejected_by_them_with_steps_in_sales_words(client):
    dana = make_reviewer("dana")
    client.force_login(dana)
    draft = make_waiting_draft()
    actions.reject_draft(draft, by=dana, version=1, reason="Not a fit for us")
    html = text(client.get(f"/runs/{draft.run_id}/"))
    assert '<span class="badge rejected">rejected by dana</span>' in html
    assert '<span class="badge failed">' not in html
    assert "Final score and decision" in html and "Save to the CRM" in html
    visible = re.sub(r'(data-step|value)="[^"]*"', "", html)
    assert "score_final" not in visible and "crm_write" not in visible
    panel = text(client.get(f"/drafts/{draft.pk}/", headers={"HX-Request": "true"}))
    assert "rejected by dana" in panel


def test_the_lead_page_tells_the_whole_story_without_claim_noise(client_alice, alice):
    from pipeline.models import Lead, OutboundEmail

    draft = make_waiting_draft()
    lead = draft.lead
    Lead.objects.filter(pk=lead.pk).update(
        crm_url="/admin/pipeline/contact/5/change/", crm_external_id="5"
    )
    automatic = make_waiting_draft(lead=lead)
    assert actions.auto_approve_draft(automatic.pk, run_id=automatic.run_id).status == "done"
    actions.claim_draft(draft, by=alice)
    actions.approve_draft(draft, by=alice, version=1)
    OutboundEmail.objects.create(
        lead=lead,
        run=draft.run,
        draft=draft,
        to_email=lead.email,
        from_email="Sam <sam@acme.example>",
        subject="Your demo request",
        body="Hi,\n\nTuesday at 10:00?\n\nSam",
        state=OutboundEmail.State.SENT,
        sent_at=timezone.now(),
    )
    html = text(client_alice.get(f"/leads/{lead.pk}/"))
    assert (
        '<a href="/admin/pipeline/contact/5/change/" rel="noopener noreferrer" id="crm-link">'
        in html
    )
    assert '<span class="badge sent">sent</span> <strong>Your demo request</strong>' in html
    assert "Tuesday at 10:00?" in html
    assert '<strong>Automatic</strong> <span class="badge">approved</span>' in html
    assert '<strong>alice</strong> <span class="badge">approved</span>' in html
    assert "claim" not in re.sub(r"claim-notice", "", html).lower()


def test_bulk_reject_without_javascript_asks_for_confirmation_first(client_alice):
    first, second = make_waiting_draft(), make_waiting_draft()
    form = {
        "drafts": [f"{first.pk}.1", f"{second.pk}.1"],
        "action": "reject",
        "reason_choice": "Spam or a bot",
    }
    response = client_alice.post("/drafts/bulk/", form)
    assert response.status_code == 200
    assert "Reject 2 drafts?" in text(response)
    assert Draft.objects.filter(status="rejected").count() == 0
    response = client_alice.post("/drafts/bulk/", {**form, "confirmed": "on"})
    assert response.status_code == 302
    assert Draft.objects.filter(status="rejected").count() == 2


@pytest.mark.parametrize("value", ["².1", "1.²", "9" * 30 + ".1", ".1", "x"])
def test_bulk_with_an_unreadable_draft_says_so_and_changes_nothing(client_alice, value):
    draft = make_waiting_draft()
    response = client_alice.post(
        "/drafts/bulk/",
        {"drafts": [f"{draft.pk}.1", value], "action": "reject", "reason_choice": "Spam or a bot"},
        headers=HTMX,
    )
    assert response.status_code == 422
    assert "A selected draft could not be read; reload the page." in text(response)
    assert Draft.objects.get(pk=draft.pk).status == "pending"


def test_bulk_reject_skips_a_draft_a_colleague_changed_meanwhile(client_alice, alice):
    fresh, changed = make_waiting_draft(), make_waiting_draft()
    actions.edit_draft(changed, by=alice, version=1, subject="New", body="New text")
    response = client_alice.post(
        "/drafts/bulk/",
        {
            "drafts": [f"{fresh.pk}.1", f"{changed.pk}.1"],
            "action": "reject",
            "reason_choice": "Not a fit for us",
        },
        headers=HTMX,
    )
    assert "Rejected 1 draft. 1 skipped" in text(response)
    assert Draft.objects.get(pk=changed.pk).status == "pending"


def test_a_snoozed_draft_is_out_of_the_queue_and_the_counts_until_its_time(client_alice, alice):
    draft = make_waiting_draft()
    result = actions.snooze_draft(draft, by=alice, until=timezone.now() + timedelta(hours=1))
    assert result.status == "done"
    html = text(client_alice.get("/"))
    assert row_ids(html) == []
    assert "Spam (0)" in html and "High intent (0)" in html
    Draft.objects.filter(pk=draft.pk).update(snoozed_until=timezone.now() - timedelta(minutes=1))
    html = text(client_alice.get("/"))
    assert row_ids(html) == [draft.pk]
    assert "High intent (1)" in html


def test_regenerate_says_when_the_rules_strategy_cannot_follow_the_instruction(
    client_alice, settings
):
    settings.ANTHROPIC_API_KEY = ""
    draft = make_waiting_draft()
    response = client_alice.post(
        f"/drafts/{draft.pk}/regenerate/",
        {"version": 1, "instruction": "shorter, in Portuguese"},
        headers=HTMX,
    )
    html = text(response)
    assert "Writing a new draft" in html
    assert "cannot follow “shorter, in Portuguese”" in html
    assert "ANTHROPIC_API_KEY is not set" in html


def test_ill_write_it_myself_assigns_the_reply_to_me_with_a_due_time(client_alice, alice):
    draft = make_waiting_draft()
    response = client_alice.post(
        f"/drafts/{draft.pk}/reject/",
        {"version": 1, "reason_choice": "I will write this reply myself"},
        headers=HTMX,
    )
    assert "Yours to answer" in text(response)
    draft.refresh_from_db()
    assert (draft.status, draft.assigned_to) == ("rejected", alice)
    hours = (draft.reply_due_at - timezone.now()).total_seconds() / 3600
    assert 23 < hours <= 24
    html = text(client_alice.get("/"))
    assert "Replies you owe" in html and f'id="owed-{draft.pk}"' in html
    client_alice.post(f"/drafts/{draft.pk}/replied/")
    assert "Replies you owe" not in text(client_alice.get("/"))
    assert ReviewAction.objects.filter(draft=draft, action="replied").count() == 1
