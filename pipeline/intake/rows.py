"""One row of a lead file through intake: shared by import_leads and process_leads."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from pipeline import engine
from pipeline.intake.errors import IntakeError
from pipeline.intake.normalize import apply_field_mapping
from pipeline.intake.receive import Receipt, receive_submission, record_run
from pipeline.models import PipelineRun, Submission, WebhookSource
from pipeline.pipelines import LEAD

logger = logging.getLogger(__name__)


def parse_column_map(items: list[str]) -> dict[str, str]:
    """--map "Sender column=email" options as a field mapping; ValueError when malformed."""
    mapping = {}
    for item in items or []:
        column, separator, ours = item.rpartition("=")
        if not separator or not column.strip():
            raise ValueError(f"--map {item!r}: write COLUMN=FIELD, e.g. 'E-mail address=email'")
        mapping[column.strip()] = ours.strip()
    return mapping


def row_key(data: Mapping[str, Any], mapping: Mapping[str, str]) -> str:
    """The key of a row read under `mapping`: the same row imported again is found by it."""
    content = json.dumps([dict(data), dict(mapping)], sort_keys=True, ensure_ascii=False)
    return "import:" + hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()


def receive_row(
    data: Mapping[str, Any],
    *,
    channel: str,
    mapping: Mapping[str, str],
    source: WebhookSource | None = None,
    inline: bool = False,
    run_options: dict | None = None,
    once: bool = False,
) -> tuple[Receipt, PipelineRun | None]:
    """Store the row as a submission and start its run: queued, or here with inline=True.

    With once=True a row stored before (the same values under the same mapping, from the same
    source) is not stored again: its receipt says is_replay, and nothing runs."""
    key = row_key(data, mapping) if once else ""
    if key:
        earlier = Submission.objects.filter(source=source, sender_key=key).first()
        if earlier is not None:
            return _imported_before(earlier), None
    mapped = apply_field_mapping(data, mapping)
    # Empty cells of columns we do not know are noise, not custom fields.
    custom = {key: value for key, value in mapped.custom_fields.items() if value not in ("", None)}
    receipt = receive_submission(
        mapped.fields,
        custom_fields=custom,
        raw_payload=dict(data),
        channel=channel,
        source=source,
        # Looked up above, and before storing again (the delivery id's unique constraint does
        # not hold without a source): a row the same import gives twice at once is stored once.
        sender_key=key,
        start_run=not inline,
        run_options=run_options,
    )
    if not inline or receipt.is_replay:  # a replay: an import of the same row at this moment
        run = PipelineRun.objects.filter(pk=receipt.run_id).first() if receipt.run_id else None
        return receipt, run
    submission = Submission.objects.select_related("lead").get(pk=receipt.submission_id)
    try:
        run = engine.run_inline(
            LEAD.name, lead=submission.lead, submission=submission, options=run_options
        )
    except Exception as error:
        logger.exception("intake.inline_run_failed submission_id=%s", submission.pk)
        raise StoredNotRun(_leave_to_the_workers(receipt), error) from error
    return record_run(receipt, run), run


def _imported_before(submission: Submission) -> Receipt:
    """The receipt of a row stored by an earlier import, left as it is: its run (or, when that
    could not be started then, the sweep's start_pending_runs) is not this import's to make."""
    answer = submission.response or {}
    return Receipt(
        submission_id=submission.pk,
        lead_id=submission.lead_id,
        run_id=answer.get("run_id"),
        duplicate_of=answer.get("duplicate_of"),
        is_trapped=submission.is_trapped,
        is_replay=True,
    )


class StoredNotRun(Exception):
    """The row is stored and its lead made, but running its pipeline here failed: the workers
    run it (its run, when one was made, or a new one)."""

    def __init__(self, receipt: Receipt, error: Exception) -> None:
        super().__init__(
            f"stored as lead {receipt.lead_id}, but running it here failed "
            f"({type(error).__name__}; see the log): the workers run it"
        )
        self.receipt = receipt


def _leave_to_the_workers(receipt: Receipt) -> Receipt:
    """A run made here is noted on the answer (the sweep takes up its steps); without one the
    submission is left unanswered, and the sweep starts its run (start_pending_runs)."""
    run = PipelineRun.objects.filter(submission_id=receipt.submission_id).order_by("pk").first()
    if run is not None:
        return record_run(receipt, run)
    Submission.objects.filter(pk=receipt.submission_id).update(response={})
    return receipt


def describe_error(error: IntakeError) -> str:
    if error.errors:
        return "; ".join(f"{field}: {message}" for field, message in error.errors.items())
    return error.message
