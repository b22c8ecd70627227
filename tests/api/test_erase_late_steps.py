"""A step that is running when its lead is erased finishes afterwards, into its cancelled run:
what it then records and writes (its output, its error, a draft, a CRM record) is erased too."""

import json
import threading

import pytest

from pipeline import engine
from pipeline.erase import ERASED, erase_person
from pipeline.models import Draft, Lead, PipelineRun, ReviewAction, StepRun
from tests.engine.test_engine_cancel import held_run
from tests.engine_pipelines import Hold
from tests.factories import make_lead
from tests.races import in_thread, wait_until_blocked

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "dana.scully@xfiles.example"


def person():
    return make_lead(name="Dana Scully", email=EMAIL, company="X-Files Unit")


def test_a_step_finishing_after_the_erase_keeps_nothing_of_the_person():
    with held_run(person(), then="draft") as run:
        erase_person(EMAIL)
        assert PipelineRun.objects.get(pk=run.pk).status == PipelineRun.Status.CANCELLED
    held = StepRun.objects.get(run=run, name="held")
    assert held.status == StepRun.Status.SUCCEEDED  # it finished, into the cancelled run
    assert "Scully" not in json.dumps(held.output) and EMAIL not in json.dumps(held.output)
    draft = Draft.objects.get(run=run)
    assert (draft.subject, draft.body) == (ERASED, "")
    assert StepRun.objects.get(run=run, name="after").status == StepRun.Status.SKIPPED
    # The erase's own audit entry is kept as it was written.
    audit = ReviewAction.objects.get(lead=run.lead, action="erased")
    assert audit.detail["at"] and audit.detail["external_crms"] is True


def test_a_step_failing_after_the_erase_keeps_no_error_quoting_the_person():
    with held_run(person(), then="fail_quoting") as run:
        erase_person(EMAIL)
    held = StepRun.objects.get(run=run, name="held")
    assert held.status == StepRun.Status.FAILED
    assert (held.error, held.traceback) == ("", "")


def test_a_step_finishing_while_the_erase_is_under_way_waits_for_it_then_is_erased(monkeypatch):
    """The erase holds the runs' locks while it scrubs: a step finishing at that moment records
    its outcome after the erase (and erases it), never in between where neither would see it."""
    from pipeline import erase

    inside, go = threading.Event(), threading.Event()
    lock = erase._lock_drafts_and_runs

    def lock_then_pause(lead_ids):
        lock(lead_ids)
        inside.set()
        assert go.wait(timeout=20), "the test never let the erase go on"

    monkeypatch.setattr(erase, "_lock_drafts_and_runs", lock_then_pause)
    errors: list[BaseException] = []
    with held_run(person(), then="draft") as run:
        eraser = in_thread(lambda: erase_person(EMAIL), errors)
        eraser.start()
        assert inside.wait(timeout=20), "the erase never took the runs' locks"
        Hold.release.set()  # the step writes its draft and finishes: it must wait
        wait_until_blocked()
        go.set()
        eraser.join(timeout=30)
    assert not errors, errors
    held = StepRun.objects.get(run=run, name="held")
    assert held.status == StepRun.Status.SUCCEEDED
    assert "Scully" not in json.dumps(held.output)
    draft = Draft.objects.get(run=run)
    assert (draft.subject, draft.body) == (ERASED, "")


def test_a_step_of_a_run_cancelled_for_another_reason_keeps_its_output():
    with held_run(person(), then="draft") as run:
        engine.cancel(run, "a reviewer stopped it")
    held = StepRun.objects.get(run=run, name="held")
    assert held.output["to"] == EMAIL
    assert Draft.objects.get(run=run).body == "Dear Dana Scully,"


def late_crm_write(monkeypatch, hubspot) -> tuple[PipelineRun, int]:
    """The step checked the lead was not erased, then the erase ran (nothing in HubSpot to
    delete yet) while HubSpot was still answering the write; returns the run and its step."""
    from pipeline.integrations.crm.hubspot import HubSpotCRM

    upsert = HubSpotCRM.upsert

    def slow_upsert(self, contact, **options):
        Hold.started.set()
        assert Hold.release.wait(timeout=20), "the test never released the write"
        return upsert(self, contact, **options)

    monkeypatch.setattr(HubSpotCRM, "upsert", slow_upsert)
    Hold.reset()
    run = engine.start("test-crm-write", lead=person(), dispatch=lambda _: None)
    step_id = run.steps.get().pk
    errors: list[BaseException] = []
    worker = in_thread(lambda: engine.continue_inline(lambda dispatch: dispatch(step_id)), errors)
    worker.start()
    assert Hold.started.wait(timeout=10)
    erase_person(EMAIL)
    assert hubspot.contacts == {}  # not written yet
    Hold.release.set()
    worker.join(timeout=30)
    assert not errors, errors
    return run, step_id


def test_a_crm_write_that_lands_after_the_erase_is_deleted_from_the_crm_again(hubspot, monkeypatch):
    run, step_id = late_crm_write(monkeypatch, hubspot)

    written = StepRun.objects.get(pk=step_id)
    assert written.status == StepRun.Status.SUCCEEDED and written.output["adapter"] == "hubspot"
    assert hubspot.contacts == {}
    deletes = [r for r in hubspot.requests if r["path"].endswith("/gdpr-delete")]
    assert len(deletes) == 1
    late = ReviewAction.objects.filter(lead=run.lead, action="erased").order_by("pk").last()
    assert late.detail["late_step_run_id"] == step_id
    assert late.detail["crm"] == [
        {"adapter": "hubspot", "external_id": deletes[0]["json"]["objectId"], "deleted": True}
    ]
    assert late.detail["crm_failed"] == ""


def test_a_late_crm_write_whose_deletion_fails_is_still_scrubbed_and_says_why(hubspot, monkeypatch):
    from pipeline.integrations import crm

    delete = crm.delete_from_crms

    def broken(lead):  # the erase itself deletes fine (nothing written yet); the late delete breaks
        if lead.crm_external_id:
            raise RuntimeError("the CRM client broke")
        return delete(lead)

    monkeypatch.setattr(crm, "delete_from_crms", broken)
    run, step_id = late_crm_write(monkeypatch, hubspot)

    assert EMAIL not in json.dumps(StepRun.objects.get(pk=step_id).output)
    late = ReviewAction.objects.filter(lead=run.lead, action="erased").order_by("pk").last()
    assert (late.detail["late_step_run_id"], late.detail["crm_failed"]) == (step_id, "RuntimeError")
    assert Lead.objects.get(pk=run.lead_id).crm_external_id  # erasing again finds it
