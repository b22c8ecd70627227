"""How a pipeline is declared: steps as data, validated when the pipeline is built.

Pipeline("lead", version=1, steps=(
    Step("classify", run=steps.classify),
    Step("enrich", run=steps.enrich, needs=("classify",), when=steps.worth_enriching),
    ...
))
"""

from __future__ import annotations

import graphlib
import importlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.engine import StepContext


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
    """Returned by a step that waits for something outside the engine (a reviewer)."""

    reason: str
    data: Mapping[str, Any] = field(default_factory=dict)


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
        """An AgentResult's usage and strategy, with its output or another one."""
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


_REGISTRY: dict[str, Pipeline] = {}


def register(pipeline: Pipeline) -> Pipeline:
    _REGISTRY[pipeline.name] = pipeline
    return pipeline


def get_pipeline(name: str) -> Pipeline:
    """The pipeline called `name`: a registered one, or "module.path:ATTRIBUTE" (tests, bench).

    Names come from our code, never from user input.
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" in name:
        module_name, attribute = name.split(":", 1)
        pipeline = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(pipeline, Pipeline):
            raise PipelineDefinitionError(f"{name} is not a Pipeline")
        _REGISTRY[name] = pipeline
        return pipeline
    importlib.import_module("pipeline.pipelines")  # registers the built-in pipelines
    if name in _REGISTRY:
        return _REGISTRY[name]
    raise PipelineDefinitionError(f"no pipeline called {name!r}")
