"""The engine's log lines: one line per transition, with ids and timings, never lead text."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("pipeline.engine")


def log(event: str, *, level: int = logging.INFO, **fields: Any) -> None:
    if not logger.isEnabledFor(level):
        return
    details = " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)
    # The fields also travel as record attributes: LOG_FORMAT=json writes them as keys.
    logger.log(level, "%s %s", event, details, extra={"event": event, **fields})
