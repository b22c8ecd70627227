"""Pipelines the engine tests run, registered by name.

Real workers import this module through ENGINE_PIPELINE_MODULES=tests.engine_pipelines; the
test process through conftest.py.
"""

import os
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from pipeline.dev.models import StepExecution
from pipeline.engine import Pipeline, Retry, Sleep, Step, Wait, register, worker_id
from pipeline.step_names import CRM_WRITE


def record(context) -> None:
    StepExecution.objects.create(step_run_id=context.step_run.pk, worker=worker_id())


def quick(context):
    record(context)
    return {"step": context.step_run.name, "needs": sorted(context.outputs)}


def sleepy(context):
    record(context)
    time.sleep(float(context.options.get("sleep", 0.3)))
    return {"slept": context.options.get("sleep", 0.3)}


def wait_for_human(context):
    record(context)
    return Wait("review", {"draft": "hello"})


def after_gate(context):
    record(context)
    return {"approved": context.outputs["gate"]}


def flaky(context):
    """Fails on its first two attempts."""
    record(context)
    if context.attempt < 3:
        raise ConnectionError(f"attempt {context.attempt} failed")
    return {"attempt": context.attempt}


def always_fails(context):
    """Fails until the file named by the run's "fixed_file" option exists."""
    record(context)
    fixed_file = context.options.get("fixed_file")
    if fixed_file and Path(fixed_file).exists():
        return {"fixed": True}
    raise ValueError("this step never works")


def permanent_error(context):
    record(context)
    error = RuntimeError("refused: will not work on retry")
    error.retryable = False
    raise error


def skip_unless_wanted(context):
    return None if context.options.get("want_optional") else "not wanted for this lead"


def side_effect(context):
    """Appends one line to a file per real effect; sees its earlier output on a rerun."""
    record(context)
    if context.previous_output:
        return context.previous_output
    path = Path(context.options["effects_file"])
    with path.open("a") as handle:
        handle.write(f"{context.run.pk}\n")
    return {"effect": "done", "pid": os.getpid()}


def blocking(context):
    """Signals that it started (a file), then sleeps long: the crash test kills it here.

    Only the first attempt sleeps, so the attempt that recovers from the crash is quick.
    """
    record(context)
    Path(context.options["started_file"]).write_text(str(os.getpid()))
    if context.attempt == 1:
        time.sleep(float(context.options.get("sleep", 30)))
    return {"finished": True}


def until_release(context):
    """Sleeps until the wall-clock instant options["release_at"], so parallel steps end together."""
    record(context)
    time.sleep(max(0.0, float(context.options["release_at"]) - time.time()))
    return {"released": context.step_run.name}


FAST = Retry(attempts=3, backoff_seconds=0.01, jitter=0)

PARALLEL = register(
    Pipeline(
        "test-parallel",
        version=1,
        steps=(
            Step("first", run=quick),
            Step("left", run=sleepy, needs=("first",)),
            Step("right", run=sleepy, needs=("first",)),
            Step("join", run=quick, needs=("left", "right")),
        ),
    )
)

GATED = register(
    Pipeline(
        "test-gated",
        version=1,
        steps=(
            Step("draft", run=quick),
            Step("gate", run=wait_for_human, needs=("draft",)),
            Step("send", run=after_gate, needs=("gate",), side_effect=True),
        ),
    )
)

FLAKY = register(
    Pipeline(
        "test-flaky",
        version=1,
        steps=(Step("flaky", run=flaky, retry=FAST), Step("after", run=quick, needs=("flaky",))),
    )
)

EXHAUSTED = register(
    Pipeline(
        "test-exhausted",
        version=1,
        steps=(
            Step("doomed", run=always_fails, retry=Retry(attempts=2, backoff_seconds=0, jitter=0)),
            Step("never", run=quick, needs=("doomed",)),
        ),
    )
)

PERMANENT = register(
    Pipeline(
        "test-permanent",
        version=1,
        steps=(Step("refused", run=permanent_error, retry=FAST),),
    )
)

CONDITIONAL = register(
    Pipeline(
        "test-conditional",
        version=1,
        steps=(
            Step("first", run=quick),
            Step("optional", run=quick, needs=("first",), when=skip_unless_wanted),
            Step("last", run=quick, needs=("optional",)),
        ),
    )
)

EFFECTS = register(
    Pipeline(
        "test-effects",
        version=1,
        steps=(
            Step("prepare", run=quick),
            Step("effect", run=side_effect, needs=("prepare",), side_effect=True),
            Step("after", run=quick, needs=("effect",)),
        ),
    )
)

CRASH = register(
    Pipeline(
        "test-crash",
        version=1,
        steps=(
            Step("effect", run=side_effect, side_effect=True),
            Step("slow", run=blocking, needs=("effect",), timeout_seconds=120),
            Step("after", run=quick, needs=("slow",)),
        ),
    )
)

