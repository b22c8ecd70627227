"""One row of a lead file through intake: shared by import_leads and process_leads."""

from __future__ import annotations

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


def receive_row(
    data: Mapping[str, Any],
    *,
    channel: str,
    mapping: Mapping[str, str],
    source: WebhookSource | None = None,
    inline: bool = False,
    run_options: dict | None = None,
) -> tuple[Receipt, PipelineRun | None]:
    """Store the row as a submission and start its run: queued, or here with inline=True."""
    mapped = apply_field_mapping(data, mapping)
    # Empty cells of columns we do not know are noise, not custom fields.
    custom = {key: value for key, value in mapped.custom_fields.items() if value not in ("", None)}
    receipt = receive_submission(
        mapped.fields,
        custom_fields=custom,
        raw_payload=dict(data),
        channel=channel,
        source=source,
        start_run=not inline,
        run_options=run_options,
    )
    if not inline:
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
