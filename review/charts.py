"""Bar charts as geometry for inline SVG: the template draws rects, no script and no style.

Every bar carries the number it shows and the link to the list behind it; the template puts
the same rows in a table beside the chart, so the chart is never the only way to read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

# Chart boxes in SVG user units; the SVG scales to its container through its viewBox.
WIDTH = 480
COLUMN_HEIGHT = 140
ROW_HEIGHT = 22
LABEL_WIDTH = 130
VALUE_WIDTH = 60
AXIS_HEIGHT = 18


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    display: str
    href: str
    x: float
    y: float
    width: float
    height: float
    # Where the label and the value are written.
    label_x: float
    label_y: float
    value_x: float
    value_y: float
    css: str = ""


@dataclass
class Chart:
    title: str
    kind: str  # "columns" (one per day) or "rows" (one per category)
    width: float
    height: float
    bars: list[Bar] = field(default_factory=list)
    # A horizontal reference line (the daily spend cap) at this y, or None.
    line_y: float | None = None
    line_label: str = ""
    unit: str = ""

    @property
    def is_empty(self) -> bool:
        return not any(bar.value for bar in self.bars)


def _number(value) -> float:
    if isinstance(value, Decimal):
        return float(value)
    return float(value or 0)


def rows(
    title: str,
    items: list[tuple[str, float, str, str]],
    *,
    unit: str = "",
    css: str = "",
) -> Chart:
    """Horizontal bars, one per (label, value, display, href), for categories."""
    top = max((_number(value) for _, value, _, _ in items), default=0) or 1
    room = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    bars = []
    for index, (label, value, display, href) in enumerate(items):
        y = index * ROW_HEIGHT
        length = room * _number(value) / top
        bars.append(
            Bar(
                label=label,
                value=_number(value),
                display=display,
                href=href,
                x=LABEL_WIDTH,
                y=y + 3,
                width=round(max(length, 1 if value else 0), 1),
                height=ROW_HEIGHT - 6,
                label_x=LABEL_WIDTH - 6,
                label_y=y + ROW_HEIGHT - 7,
                value_x=round(LABEL_WIDTH + length + 6, 1),
                value_y=y + ROW_HEIGHT - 7,
                css=css,
            )
        )
    return Chart(
        title=title,
        kind="rows",
        width=WIDTH,
        height=max(len(items), 1) * ROW_HEIGHT,
        bars=bars,
        unit=unit,
    )


def columns(
    title: str,
    items: list[tuple[str, float, str, str]],
    *,
    unit: str = "",
    line: float | None = None,
    line_label: str = "",
    css: str = "",
) -> Chart:
    """Vertical bars, one per (label, value, display, href), for days; `line` marks a cap."""
    values = [_number(value) for _, value, _, _ in items]
    reference = _number(line) if line else 0
    top = max([*values, reference], default=0) or 1
    plot = COLUMN_HEIGHT - AXIS_HEIGHT
    slot = WIDTH / max(len(items), 1)
    gap = min(slot * 0.2, 6)
    # Label every day of a week, then fewer so the dates never overlap.
    every = max(1, round(len(items) / 10))
    bars = []
    for index, (label, value, display, href) in enumerate(items):
        height = plot * _number(value) / top
        x = index * slot + gap / 2
        bars.append(
            Bar(
                label=label,
                value=_number(value),
                display=display,
                href=href,
                x=round(x, 1),
                y=round(plot - height, 1),
                width=round(slot - gap, 1),
                height=round(max(height, 1 if value else 0), 1),
                label_x=round(x + (slot - gap) / 2, 1),
                label_y=COLUMN_HEIGHT - 4,
                value_x=round(x + (slot - gap) / 2, 1),
                value_y=round(max(plot - height - 3, 10), 1),
                css=css if index % every == 0 else f"{css} unlabelled".strip(),
            )
        )
    return Chart(
        title=title,
        kind="columns",
        width=WIDTH,
        height=COLUMN_HEIGHT,
        bars=bars,
        line_y=round(plot - plot * reference / top, 1) if reference else None,
        line_label=line_label,
        unit=unit,
    )


# --- The run page's timeline --------------------------------------------------------------------

LANE_HEIGHT = 24
LANE_LABEL_WIDTH = 170  # room for the step's name in words ("Final score and decision")
TIMELINE_AXIS = 20


@dataclass(frozen=True)
class Lane:
    name: str
    status: str
    y: float
    label_y: float
    # The wait between becoming ready and starting (queue, backoff), then the step itself.
    wait_x: float | None
    wait_width: float
    x: float | None
    width: float
    attempts: int
    marker_x: float
    title: str


@dataclass
class Timeline:
    width: float
    height: float
    lanes: list[Lane]
    ticks: list[tuple[float, str]]
    axis_y: float


def _elapsed(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def timeline(run, steps, *, now) -> Timeline:
    """One lane per step on one time axis from the run's creation, so parallel branches overlap.

    A step that is running or waiting (the human gate) reaches `now`; the grey part before a bar
    is the time it spent ready but not started (the queue, a retry's backoff).
    """
    origin = run.created_at
    ends = [origin]
    for step in steps:
        ends += [moment for moment in (step.ready_at, step.started_at, step.finished_at) if moment]
        if step.status in ("running", "waiting"):
            ends.append(now)
    span = max((max(ends) - origin).total_seconds(), 0.001)
    room = WIDTH - LANE_LABEL_WIDTH - 40

    def x_of(moment) -> float:
        return round(LANE_LABEL_WIDTH + room * (moment - origin).total_seconds() / span, 1)

    lanes = []
    for index, step in enumerate(steps):
        y = index * LANE_HEIGHT
        start = step.started_at
        end = step.finished_at or (now if step.status in ("running", "waiting") else None)
        x = width = None
        if start and end:
            x = x_of(start)
            width = max(x_of(end) - x, 2)
        wait_x = wait_width = None
        ready = step.ready_at or step.queued_at
        if ready and start and start > ready:
            wait_x = x_of(ready)
            wait_width = max(x_of(start) - wait_x, 1)
        elif ready and not start:
            wait_x = x_of(ready)
            wait_width = max(x_of(now) - wait_x, 1) if step.status == "queued" else 0
        # The template puts the step's and the state's words in front.
        title = ""
        if step.duration_ms is not None:
            title += f", {_elapsed(step.duration_ms / 1000)}"
        if step.attempt > 1:
            title += f", attempt {step.attempt}"
        marker_x = (x or wait_x or LANE_LABEL_WIDTH) + (width or wait_width or 0) + 4
        lanes.append(
            Lane(
                name=step.name,
                status=step.status,
                y=y + 4,
                label_y=y + LANE_HEIGHT - 8,
                wait_x=wait_x,
                wait_width=round(wait_width or 0, 1),
                x=x,
                width=round(width or 0, 1),
                attempts=step.attempt,
                marker_x=round(marker_x, 1),
                title=title,
            )
        )
    axis_y = len(steps) * LANE_HEIGHT + 12
    ticks = [
        (round(LANE_LABEL_WIDTH + room * part / 4, 1), _elapsed(span * part / 4))
        for part in range(5)
    ]
    return Timeline(
        width=WIDTH, height=axis_y + TIMELINE_AXIS - 8, lanes=lanes, ticks=ticks, axis_y=axis_y
    )
