"""Pipeline models, one module per area; import from here (`from pipeline.models import Lead`)."""

from pipeline.models.config import CompanyProfile, OperationsSettings, ScoringConfig
from pipeline.models.crm import Contact
from pipeline.models.drafts import Draft, DraftRevision, OutboundEmail, ReviewAction
from pipeline.models.enrichment import EnrichmentCache
from pipeline.models.leads import Lead, Submission, WebhookSource
from pipeline.models.runs import PipelineRun, StepExecution, StepRun, WorkerHeartbeat

__all__ = [
    "CompanyProfile",
    "Contact",
    "Draft",
    "DraftRevision",
    "EnrichmentCache",
    "Lead",
    "OperationsSettings",
    "OutboundEmail",
    "PipelineRun",
    "ReviewAction",
    "ScoringConfig",
    "StepExecution",
    "StepRun",
    "Submission",
    "WebhookSource",
    "WorkerHeartbeat",
]