# The shape of the lead pipeline: two fan-outs and a fan-in.
DIAMOND = register(
    Pipeline(
        "test-diamond",
        version=1,
        steps=(
            Step("classify", run=quick),
            Step("enrich", run=quick, needs=("classify",)),
            Step("score_form", run=quick, needs=("classify",)),
            Step("score_final", run=quick, needs=("enrich", "score_form")),
            Step("crm", run=quick, needs=("score_final",)),
            Step("draft", run=quick, needs=("score_final",)),
            Step("send", run=quick, needs=("draft",)),
        ),
    )
)

# Two parallel steps that finish at the same instant, and the step that needs both.
FAN_IN = register(
    Pipeline(
        "test-fan-in",
        version=1,
        steps=(
            Step("first", run=quick),
            Step("left", run=until_release, needs=("first",)),
            Step("right", run=until_release, needs=("first",)),
            Step("join", run=quick, needs=("left", "right")),
        ),
    )
)

# A straight line: each step continues in the worker that ran the one before.
CHAIN = register(
    Pipeline(
        "test-chain",
        version=1,
        steps=(
            Step("one", run=quick),
            Step("two", run=quick, needs=("one",)),
            Step("three", run=quick, needs=("two",)),
            Step("four", run=quick, needs=("three",)),
        ),
    )
)


def loses_its_connection(context):
    """Attempt 1: the database connection dies under the step (a restart), which then fails."""
    from django.db import connection

    record(context)
    if context.attempt == 1:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        connection.connection.close()
        raise ConnectionError("the database went away")
    return {"attempt": context.attempt}


DEAD_CONNECTION = register(
    Pipeline(
        "test-dead-connection",
        version=1,
        steps=(Step("fragile", run=loses_its_connection, retry=FAST),),
    )
)


def wake_time(context):
    """The wall-clock time in the run's "wake_at" option (ISO 8601)."""
    return datetime.fromisoformat(context.options["wake_at"])


def timer_then_gate(context):
    record(context)
    return Wait("timer", {"why": "day 2"}, until=wake_time(context))


# A durable timer between two steps; its time comes from the run's options.
TIMER = register(
    Pipeline(
        "test-timer",
        version=1,
        steps=(
            Step("first", run=quick),
            Step("wait", run=Sleep(until=wake_time), needs=("first",)),
            Step("after", run=quick, needs=("wait",)),
        ),
    )
)

# A fixed delay, declared as data.
TWO_DAYS = register(
    Pipeline(
        "test-two-days",
        version=1,
        steps=(
            Step("first", run=quick),
            Step("wait", run=Sleep(after=timedelta(days=2)), needs=("first",)),
            Step("after", run=quick, needs=("wait",)),
        ),
    )
)

# A step function that returns the timer itself.
WAIT_UNTIL = register(
    Pipeline(
        "test-wait-until",
        version=1,
        steps=(
            Step("wait", run=timer_then_gate),
            Step("after", run=quick, needs=("wait",)),
        ),
    )
)


class Hold:
    """A step held mid-run until the test releases it: `started` is set once it runs."""

    started = threading.Event()
    release = threading.Event()

    @classmethod
    def reset(cls) -> None:
        cls.started.clear()
        cls.release.clear()


def held(context):
    """Runs until Hold.release, then does what the run's "then" option says: succeed, fail
    (fail_quoting: with the lead's name in the error), draft (write a draft to the lead), wait
    (a timer at the "wake_at" option) or email (send a reply through the outbox)."""
    record(context)
    lead = context.run.lead  # read as the step begins, as the lead pipeline's steps do
    Hold.started.set()
    if not Hold.release.wait(timeout=30):
        raise TimeoutError("the test never released the held step")
    then = context.options.get("then", "succeed")
    if then == "fail":
        raise ConnectionError("the held step failed")
    if then == "fail_quoting":
        raise ConnectionError(f"no answer for {lead.name} <{lead.email}>")
    if then == "draft":
        from pipeline.models import Draft

        draft = Draft.objects.create(
            lead=lead, run=context.run, subject=f"Hi {lead.name}", body=f"Dear {lead.name},"
        )
        return {"draft_id": draft.pk, "subject": draft.subject, "to": lead.email}
    if then == "wait":
        return Wait("timer", {"why": "later"}, until=wake_time(context))
    if then == "email":
        from pipeline.integrations.outbox import send_approved_reply

        return send_approved_reply(
            lead=lead,
            run=context.run,
            step_run=context.step_run,
            draft_id=context.options.get("draft_id", 0),
            subject="Your demo request",
            body="Hi,\n\nDoes Tuesday at 10:00 work?\n",
        )
    return {"held": True}


# A step held while the test cancels its run, then a successor that must never run.
HELD = register(
    Pipeline(
        "test-held",
        version=1,
        steps=(
            Step("held", run=held, retry=FAST),
            Step("after", run=quick, needs=("held",)),
        ),
    )
)


def crm_write(context):
    """The lead pipeline's CRM write, alone: the adapter configured now gets the lead."""
    from pipeline.integrations.crm import upsert_lead

    return upsert_lead(context.run.lead, classification=None, profile=None, score=None)


# A CRM write on its own (its step has the lead pipeline's name, which the erase looks for).
CRM_ONLY = register(
    Pipeline("test-crm-write", version=1, steps=(Step(CRM_WRITE, run=crm_write, retry=FAST),))
)
