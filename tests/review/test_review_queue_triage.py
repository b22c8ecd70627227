"""The queue's triage aids, through the test client: flag counts and filter, the review SLA on
each row, and Undo on a page that works without JavaScript."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from pipeline.models import Draft, Submission
from review import preferences
from tests.factories import make_reviewer, make_waiting_draft

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(client):
    user = make_reviewer("alice")
    client.force_login(user)
    return user


def text(response) -> str:
    return response.content.decode()


def row_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr id="draft-row-(\d+)"', html)]


def options(html: str, select_id: str) -> list[str]:
    select = re.search(rf'<select[^>]*id="{select_id}".*?</select>', html, re.S).group(0)
    return [
        re.sub(r"\s+", " ", label).strip() for label in re.findall(r">([^<]*)</option>", select)
    ]


# Past the SLA on any day: ten days hold at least six working days.
LATE = timedelta(days=10)


def arrived_ago(draft: Draft, delta: timedelta) -> None:
    """The lead arrived and its draft has waited in review since `delta` ago.

    The SLA counts working time (Mon-Fri 9-17), so a row meant to be past it waits ten days:
    past two working hours whatever the day the test runs; one meant to be within it waits less
    than two hours of any time.
    """
    moment = timezone.now() - delta
    Submission.objects.filter(pk=draft.run.submission_id).update(received_at=moment)
    Draft.objects.filter(pk=draft.pk).update(created_at=moment)


# --- Flags ------------------------------------------------------------------------------------


def test_the_flag_filter_counts_each_flag_and_shows_only_drafts_carrying_it(client, alice):
    both = make_waiting_draft(flags=["free_email", "link_spam"])
    free = make_waiting_draft(flags=["free_email"])
    plain = make_waiting_draft()
    make_waiting_draft(flags=["free_email"], status=Draft.Status.REJECTED)  # not waiting

    html = text(client.get("/"))
    assert options(html, "id_flag") == ["Any flag", "Free email (2)", "Link spam (1)"]
    assert sorted(row_ids(html)) == sorted([both.pk, free.pk, plain.pk])

    assert sorted(row_ids(text(client.get("/?flag=free_email")))) == sorted([both.pk, free.pk])
    html = text(client.get("/?flag=link_spam"))
    assert row_ids(html) == [both.pk]
    assert "1 pending draft matches these filters" in html


def test_a_chosen_flag_stays_in_the_list_when_no_draft_carries_it_any_more(client, alice):
    make_waiting_draft(flags=["free_email"])
    html = text(client.get("/?flag=injection"))
    assert options(html, "id_flag") == ["Any flag", "Injection (0)", "Free email (1)"]
    assert row_ids(html) == []
    assert "No draft matches these filters" in html


def test_an_unknown_flag_filters_nothing(client, alice):
    draft = make_waiting_draft(flags=["free_email"])
    assert row_ids(text(client.get("/?flag=nonsense"))) == [draft.pk]


def test_a_saved_filter_keeps_the_flag(client, alice):
    make_waiting_draft(flags=["link_spam"])
    client.post("/filters/save/", {"name": "Spammy links", "query": "flag=link_spam&page=3"})
    assert [saved["query"] for saved in preferences.ReviewerSettings.of(alice).saved_filters] == [
        "flag=link_spam"
    ]


# --- SLA --------------------------------------------------------------------------------------


def test_a_row_waiting_longer_than_the_sla_is_marked_in_words_and_colour(client, alice, settings):
    settings.REVIEW_SLA_WORKING_MINUTES = 120
    late = make_waiting_draft(score=90)
    fresh = make_waiting_draft(score=80)
    arrived_ago(late, LATE)
    arrived_ago(fresh, timedelta(minutes=100))

    html = text(client.get("/"))
    late_row = re.search(rf'<tr id="draft-row-{late.pk}".*?</tr>', html, re.S).group(0)
    fresh_row = re.search(rf'<tr id="draft-row-{fresh.pk}".*?</tr>', html, re.S).group(0)
    assert 'class="draft-row past-sla"' in late_row
    assert "over SLA" in late_row and "waiting longer than 2 h of working time" in late_row
    assert "past-sla" not in fresh_row and "over SLA" not in fresh_row


def test_the_sla_is_a_setting(client, alice, settings):
    draft = make_waiting_draft()
    arrived_ago(draft, LATE)
    # Ten calendar days hold at most eight working days of eight hours: 3,840 minutes.
    settings.REVIEW_SLA_WORKING_MINUTES = 4000
    assert "over SLA" not in text(client.get("/"))
    settings.REVIEW_SLA_WORKING_MINUTES = 90
    assert "waiting longer than 1 h 30 min of working time" in text(client.get("/"))


def test_a_row_updated_after_an_action_keeps_its_sla_mark(client, alice, settings):
    settings.REVIEW_SLA_WORKING_MINUTES = 120
    draft = make_waiting_draft()
    arrived_ago(draft, LATE)
    response = client.post(
        f"/drafts/{draft.pk}/reassign/",
        {"to": alice.pk},
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/"},
    )
    assert response.status_code == 200
    row = re.search(rf'<tr id="draft-row-{draft.pk}".*?</tr>', text(response), re.S).group(0)
    assert "past-sla" in row and "over SLA" in row


# --- Undo without JavaScript ------------------------------------------------------------------


def undo_forms(html: str) -> list[str]:
    return re.findall(r'<form class="undo-form" method="post" action="([^"]+)"', html)


def test_without_javascript_the_queue_offers_undo_for_my_approval_in_its_window(
    client, alice, settings
):
    settings.REVIEW_UNDO_SECONDS = 30
    draft = make_waiting_draft()
    other = make_waiting_draft()

    response = client.post(f"/drafts/{draft.pk}/approve/", {"version": 1}, follow=True)
    html = text(response)
    assert response.redirect_chain[-1][0] == "/"
    assert "Approved: sending in 30 s (Undo takes it back)." in html
    assert undo_forms(html) == [f"/drafts/{draft.pk}/undo/"]
    assert "Approved the reply to" in html
    assert row_ids(html) == [other.pk]

    # A colleague's queue does not offer to undo Alice's approval.
    colleague = make_reviewer("bob")
    client.force_login(colleague)
    assert undo_forms(text(client.get("/"))) == []

    client.force_login(alice)
    response = client.post(f"/drafts/{draft.pk}/undo/", follow=True)
    html = text(response)
    assert "Undone: nothing was sent; the draft waits for review." in html
    assert undo_forms(html) == []
    assert sorted(row_ids(html)) == sorted([draft.pk, other.pk])
    draft.refresh_from_db()
    assert draft.status == Draft.Status.PENDING


def test_once_the_window_is_over_the_queue_no_longer_offers_undo(client, alice, settings):
    settings.REVIEW_UNDO_SECONDS = 30
    draft = make_waiting_draft()
    client.post(f"/drafts/{draft.pk}/approve/", {"version": 1})
    Draft.objects.filter(pk=draft.pk).update(send_at=timezone.now() - timedelta(seconds=1))
    assert undo_forms(text(client.get("/"))) == []
