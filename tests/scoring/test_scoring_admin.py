"""The scoring pages: criteria editing with per-field errors, versions, conflicts, the what-if
preview, calibration, re-scoring what waits, and who may do what."""

import pytest
from django.utils import timezone

from pipeline.agents.defaults import DEFAULT_CRITERIA
from pipeline.models import (
    CompanyProfile,
    Draft,
    OutboundEmail,
    PipelineRun,
    RescoreJob,
    ScoringConfig,
    StepRun,
)
from pipeline.scoring import calibration, whatif
from pipeline.scoring.rescore import confirm_rescore, run_rescore_job, start_rescore
from pipeline.scoring.stored import criteria_of, load_stored, rescore
from tests.factories import make_reviewer, make_waiting_draft

pytestmark = pytest.mark.django_db

GERMANY = {
    "key": "germany",
    "label": "Based in Germany",
    "points": 10,
    "check": "country_in",
    "params": {"values": ["DE"]},
}


@pytest.fixture
def config():
    return ScoringConfig.objects.create(
        criteria=DEFAULT_CRITERIA, auto_send_threshold=75, auto_send_labels=["high_intent"]
    )


@pytest.fixture
def admin_client(client):
    client.force_login(make_reviewer(group="Admins"))
    return client


def criterion_data(criteria: list[dict], **rows) -> dict:
    """The POST body of the criteria form for these criteria; `rows` override fields by name,
    e.g. {"0-points": "x"}."""
    from review.scoring_forms import CriterionForm

    data = {
        "criteria-TOTAL_FORMS": str(len(criteria)),
        "criteria-INITIAL_FORMS": str(len(criteria)),
        "criteria-MIN_NUM_FORMS": "0",
        "criteria-MAX_NUM_FORMS": "1000",
    }
    for index, criterion in enumerate(criteria):
        for name, value in CriterionForm.initial_for(criterion).items():
            data[f"criteria-{index}-{name}"] = "" if value is None else str(value)
        data[f"criteria-{index}-ORDER"] = str(index + 1)
    data.update({f"criteria-{key}": value for key, value in rows.items()})
    return data


def error_after(html: str, field_id: str) -> str:
    start = html.index(f'id="{field_id}"')
    return html[start : html.index("</div>", start)]


# --- Editing criteria -------------------------------------------------------------------------


def test_saving_criteria_makes_a_new_version_with_who_and_the_note(admin_client, config):
    competitor = {
        "key": "",
        "label": "Competitor domain",
        "points": -20,
        "check": "message_mentions",
        "params": {"keywords": ["rivalsoft"]},
    }
    data = criterion_data([GERMANY, competitor], based_on=str(config.version), note="EU focus")
    data["based_on"], data["note"] = str(config.version), "EU focus"
    response = admin_client.post("/scoring/criteria/", data)
    assert response.status_code == 302
    saved = ScoringConfig.current()
    assert saved.version == config.version + 1
    assert saved.note == "EU focus" and saved.created_by.groups.filter(name="Admins").exists()
    assert [c["key"] for c in saved.criteria] == ["germany", "competitor_domain"]
    assert saved.criteria[1]["points"] == -20
    assert saved.auto_send_threshold == 75  # the thresholds were carried over


@pytest.mark.parametrize(
    ("overrides", "field_id", "message"),
    [
        ({"0-label": ""}, "id_criteria-0-label", "This field is required."),
        ({"0-points": "150"}, "id_criteria-0-points", "less than or equal to 100"),
        ({"0-values": ""}, "id_criteria-0-values", "List at least one."),
        ({"0-check": "label_in", "0-values": "hot_lead"}, "id_criteria-0-values", "Unknown label"),
        (
            {"0-check": "employees_between", "0-min": "50", "0-max": "10"},
            "id_criteria-0-max",
            "Must be at least 50.",
        ),
        (
            {"0-check": "employees_between", "0-min": "", "0-max": ""},
            "id_criteria-0-min",
            "Give at least one end",
        ),
        ({"0-check": "judged", "0-question": ""}, "id_criteria-0-question", "Write the rubric"),
        (
            {"0-check": "message_mentions", "0-keywords": " , "},
            "id_criteria-0-keywords",
            "List at least one.",
        ),
    ],
)
def test_a_wrong_field_gets_its_error_beside_it_and_nothing_is_saved(
    admin_client, config, overrides, field_id, message
):
    data = criterion_data([GERMANY], **overrides)
    data["based_on"] = str(config.version)
    response = admin_client.post("/scoring/criteria/", data)
    assert response.status_code == 422
    html = response.content.decode()
    assert message in error_after(html, field_id)
    assert ScoringConfig.current().version == config.version


