"""Log records as one JSON object per line (LOG_FORMAT=json), with the run and step they concern.

The engine binds the run and step it executes (`bind`), so everything logged while a step runs,
by the agents, the LLM layer or an integration, carries `run_id`, `step_run_id` and `step`
without passing them around. Keyword fields a module passes as `extra` become JSON keys too.

Lead data stays out of INFO and below: e-mail addresses in a message are replaced by `[email]`
whatever logged them (the stdlib formatter gets the same filter), and lead text is never passed
to a logger in the first place (STYLE.md: log ids and timings).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from contextlib import contextmanager
from datetime import UTC, datetime

_bound: contextvars.ContextVar[dict | None] = contextvars.ContextVar("leadops_log", default=None)

EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
# Attributes every LogRecord has; anything else on a record came from `extra`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


@contextmanager
def bind(**fields):
    """Attach these fields (run_id, step_run_id, step) to every record logged inside."""
    token = _bound.set({**(_bound.get() or {}), **fields})
    try:
        yield
    finally:
        _bound.reset(token)


class ContextFilter(logging.Filter):
    """Copies the bound fields onto the record and hides e-mail addresses at INFO and below."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_bound.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        if record.levelno <= logging.INFO:
            message = record.getMessage()
            redacted = EMAIL.sub("[email]", message)
            if redacted != message:
                record.msg, record.args = redacted, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def logging_config(*, log_format: str, level: str) -> dict:
    """The LOGGING setting: our loggers at `level`, everything else at WARNING."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {
            "line": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "json": {"()": JsonFormatter},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if log_format == "json" else "line",
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": "WARNING"},
        "loggers": {
            "pipeline": {"level": level},
            "review": {"level": level},
            "leadops": {"level": level},
            "django_q": {"level": "WARNING"},
        },
    }
