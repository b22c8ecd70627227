"""The pipelines we run, declared as data. Bump a pipeline's version when its shape changes."""

from django.db import OperationalError

from pipeline import steps
from pipeline.definitions import Pipeline, Retry, Step, register
from pipeline.engine import StepTimeout
from pipeline.integrations.crm.base import CRMError
from pipeline.integrations.outbox import OutboxError
from pipeline.llm import LLMError

# Errors a retry can cure: outages, timeouts, a busy database. A bug (KeyError, ...) fails at once.
# Errors may also say `retryable = False` (a 400 from the CRM), which the engine honours.
TRANSIENT = (LLMError, OSError, TimeoutError, StepTimeout, OperationalError, CRMError, OutboxError)
# Model calls: the SDK already retried 429/529/5xx; give the step two more tries, spaced out.
AGENT_RETRY = Retry(attempts=3, backoff_seconds=2, max_backoff_seconds=30, retry_on=TRANSIENT)
# Outside systems (CRM, SMTP) with rate limits: more patience.
INTEGRATION_RETRY = Retry(
    attempts=5, backoff_seconds=5, max_backoff_seconds=120, retry_on=TRANSIENT
)

LEAD = register(
    Pipeline(
        "lead",
        version=1,
        steps=(
            Step("classify", run=steps.classify, retry=AGENT_RETRY, timeout_seconds=90),
            Step(
                "enrich",
                run=steps.enrich,
                needs=("classify",),
                when=steps.worth_enriching,
                retry=AGENT_RETRY,
                timeout_seconds=60,
            ),
            Step(
                "score_form",
                run=steps.score_form,
                needs=("classify",),
                retry=AGENT_RETRY,
                timeout_seconds=90,
            ),
            Step(
                "score_final",
                run=steps.score_final,
                needs=("classify", "enrich", "score_form"),
                retry=AGENT_RETRY,
                timeout_seconds=90,
            ),
            Step(
                "crm_write",
                run=steps.crm_write,
                needs=("classify", "enrich", "score_final"),
                when=steps.should_write_crm,
                retry=INTEGRATION_RETRY,
                timeout_seconds=60,
                side_effect=True,
            ),
            Step(
                "draft",
                run=steps.draft,
                needs=("classify", "enrich", "score_final"),
                when=steps.worth_drafting,
                retry=AGENT_RETRY,
                timeout_seconds=120,
            ),
            Step("gate", run=steps.gate, needs=("score_final", "draft"), when=steps.has_draft),
            Step(
                "send",
                run=steps.send,
                needs=("gate",),
                when=steps.should_send,
                retry=INTEGRATION_RETRY,
                timeout_seconds=60,
                side_effect=True,
            ),
        ),
    )
)
