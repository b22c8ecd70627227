"""The durable pipeline engine: all run state in the database, the broker only says "look now".

A step's life: pending -> queued (its needs are done) -> running (claimed by exactly one worker,
with a lease) -> succeeded | skipped | waiting | failed, or back to queued for a retry. The worker
that finishes a step marks the newly ready steps queued in the same transaction, runs one of
them itself (continuation) and enqueues the others on commit, at the front of the broker's
line where it has one (Redis), so runs underway finish before new ones start. A sweeper
re-enqueues steps whose lease expired (the worker died) or whose queue message was lost.

One module per job: definitions (how a pipeline is declared), registry (pipelines by name), hop
(claim, run, finish, continue), store (the run state's SQL and the run lock), control (start,
resume, reject, retry, rerun, cancel), recovery (the sweep; it also wakes due timers,
Wait(until=...) and Sleep steps), leases (leases, heartbeats, timeouts), threads (steps in
worker threads, ENGINE_THREADS), inline (in-process runs), queue (django-q2), local (objects
built once per process), events (log lines), signals (what it tells the apps built on it). This
module is the public surface; django-q2 tasks name `pipeline.engine.execute`.

The engine knows nothing of leads: it imports only its own run models (PipelineRun, StepRun,
WorkerHeartbeat), never the lead pipeline, the agents, integrations or the review app; the
import-linter contracts in pyproject.toml check it.
"""

from pipeline.engine.control import (
    EngineError,
    Outcome,
    cancel,
    reject,
    rerun_from,
    resume,
    retry,
    start,
)
from pipeline.engine.definitions import (
    Pipeline,
    PipelineDefinitionError,
    Retry,
    Sleep,
    Step,
    StepContext,
    StepResult,
    StepTimeout,
    Wait,
)
from pipeline.engine.hop import execute, fault_point, to_json
from pipeline.engine.inline import continue_inline, run_inline
from pipeline.engine.leases import extend_lease
from pipeline.engine.queue import Dispatch, call_later, enqueue, worker_id
from pipeline.engine.recovery import SWEEP_SCHEDULE_NAME, sweep, wake_due_timers
from pipeline.engine.registry import autodiscover, get_pipeline, register
from pipeline.engine.store import step_outputs

__all__ = [
    "SWEEP_SCHEDULE_NAME",
    "Dispatch",
    "EngineError",
    "Outcome",
    "Pipeline",
    "PipelineDefinitionError",
    "Retry",
    "Sleep",
    "Step",
    "StepResult",
    "Wait",
    "get_pipeline",
    "register",
    "StepContext",
    "StepTimeout",
    "autodiscover",
    "cancel",
    "continue_inline",
    "call_later",
    "enqueue",
    "execute",
    "extend_lease",
    "wake_due_timers",
    "fault_point",
    "reject",
    "rerun_from",
    "resume",
    "retry",
    "run_inline",
    "start",
    "step_outputs",
    "sweep",
    "to_json",
    "worker_id",
]
