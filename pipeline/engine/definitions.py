"""How a pipeline is declared: steps as data, validated when the pipeline is built.

Pipeline("lead", version=1, steps=(
    Step("classify", run=steps.classify),
    Step("enrich", run=steps.enrich, needs=("classify",), when=steps.worth_enriching),
    ...
))
"""

from __future__ import annotations

import graphlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.models.runs import PipelineRun, StepRun


class StepTimeout(Exception):
    """The step ran past its timeout."""


class PipelineDefinitionError(ValueError):
    """A pipeline declaration that cannot run: unknown needs, a cycle, a duplicate name."""


@dataclass(frozen=True)
class Retry:
    """Retry policy: attempts in all (1 = no retry), exponential backoff with jitter."""

    attempts: int = 3
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    jitter: float = 0.25  # +- this fraction of the delay
    retry_on: tuple[type[BaseException], ...] = (Exception,)

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        if attempt >= self.attempts:
            return False
        if getattr(error, "retryable", True) is False:
            return False
        return isinstance(error, self.retry_on)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number `attempt + 1`."""
        base = min(self.backoff_seconds * (2 ** max(attempt - 1, 0)), self.max_backoff_seconds)
        return max(0.0, base * (1 + random.uniform(-self.jitter, self.jitter)))


@dataclass(frozen=True)
class Wait:
    """Returned by a step that waits: for something outside the engine (a reviewer), which
    resumes or rejects it, or with `until`, for a time (a durable timer).

    A timer is stored on the step (wake_at) and woken by the sweep, which completes the step
    with `data` plus the time it woke, exactly once, and continues the run. Cancelling the run
    first skips the step (also when the cancel came while the step was still running), and a
    skipped timer never fires. A time already past completes the step at once.
    """

    reason: str
    data: Mapping[str, Any] = field(default_factory=dict)
    until: datetime | None = None


@dataclass(frozen=True)
class Sleep:
    """A timer step declared as data: `Step("wait_day_2", run=Sleep(after=timedelta(days=2)))`.

    `after`: how long after the step became ready; `until`: a function of the step's context
    giving the time (None: no wait). The step's output is {"slept_until": ..., "woke_at": ...}.
    """

    after: timedelta | None = None
    until: Callable[[StepContext], datetime | None] | None = None
    reason: str = "timer"

    def __post_init__(self) -> None:
        if (self.after is None) == (self.until is None):
            raise PipelineDefinitionError("Sleep takes one of after= or until=")

    def __call__(self, context: StepContext) -> Wait | dict:
        if self.until is not None:
            wake_at = self.until(context)
        else:
            start = context.step_run.ready_at or context.step_run.started_at
            wake_at = start + self.after if start is not None else None
        if wake_at is None:
            return {"slept_until": None}
        return Wait(self.reason, {"slept_until": wake_at.isoformat()}, until=wake_at)


@dataclass(frozen=True)
class StepResult:
    """A step's output plus how it was produced (strategy, model usage)."""

    output: Any
    strategy: str = ""
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: Decimal = Decimal("0")
    llm_latency_ms: int | None = None
    fallback_reason: str = ""

    @classmethod
    def from_agent(cls, agent_result: Any, output: Any = None) -> StepResult:
        """An agent's result (output, strategy, usage, fallback_reason), with its output or another."""
        usage = agent_result.usage
        return cls(
            output=agent_result.output if output is None else output,
            strategy=agent_result.strategy,
            model=usage.model if usage else "",
            input_tokens=usage.input_tokens if usage else 0,
            output_tokens=usage.output_tokens if usage else 0,
            cache_read_tokens=usage.cache_read_tokens if usage else 0,
            cache_write_tokens=usage.cache_write_tokens if usage else 0,
            cost_usd=Decimal(str(usage.cost_usd)) if usage else Decimal("0"),
            llm_latency_ms=usage.latency_ms if usage else None,
            fallback_reason=agent_result.fallback_reason,
        )


@dataclass
class StepContext:
    """What a step function sees: the run (with the related rows its pipeline declared), its
    step, and the outputs of the steps it needs."""

    run: PipelineRun
    step_run: StepRun
    outputs: dict[str, Any]  # need name -> stored JSON output (None when skipped)
    skipped: dict[str, str]  # need name -> skip reason
    attempt: int
    previous_output: Any = None  # a side-effect step's output from before a rerun

    @property
    def options(self) -> dict:
        return self.run.options or {}

    def heartbeat(self) -> None:
        """Extend this step's lease; long steps call it between slow operations."""
        from pipeline.engine.leases import extend_lease

        extend_lease(self.step_run.pk, self.step_run.worker_id)


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[StepContext], Any]
    needs: tuple[str, ...] = ()
    # Returns a reason to skip the step, or None to run it. A skipped step counts as done.
    when: Callable[[StepContext], str | None] | None = None
    retry: Retry = Retry()
    timeout_seconds: float = 60.0
    # Steps that change the outside world; on a rerun they see their earlier output.
    side_effect: bool = False


@dataclass(frozen=True)
class Pipeline:
    name: str
    version: int
    steps: tuple[Step, ...]
    # Rows related to the run (PipelineRun relations) its steps read: loaded with each step in
    # the same query, as context.run.<name>.
    related: tuple[str, ...] = ()
    by_name: dict[str, Step] = field(init=False, repr=False)
    dependents: dict[str, tuple[str, ...]] = field(init=False, repr=False)
    order: tuple[str, ...] = field(init=False, repr=False)
    # Steps on the longest path from a step to the end, itself included.
    remaining: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_name: dict[str, Step] = {}
        for step in self.steps:
            if step.name in by_name:
                raise PipelineDefinitionError(
                    f"pipeline {self.name!r}: step {step.name!r} is declared twice"
                )
            by_name[step.name] = step
        for step in self.steps:
            unknown = [need for need in step.needs if need not in by_name]
            if unknown:
                raise PipelineDefinitionError(
                    f"pipeline {self.name!r}: step {step.name!r} needs unknown step(s) "
                    f"{', '.join(repr(name) for name in unknown)}"
                )
        sorter = graphlib.TopologicalSorter({step.name: step.needs for step in self.steps})
        try:
            order = tuple(sorter.static_order())
        except graphlib.CycleError as error:
            cycle = " -> ".join(error.args[1])
            raise PipelineDefinitionError(f"pipeline {self.name!r} has a cycle: {cycle}") from None
        dependents = {
            step.name: tuple(other.name for other in self.steps if step.name in other.needs)
            for step in self.steps
        }
        remaining: dict[str, int] = {}
        for name in reversed(order):
            remaining[name] = 1 + max((remaining[after] for after in dependents[name]), default=0)
        object.__setattr__(self, "by_name", by_name)
        object.__setattr__(self, "dependents", dependents)
        object.__setattr__(self, "order", order)
        object.__setattr__(self, "remaining", remaining)

    def step(self, name: str) -> Step:
        return self.by_name[name]

    def downstream(self, name: str) -> list[str]:
        """The step and everything that depends on it, transitively, in run order."""
        found = {name}
        for step_name in self.order:
            if any(need in found for need in self.by_name[step_name].needs):
                found.add(step_name)
        return [step_name for step_name in self.order if step_name in found]
