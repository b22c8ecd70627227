"""Structured logs: JSON lines with run and step ids, and no lead e-mail or message at INFO."""

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from leadops.logs import ContextFilter, JsonFormatter
from pipeline import engine
from pipeline.agents.defaults import DEFAULT_COMPANY_PROFILE, DEFAULT_CRITERIA
from pipeline.models import CompanyProfile, PipelineRun, ScoringConfig
from tests.factories import make_lead, make_submission

EMAIL = "dana.whitfield@northwind-logistics.example"
MESSAGE = (
    "Hi, we're a 120-person logistics company replacing our spreadsheet-based lead tracking "
    "this quarter. Could we get a demo next week and pricing for 15 seats? Budget is approved."
)


@pytest.fixture
def json_lines():
    """Our JSON handler on the `pipeline` logger at INFO, as production configures it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    handler.setLevel(logging.INFO)
    logger = logging.getLogger("pipeline")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.mark.django_db(transaction=True)
def test_a_processed_lead_logs_json_with_run_and_step_ids_and_no_lead_text(json_lines, settings):
    settings.AGENT_STRATEGY = dict.fromkeys(("classify", "enrich", "score", "draft"), "rules")
    CompanyProfile.objects.create(**DEFAULT_COMPANY_PROFILE)
    ScoringConfig.objects.create(
        criteria=DEFAULT_CRITERIA, auto_send_threshold=60, auto_send_labels=["high_intent"]
    )
    lead = make_lead(email=EMAIL, name="Dana Whitfield", company="Northwind Logistics")
    submission = make_submission(lead, message=MESSAGE, email=EMAIL, name="Dana Whitfield")
    run = engine.run_inline("lead", lead=lead, submission=submission)
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error

    lines = json_lines()
    assert lines, "the pipeline logged nothing at INFO"
    finished = [line for line in lines if line.get("event") == "step.succeeded"]
    assert {line["step"] for line in finished} >= {"classify", "score_final", "draft", "send"}
    for line in finished:
        assert line["run_id"] == run.pk and line["level"] == "info"
        assert isinstance(line["step_run_id"], int)
    text = json.dumps(lines)
    assert EMAIL not in text and "dana.whitfield" not in text
    assert "spreadsheet-based" not in text and "Budget is approved" not in text


def test_email_addresses_are_hidden_at_info_but_kept_at_warning():
    records = []
    for level in (logging.INFO, logging.WARNING):
        record = logging.makeLogRecord(
            {
                "name": "pipeline.x",
                "levelno": level,
                "levelname": "X",
                "msg": "to %s",
                "args": (EMAIL,),
            }
        )
        ContextFilter().filter(record)
        records.append(json.loads(JsonFormatter().format(record))["message"])
    assert records == ["to [email]", f"to {EMAIL}"]


def test_log_format_json_configures_the_console_for_json_lines(tmp_path):
    script = (
        "import django, logging; django.setup(); "
        "logging.getLogger('pipeline.demo').info('outbox.sent email=%s', 7, extra={'run_id': 42})"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={
            **os.environ,
            "LOG_FORMAT": "json",
            "DJANGO_SETTINGS_MODULE": "leadops.settings",
            # Production settings refuse to start without a mail server; none is used here.
            "EMAIL_HOST": "127.0.0.1",
            "SECRET_KEY": "x" * 50,
        },
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (line,) = [json.loads(text) for text in result.stderr.splitlines() if text.startswith("{")]
    assert line["message"] == "outbox.sent email=7"
    assert line["run_id"] == 42 and line["logger"] == "pipeline.demo" and line["level"] == "info"
