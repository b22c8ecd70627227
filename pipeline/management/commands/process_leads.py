"""Run leads from a JSONL file through the pipeline and print one result per input line."""

import contextlib
import json
import logging
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from pipeline import engine
from pipeline.intake.batch import JSONL, read_rows
from pipeline.intake.errors import IntakeError
from pipeline.intake.rows import StoredNotRun, describe_error, parse_column_map, receive_row
from pipeline.models import PipelineRun, Submission
from pipeline.pipelines import CLASSIFY, DRAFT, SCORE_FINAL

logger = logging.getLogger(__name__)

RESULT_STEPS = (CLASSIFY, SCORE_FINAL, DRAFT)


class Command(BaseCommand):
    help = (
        "Process each line of a JSONL file (name, email, company, website, phone, message, an "
        "optional id and any extra fields) through the lead pipeline; print one result a line, "
        "in input order."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--inline",
            action="store_true",
            help="Run the pipeline here and wait for each result (else queue the runs).",
        )
        parser.add_argument("--json", action="store_true", help="One JSON object per line.")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Send nothing and write no outside CRM (the built-in contact store is written).",
        )
        parser.add_argument("--map", action="append", default=[], metavar="FIELD=OURS")

    def handle(self, *args, **options):
        try:
            mapping = parse_column_map(options["map"])
            rows = read_rows(options["file"], file_format=JSONL)
        except (OSError, ValueError) as error:
            raise CommandError(str(error)) from None
        run_options = {"dry_run": True} if options["dry_run"] else None
        with rows:
            self._process_rows(rows, mapping, options, run_options)

    def _process_rows(self, rows, mapping, options, run_options) -> None:
        for row in rows:
            data = dict(row.data)
            input_id = data.pop("id", None)
            if row.error:
                result = error_result(input_id, f"line {row.line}: {row.error}")
            else:
                # Whatever the pipeline prints (the console email backend in development)
                # goes to stderr: stdout carries only our results, one per line.
                with contextlib.redirect_stdout(getattr(self.stderr, "_out", sys.stderr)):
                    result = self._process(data, input_id, mapping, options["inline"], run_options)
            if options["json"]:
                self.stdout.write(json.dumps(result, ensure_ascii=False))
            else:
                self.stdout.write(human_line(row.line, result))

    def _process(self, data, input_id, mapping, inline, run_options) -> dict:
        try:
            receipt, run = receive_row(
                data,
                channel=Submission.Channel.CLI,
                mapping=mapping,
                inline=inline,
                run_options=run_options,
            )
        except IntakeError as error:
            return error_result(input_id, describe_error(error))
        except StoredNotRun as stored:
            return {**run_result(input_id, stored.receipt.lead_id, None), "error": str(stored)}
        except Exception as error:  # report the line and go on with the next
            logger.exception("process_leads.line_failed")
            return error_result(input_id, f"internal error ({type(error).__name__}); see the log")
        return run_result(input_id, receipt.lead_id, run)


def run_result(input_id, lead_id: int, run: PipelineRun | None) -> dict:
    """The command's output for one line, read from the run's stored step outputs."""
    outputs = engine.step_outputs(run, RESULT_STEPS) if run else {}
    classified = outputs.get(CLASSIFY)
    scored = outputs.get(SCORE_FINAL)
    draft = outputs.get(DRAFT)
    decision = (scored or {}).get("decision") or {}
    return {
        "input_id": input_id,
        "lead_id": lead_id,
        "run_id": run.pk if run else None,
        "status": run.status if run else "stored",
        "classification": {
            "label": classified.get("label"),
            "confidence": classified.get("confidence"),
            "flags": classified.get("flags", []),
        }
        if classified
        else None,
        "score": {
            "value": scored["score"]["value"],
            "explanation": scored["score"].get("explanation", ""),
        }
        if scored
        else None,
        "decision": (run.decision if run else "") or decision.get("action"),
        "decision_reason": (run.decision_reason if run else "") or decision.get("reason"),
        "draft": {"subject": draft.get("subject"), "body": draft.get("body")} if draft else None,
        "error": run.error if run and run.error else None,
    }


def error_result(input_id, message: str) -> dict:
    return {
        "input_id": input_id,
        "lead_id": None,
        "run_id": None,
        "status": "error",
        "classification": None,
        "score": None,
        "decision": None,
        "decision_reason": None,
        "draft": None,
        "error": message,
    }


def human_line(line: int, result: dict) -> str:
    if result["status"] == "error":
        return f"line {line}: error: {result['error']}"
    parts = [f"line {line}: lead {result['lead_id']} run {result['run_id']} {result['status']}"]
    if result["classification"]:
        classified = result["classification"]
        parts.append(f"{classified['label']} ({classified['confidence']:.2f})")
    if result["score"]:
        parts.append(f"score {result['score']['value']}")
    if result["decision"]:
        parts.append(result["decision"])
    return " | ".join(parts)
