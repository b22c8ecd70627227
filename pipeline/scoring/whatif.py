"""What-if: the last N decided leads re-scored with an unsaved configuration. No writes.

Reads each run's stored classification, enrichment and judgements (pipeline.scoring.stored),
scores and decides again in memory, and counts how the decisions would move. Decided as if
auto-send were on (a pause is an operational switch, not part of the configuration).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from pipeline.schemas import Score
from pipeline.scoring.stored import criteria_of, load_stored, redecide, rescore_value

DEFAULT_LEADS = 200
MAX_LEADS = 5000
ACTIONS = ("auto_send", "review", "discard")
ACTION_NAMES = {"auto_send": "Auto-send", "review": "Review", "discard": "Discard"}
MOST_MOVED = 10


@dataclass(frozen=True)
class Moved:
    run_id: int
    lead_id: int
    lead_name: str
    score_before: int | None
    score_after: int
    decision_before: str
    decision_after: str

    @property
    def before_name(self) -> str:
        return ACTION_NAMES[self.decision_before]

    @property
    def after_name(self) -> str:
        return ACTION_NAMES[self.decision_after]

    @property
    def delta(self) -> int:
        return self.score_after - (self.score_before or 0)


@dataclass
class Preview:
    leads: int
    # moves[before][after] = how many leads
    moves: dict[str, dict[str, int]]
    most_moved: list[Moved]
    # [(day, auto-sends before, auto-sends after)], oldest day first
    per_day: list[tuple[object, int, int]] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return sum(
            count
            for before, row in self.moves.items()
            for after, count in row.items()
            if before != after
        )

    def table(self) -> list[tuple[str, str, list[int], int]]:
        """Rows of the 3x3 table: (action, its name, counts per new action, row total)."""
        return [
            (
                before,
                ACTION_NAMES[before],
                [self.moves[before][after] for after in ACTIONS],
                sum(self.moves[before].values()),
            )
            for before in ACTIONS
        ]


def recent_decided_runs(limit: int):
    """The ids of the last `limit` decided runs, as a subquery (5,000 bound ids cost more)."""
    from pipeline.models import PipelineRun

    limit = max(1, min(MAX_LEADS, limit))
    decided = PipelineRun.objects.filter(decision__in=ACTIONS).order_by("-created_at", "-pk")
    return decided.values("pk")[:limit]


def _score(value: int) -> Score:
    return Score.model_construct(value=value, criteria=[], stage="final")


def preview(config, *, limit: int = DEFAULT_LEADS) -> Preview:
    """`config` may be an unsaved ScoringConfig: nothing is written."""
    stored = load_stored(recent_decided_runs(limit))
    criteria = criteria_of(config)
    moves = {before: dict.fromkeys(ACTIONS, 0) for before in ACTIONS}
    moved: list[Moved] = []
    before_per_day: Counter = Counter()
    after_per_day: Counter = Counter()
    for lead in stored.values():
        value = rescore_value(criteria, lead)
        decision = redecide(config, lead, _score(value), auto_send_paused=False)
        before = lead.decision if lead.decision in ACTIONS else "review"
        moves[before][decision.action] += 1
        day = lead.created_at.date()
        before_per_day[day] += before == "auto_send"
        after_per_day[day] += decision.action == "auto_send"
        if before != decision.action or value != lead.score:
            moved.append(
                Moved(
                    run_id=lead.run_id,
                    lead_id=lead.lead_id,
                    lead_name=lead.lead_name,
                    score_before=lead.score,
                    score_after=value,
                    decision_before=before,
                    decision_after=decision.action,
                )
            )
    moved.sort(key=lambda m: (m.decision_before == m.decision_after, -abs(m.delta), m.run_id))
    days = sorted(set(before_per_day) | set(after_per_day))
    return Preview(
        leads=len(stored),
        moves=moves,
        most_moved=moved[:MOST_MOVED],
        per_day=[(day, before_per_day[day], after_per_day[day]) for day in days],
    )