def test_two_criteria_with_one_name_are_refused(admin_client, config):
    data = criterion_data([GERMANY, {**GERMANY, "key": ""}])
    data["based_on"] = str(config.version)
    response = admin_client.post("/scoring/criteria/", data)
    assert response.status_code == 422
    assert "Another criterion already has this name." in response.content.decode()


def test_removing_and_reordering_criteria(admin_client, config):
    first, second, third = DEFAULT_CRITERIA[:3]
    data = criterion_data([first, second, third])
    data.update({"criteria-0-ORDER": "3", "criteria-2-ORDER": "1", "criteria-1-DELETE": "on"})
    data["based_on"] = str(config.version)
    assert admin_client.post("/scoring/criteria/", data).status_code == 302
    assert [c["key"] for c in ScoringConfig.current().criteria] == [third["key"], first["key"]]


def test_a_judged_criterion_says_the_rules_use_its_phrases(admin_client):
    judged = {
        "key": "fit",
        "label": "Good fit",
        "points": 10,
        "check": "judged",
        "question": "Does the lead run a sales team?",
        "params": {"keywords": ["sales team"]},
    }
    ScoringConfig.objects.create(criteria=[judged])
    html = admin_client.get("/scoring/").content.decode()
    assert "Does the lead run a sales team?</textarea>" in html
    assert 'value="sales team"' in html
    assert "(the rules strategy's keyword fallback)" in html


def test_the_page_shows_the_points_available(admin_client):
    ScoringConfig.objects.create(
        criteria=[GERMANY, {**GERMANY, "key": "rival", "label": "Rival", "points": -30}]
    )
    html = admin_client.get("/scoring/").content.decode()
    assert '<strong id="points-total">10</strong>' in html


# --- Versions ---------------------------------------------------------------------------------


def test_a_second_admin_saving_from_the_same_version_gets_a_conflict(admin_client, config, client):
    data = criterion_data([GERMANY])
    data["based_on"] = str(config.version)
    assert admin_client.post("/scoring/criteria/", data).status_code == 302
    other = make_reviewer("second-admin", group="Admins")
    client.force_login(other)
    late = criterion_data([{**GERMANY, "points": 40}])
    late["based_on"] = str(config.version)
    response = client.post("/scoring/criteria/", late)
    assert response.status_code == 409
    assert f"after you opened version {config.version}" in response.content.decode()
    assert ScoringConfig.objects.count() == 2
    assert ScoringConfig.current().criteria[0]["points"] == 10


def test_the_version_list_says_what_changed_and_restores_an_old_version(admin_client, config):
    changed = [{**c, "points": 30} if c["key"] == "timeline" else c for c in DEFAULT_CRITERIA]
    newer = ScoringConfig.objects.create(
        criteria=changed[1:], auto_send_threshold=80, auto_send_labels=["high_intent"]
    )
    html = admin_client.get("/scoring/?tab=versions").content.decode()
    row = html[html.index(f'id="scoring-version-{newer.version}"') :]
    assert "Auto-send score: 75 → 80" in row
    assert "Changed “Concrete timeline”: points 10 → 30." in row
    assert "Removed “Buying intent” (25 points)." in row

    response = admin_client.post(
        f"/scoring/scoring/versions/{config.version}/restore/", {"based_on": newer.version}
    )
    assert response.status_code == 302
    restored = ScoringConfig.current()
    assert restored.version == newer.version + 1
    assert restored.criteria == config.criteria and restored.auto_send_threshold == 75
    assert restored.note == f"Restored version {config.version}."


def test_restoring_from_a_stale_page_is_a_conflict(admin_client, config):
    ScoringConfig.objects.create(criteria=[GERMANY])
    response = admin_client.post(
        f"/scoring/scoring/versions/{config.version}/restore/", {"based_on": config.version}
    )
    assert response.status_code == 409
    assert ScoringConfig.objects.count() == 2


