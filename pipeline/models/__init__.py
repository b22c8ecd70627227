"""Pipeline models, one module per area; import from here (`from pipeline.models import Lead`)."""

from pipeline.models.api import ApiToken, LeadOutcome
from pipeline.models.config import (
    AUTO_SEND_DEFAULTS,
    AutoSendPolicy,
    CompanyProfile,
    OperationsSettings,
    RescoreJob,
    ScoringConfig,
    VersionConflict,
)
from pipeline.models.crm import Contact
from pipeline.models.drafts import Draft, DraftRevision, OutboundEmail, ReviewAction
from pipeline.models.enrichment import EnrichmentCache
from pipeline.models.followups import CadenceConfig, FollowUp, FollowUpPlan
from pipeline.models.leads import Lead, Submission, WebhookSource
from pipeline.models.notifications import (
    CountryOwnerRule,
    Notification,
    OwnerRotation,
    OwnerRule,
    SizeOwnerRule,
)
from pipeline.models.replies import InboundReply
from pipeline.models.runs import PipelineRun, StepRun, WorkerHeartbeat

__all__ = [
    "AUTO_SEND_DEFAULTS",
    "AutoSendPolicy",
    "CadenceConfig",
    "ApiToken",
    "CompanyProfile",
    "Contact",
    "CountryOwnerRule",
    "Draft",
    "DraftRevision",
    "EnrichmentCache",
    "FollowUp",
    "FollowUpPlan",
    "InboundReply",
    "Lead",
    "LeadOutcome",
    "Notification",
    "OperationsSettings",
    "OutboundEmail",
    "OwnerRotation",
    "OwnerRule",
    "PipelineRun",
    "RescoreJob",
    "ReviewAction",
    "ScoringConfig",
    "SizeOwnerRule",
    "StepRun",
    "Submission",
    "VersionConflict",
    "WebhookSource",
    "WorkerHeartbeat",
]
