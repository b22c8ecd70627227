"""The pipelines we run, declared as data. Bump a pipeline's version when its shape changes."""

from django.db import OperationalError

from pipeline import followup_steps, steps
from pipeline.engine import Pipeline, Retry, Sleep, Step, StepTimeout, register
from pipeline.integrations.crm.base import CRMError
from pipeline.integrations.outbox import OutboxError
from pipeline.llm import LLMError
from pipeline.step_names import (
    CLASSIFY,
    CRM_WRITE,
    DRAFT,
    ENRICH,
    GATE,
    SCORE_FINAL,
    SCORE_FORM,
    SEND,
    WAIT,
)

# Errors a retry can cure: outages, timeouts, a busy database. A bug (KeyError, ...) fails at once.
# Errors may also say `retryable = False` (a 400 from the CRM), which the engine honours.
TRANSIENT = (LLMError, OSError, TimeoutError, StepTimeout, OperationalError, CRMError, OutboxError)
# Model calls: the SDK already retried 429/529/5xx; give the step two more tries, spaced out.
AGENT_RETRY = Retry(attempts=3, backoff_seconds=2, max_backoff_seconds=30, retry_on=TRANSIENT)
# Outside systems (CRM, SMTP) with rate limits: more patience.
INTEGRATION_RETRY = Retry(
    attempts=5, backoff_seconds=5, max_backoff_seconds=120, retry_on=TRANSIENT
)

__all__ = [
    "CLASSIFY",
    "CRM_WRITE",
    "DRAFT",
    "ENRICH",
    "GATE",
    "FOLLOW_UP",
    "LEAD",
    "SCORE_FINAL",
    "SCORE_FORM",
    "SEND",
]

LEAD = register(
    Pipeline(
        "lead",
        version=1,
        related=("lead", "submission"),
        steps=(
            Step(CLASSIFY, run=steps.classify, retry=AGENT_RETRY, timeout_seconds=90),
            Step(
                ENRICH,
                run=steps.enrich,
                needs=(CLASSIFY,),
                when=steps.worth_enriching,
                retry=AGENT_RETRY,
                timeout_seconds=60,
            ),
            Step(
                SCORE_FORM,
                run=steps.score_form,
                needs=(CLASSIFY,),
                retry=AGENT_RETRY,
                timeout_seconds=90,
            ),
            Step(
                SCORE_FINAL,
                run=steps.score_final,
                needs=(CLASSIFY, ENRICH, SCORE_FORM),
                retry=AGENT_RETRY,
                timeout_seconds=90,
            ),
            Step(
                CRM_WRITE,
                run=steps.crm_write,
                needs=(CLASSIFY, ENRICH, SCORE_FINAL),
                when=steps.should_write_crm,
                retry=INTEGRATION_RETRY,
                timeout_seconds=60,
                side_effect=True,
            ),
            Step(
                DRAFT,
                run=steps.draft,
                needs=(CLASSIFY, ENRICH, SCORE_FINAL),
                when=steps.worth_drafting,
                retry=AGENT_RETRY,
                timeout_seconds=120,
            ),
            Step(GATE, run=steps.gate, needs=(CLASSIFY, SCORE_FINAL, DRAFT), when=steps.has_draft),
            Step(
                SEND,
                run=steps.send,
                needs=(GATE,),
                when=steps.should_send,
                retry=INTEGRATION_RETRY,
                timeout_seconds=60,
                side_effect=True,
            ),
        ),
    )
)

# One follow-up of a lead's cadence (pipeline.followups): wait for its day, draft with the thread
# so far, decide, send threaded on the first email. Each step checks the plan is still on.
FOLLOW_UP = register(
    Pipeline(
        "follow_up",
        version=1,
        related=("lead",),
        steps=(
            Step(WAIT, run=Sleep(until=followup_steps.due), when=followup_steps.still_on),
            Step(
                DRAFT,
                run=followup_steps.draft,
                needs=(WAIT,),
                when=followup_steps.still_on,
                retry=AGENT_RETRY,
                timeout_seconds=120,
            ),
            Step(GATE, run=followup_steps.gate, needs=(DRAFT,), when=followup_steps.still_on),
            Step(
                SEND,
                run=followup_steps.send,
                needs=(GATE,),
                when=followup_steps.should_send,
                retry=INTEGRATION_RETRY,
                timeout_seconds=60,
                side_effect=True,
            ),
        ),
    )
)