def test_thresholds_are_saved_as_a_new_version(admin_client, config):
    response = admin_client.post(
        "/scoring/thresholds/",
        {
            "auto_send_threshold": "82",
            "auto_send_min_confidence": "0.9",
            "auto_send_labels": ["high_intent", "low_intent"],
            "review_floor": "20",
            "based_on": str(config.version),
        },
    )
    assert response.status_code == 302
    saved = ScoringConfig.current()
    assert (saved.auto_send_threshold, saved.auto_send_min_confidence, saved.review_floor) == (
        82,
        0.9,
        20,
    )
    assert saved.auto_send_labels == ["high_intent", "low_intent"]
    assert saved.criteria == config.criteria


def test_a_confidence_above_one_is_refused_beside_its_field(admin_client, config):
    response = admin_client.post(
        "/scoring/thresholds/",
        {
            "auto_send_threshold": "80",
            "auto_send_min_confidence": "1.5",
            "review_floor": "0",
            "based_on": str(config.version),
        },
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "less than or equal to 1" in error_after(html, "id_auto_send_min_confidence")


def test_the_company_profile_is_versioned_the_same_way(admin_client):
    first = CompanyProfile.objects.create(
        company_name="Acme",
        what_we_sell="CRM",
        sender_name="Sam",
        signature="Sam",
        facts=["EU hosting"],
    )
    data = {
        "company_name": "Acme",
        "what_we_sell": "CRM",
        "tone": "warm",
        "sender_name": "Sam",
        "signature": "Sam",
        "facts": "EU hosting\nSOC 2 Type II",
        "based_on": str(first.version),
        "note": "certified",
    }
    assert admin_client.post("/scoring/profile/", data).status_code == 302
    assert CompanyProfile.current().facts == ["EU hosting", "SOC 2 Type II"]
    html = admin_client.get("/scoring/?tab=versions").content.decode()
    assert "Fact added: SOC 2 Type II" in html
    stale = admin_client.post("/scoring/profile/", {**data, "tone": "formal"})
    assert stale.status_code == 409


# --- Score arithmetic -------------------------------------------------------------------------


def test_negative_points_take_away_and_missing_enrichment_earns_nothing():
    draft = make_waiting_draft(label="wrong_fit", decision="review")  # wrong fit: not enriched
    stored = load_stored([draft.run_id])[draft.run_id]
    assert stored.profile is None
    criteria = criteria_of(
        ScoringConfig(
            criteria=[
                {
                    "key": "email",
                    "label": "Business email",
                    "points": 30,
                    "check": "business_email",
                },
                GERMANY,
                {
                    "key": "hubspot",
                    "label": "Mentions HubSpot",
                    "points": -20,
                    "check": "message_mentions",
                    "params": {"keywords": ["hubspot"]},
                },
            ]
        )
    )
    score = rescore(criteria, stored)
    # 30 earned, 0 for the unknown country, -20: (30 - 20) / 40 available = 25.
    assert score.value == 25
    assert [r.points for r in score.criteria] == [30, 0, -20]
    assert score.criteria[1].reason == "Country unknown."


# --- What-if ----------------------------------------------------------------------------------


def fixture_leads():
    """Four decided leads: all German companies, per the factory's stored enrichment."""
    moves_up = make_waiting_draft(score=50, decision="review")
    unsure = make_waiting_draft(score=50, confidence=0.7, decision="review")
    spam = make_waiting_draft(label="spam", confidence=0.9, score=5, decision="discard")
    flagged = make_waiting_draft(score=90, flags=["injection"], decision="auto_send")
    return moves_up, unsure, spam, flagged


def test_the_what_if_counts_how_decisions_would_move(config):
    moves_up, unsure, spam, flagged = fixture_leads()
    unsaved = ScoringConfig(
        criteria=[GERMANY], auto_send_threshold=75, auto_send_labels=["high_intent"]
    )
    result = whatif.preview(unsaved, limit=200)
    assert result.leads == 4
    assert result.moves == {
        "auto_send": {"auto_send": 0, "review": 1, "discard": 0},
        "review": {"auto_send": 1, "review": 1, "discard": 0},
        "discard": {"auto_send": 0, "review": 0, "discard": 1},
    }
    assert result.changed == 2
    assert [m.lead_id for m in result.most_moved[:2]] == [moves_up.lead_id, flagged.lead_id]
    today = timezone.now().date()
    assert result.per_day == [(today, 1, 1)]


def test_the_preview_page_shows_the_table_and_writes_nothing(admin_client, config):
    moves_up, unsure, spam, flagged = fixture_leads()
    data = {**criterion_data([GERMANY]), "preview_leads": "3"}  # the newest three
    response = admin_client.post("/scoring/preview/", data, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "What-if on the last 3 decided leads" in html
    auto_row = html[html.index('data-before="auto_send"') :].split("</tr>")[0]
    assert '<td class="num">0</td><td class="num">1</td><td class="num">0</td>' in auto_row
    assert f'href="/leads/{flagged.lead_id}/"' in html
    assert "Auto-send → <strong>Review</strong>" in html
    assert f'href="/leads/{moves_up.lead_id}/"' not in html
    assert ScoringConfig.objects.count() == 1
    assert Draft.objects.get(pk=moves_up.pk).score == 50
    assert not RescoreJob.objects.exists()


def test_the_preview_refuses_more_than_five_thousand_leads(admin_client, config):
    data = {**criterion_data([GERMANY]), "preview_leads": "5001"}
    response = admin_client.post("/scoring/preview/", data, headers={"HX-Request": "true"})
    assert response.status_code == 422


# --- Calibration ------------------------------------------------------------------------------


def rows(score: int, outcome: str, count: int, label: str = "high_intent"):
    return [(score, label, outcome)] * count


def test_calibration_finds_the_lowest_threshold_that_keeps_the_target():
    evidence = (
        rows(95, "unedited", 20)
        + rows(85, "unedited", 18)
        + rows(85, "rejected", 2)
        + rows(55, "rejected", 10)
        + rows(55, "unedited", 50, label="low_intent")
        + rows(30, "waiting", 7)
        + rows(99, "auto_sent", 4)
    )
    result = calibration.calibrate(evidence, auto_send_labels=["high_intent"], target=0.95)
    assert (result.threshold, result.evidence, result.needs_more) == (56, 40, 0)
    assert result.precision == pytest.approx(0.95)
    band = {b.low: b for b in result.bands}
    assert band[50].counts == {
        "unedited": 50,
        "edited": 0,
        "rejected": 10,
        "waiting": 0,
        "auto_sent": 0,
    }
    assert band[90].counts["auto_sent"] == 4 and band[90].high == 100


def test_calibration_with_too_little_evidence_says_how_many_more_it_needs():
    evidence = rows(90, "unedited", 10) + rows(80, "edited", 2) + rows(40, "waiting", 30)
    result = calibration.calibrate(evidence, auto_send_labels=["high_intent"])
    assert result.threshold is None
    assert (result.verdicts, result.needs_more) == (12, calibration.MIN_EVIDENCE - 12)


def test_calibration_counts_missing_verdicts_above_a_promising_threshold():
    evidence = rows(95, "unedited", 25) + rows(50, "rejected", 10)
    result = calibration.calibrate(evidence, auto_send_labels=["high_intent"], target=0.95)
    assert result.threshold is None
    assert (result.evidence, result.needs_more) == (25, 5)


def test_the_calibration_tab_reads_reviewer_outcomes(admin_client, config):
    def scored(draft):
        StepRun.objects.filter(run_id=draft.run_id, name="score_final").update(
            output={
                "score": {"value": draft.score, "criteria_version": config.version},
                "decision": {"action": "review", "reason": "x"},
            }
        )
        return draft

    reviewer = make_reviewer()
    unedited = scored(make_waiting_draft(score=81))
    Draft.objects.filter(pk=unedited.pk).update(status="approved", decided_by=reviewer)
    auto = scored(make_waiting_draft(score=92))
    Draft.objects.filter(pk=auto.pk).update(status="approved")
    rejected = scored(make_waiting_draft(score=84))
    Draft.objects.filter(pk=rejected.pk).update(status="rejected", decided_by=reviewer)
    scored(make_waiting_draft(score=12))
    make_waiting_draft(score=85)  # scored by another version: left out
    found = sorted(calibration.outcome_rows(version=config.version, since=None, until=None))
    assert found == [
        (12, "high_intent", "waiting"),
        (81, "high_intent", "unedited"),
        (84, "high_intent", "rejected"),
        (92, "high_intent", "auto_sent"),
    ]
    html = admin_client.get("/scoring/?tab=calibration").content.decode()
    assert f"needs <strong>{calibration.MIN_EVIDENCE - 2} more reviewed leads</strong>" in html


# --- Re-scoring what waits --------------------------------------------------------------------


def test_rescoring_updates_waiting_drafts_and_holds_new_auto_sends_for_confirmation(config):
    admin = make_reviewer(group="Admins")
    clears = make_waiting_draft(score=50)
    unsure = make_waiting_draft(score=50, confidence=0.7)
    newer = ScoringConfig.objects.create(
        criteria=[GERMANY], auto_send_threshold=75, auto_send_labels=["high_intent"]
    )
    queued: list[int] = []
    job = start_rescore(newer, by=admin, enqueue=queued.append)
    assert queued == [job.pk] and job.total == 2
    run_rescore_job(job.pk)
    job.refresh_from_db()
    assert (job.status, job.done, job.changed) == ("done", 2, 2)
    assert [entry["draft_id"] for entry in job.clears_bar] == [clears.pk]
    clears.refresh_from_db()
    unsure.refresh_from_db()
    assert (clears.score, clears.status, clears.decision) == (100, "pending", "review")
    assert "Waiting for an admin to confirm" in clears.decision_reason
    assert unsure.score == 100 and "confidence 0.70" in unsure.decision_reason
    assert clears.lead.score == 100
    assert not OutboundEmail.objects.exists()

    approved, skipped = confirm_rescore(job, by=admin)
    assert (approved, skipped) == (1, 0)
    clears.refresh_from_db()
    assert clears.status == "approved" and clears.decided_by == admin
    assert StepRun.objects.get(run_id=clears.run_id, name="send").status == "queued"
    assert confirm_rescore(RescoreJob.objects.get(pk=job.pk), by=admin) == (0, 0)


def test_a_draft_edited_after_the_rescore_is_not_sent_on_confirmation(config):
    admin = make_reviewer(group="Admins")
    draft = make_waiting_draft(score=50)
    newer = ScoringConfig.objects.create(criteria=[GERMANY], auto_send_labels=["high_intent"])
    job = start_rescore(newer, by=admin, enqueue=lambda pk: None)
    run_rescore_job(job.pk)
    Draft.objects.filter(pk=draft.pk).update(version=2, body="Edited by a reviewer")
    job.refresh_from_db()
    assert confirm_rescore(job, by=admin) == (0, 1)
    assert Draft.objects.get(pk=draft.pk).status == "pending"


def test_the_rescore_progress_is_shown_while_the_job_runs(admin_client, config):
    make_waiting_draft()
    response = admin_client.post("/scoring/rescore/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    job = RescoreJob.objects.get()
    html = admin_client.get(f"/scoring/rescore/{job.pk}/").content.decode()
    assert 'hx-trigger="every 1s"' in html and "0 of 1" in html
    run_rescore_job(job.pk)
    html = admin_client.get(f"/scoring/rescore/{job.pk}/").content.decode()
    assert "every 1s" not in html and "Re-scored 1 waiting drafts" in html


# --- Permissions ------------------------------------------------------------------------------


def test_reviewers_read_the_page_without_any_save_button(client, config):
    client.force_login(make_reviewer())
    for tab in ("criteria", "thresholds", "profile", "versions", "calibration"):
        html = client.get(f"/scoring/?tab={tab}").content.decode()
        assert "Read only:" in html
        assert "Save as a new version" not in html and "Restore as a new version" not in html


def test_reviewers_get_403_on_every_write(client, config):
    client.force_login(make_reviewer())
    draft = make_waiting_draft()
    job = RescoreJob.objects.create(
        config=config, status="done", clears_bar=[{"draft_id": draft.pk, "version": 1}]
    )
    data = criterion_data([GERMANY])
    data["based_on"] = str(config.version)
    for url in (
        "/scoring/criteria/",
        "/scoring/thresholds/",
        "/scoring/profile/",
        "/scoring/preview/",
        f"/scoring/scoring/versions/{config.version}/restore/",
        "/scoring/rescore/",
        f"/scoring/rescore/{job.pk}/confirm/",
    ):
        assert client.post(url, data).status_code == 403, url
    assert ScoringConfig.objects.count() == 1 and RescoreJob.objects.count() == 1
    assert Draft.objects.get(pk=draft.pk).status == "pending"


def test_anonymous_visitors_are_sent_to_log_in(client):
    assert client.get("/scoring/").status_code == 302
    assert client.post("/scoring/criteria/").status_code == 302


def test_bench_whatif_prints_its_figures_and_leaves_the_database_as_it_was():
    import json
    from io import StringIO

    from django.core.management import call_command

    from pipeline.models import Lead

    out = StringIO()
    call_command("bench_whatif", "--leads", "60", "--repeat", "1", "--json", stdout=out)
    figures = json.loads(out.getvalue())
    assert figures["leads"] == 60 and figures["database"] in ("sqlite", "postgresql")
    assert figures["best_seconds"] > 0 and figures["best_cpu_seconds"] > 0
    assert not Lead.objects.exists() and not PipelineRun.objects.exists()


def test_the_preview_costs_five_queries_whatever_the_number_of_leads(
    config, django_assert_num_queries
):
    from pipeline.scoring.bench import make_decided_leads

    make_decided_leads(30)
    with django_assert_num_queries(5):
        assert whatif.preview(config, limit=200).leads == 30


def test_the_thresholds_tab_previews_its_unsaved_values(admin_client, config):
    make_waiting_draft(score=90, decision="auto_send")
    data = {
        "auto_send_threshold": "75",
        "auto_send_min_confidence": "0.8",
        "review_floor": "0",  # no label ticked: nothing may be auto-sent
        "preview_leads": "200",
    }
    response = admin_client.post("/scoring/preview/", data, headers={"HX-Request": "true"})
    html = response.content.decode()
    auto_row = html[html.index('data-before="auto_send"') :].split("</tr>")[0]
    assert '<td class="num">0</td><td class="num">1</td><td class="num">0</td>' in auto_row
    assert ScoringConfig.current().auto_send_labels == ["high_intent"]


def test_outcomes_reported_through_the_api_show_on_the_calibration_tab(admin_client, config):
    from django.core.cache import cache

    from pipeline.api.tokens import create_token

    cache.clear()  # the API's per-token rate limit counts in the cache

    def scored(draft, version=config.version):
        StepRun.objects.filter(run_id=draft.run_id, name="score_final").update(
            output={
                "score": {"value": draft.score, "criteria_version": version},
                "decision": {"action": "review", "reason": "x"},
            }
        )
        return draft

    won_late = scored(make_waiting_draft(score=81))
    lost = scored(make_waiting_draft(score=84))
    scored(make_waiting_draft(score=12))  # no outcome reported
    other_version = scored(make_waiting_draft(score=85), version=config.version + 100)
    token = create_token(name="CRM sync", scope="read_write")[1]

    def report(draft, outcome):
        response = admin_client.post(
            f"/api/v1/leads/{draft.lead_id}/outcomes",
            {"outcome": outcome, "note": "from the CRM"},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        assert response.status_code == 201, response.content

    report(won_late, "lost")
    report(won_late, "won")  # the latest outcome counts
    report(lost, "lost")
    report(other_version, "won")  # scored by another version: not this calibration's evidence

    html = admin_client.get("/scoring/?tab=calibration").content.decode()
    assert "for 2 of these leads" in html
    band = html[html.index('<tr data-band="80">') :].split("</tr>")[0]
    cells = [cell.split("<")[0] for cell in band.split('<td class="num">')[1:]]
    assert cells == ["1", "0", "1", "0", "50 %"]
    empty = html[html.index('<tr data-band="10">') :].split("</tr>")[0]
    assert empty.endswith('<td class="num">–</td>')


def test_the_calibration_tab_says_when_no_outcome_was_reported(admin_client, config):
    html = admin_client.get("/scoring/?tab=calibration").content.decode()
    assert 'id="calibration-outcomes-empty"' in html and 'calibration-outcomes"' not in html
