"""Django admin registrations of the pipeline app. One clearly marked block per area."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html

from pipeline.intake.sources import (
    form_url,
    generate_secret,
    mapping_problem,
    retired_secrets,
    rotate_secret,
    webhook_url,
)
from pipeline.models import (
    ApiToken,
    CadenceConfig,
    CompanyProfile,
    Contact,
    CountryOwnerRule,
    Draft,
    DraftRevision,
    EnrichmentCache,
    FollowUp,
    FollowUpPlan,
    InboundReply,
    Lead,
    LeadOutcome,
    Notification,
    OperationsSettings,
    OutboundEmail,
    OwnerRotation,
    OwnerRule,
    PipelineRun,
    RescoreJob,
    ReviewAction,
    ScoringConfig,
    SizeOwnerRule,
    StepRun,
    Submission,
    WebhookSource,
    WorkerHeartbeat,
)

# --- Intake: webhook sources ------------------------------------------------------------------


class WebhookSourceForm(forms.ModelForm):
    class Meta:
        model = WebhookSource
        fields = ("name", "slug", "is_active", "rate_limit_per_minute", "field_mapping")
        help_texts = {
            "field_mapping": 'Sender field -> our field, e.g. {"Email Address": "email", '
            '"data.contact.phone": "phone"}. Our fields: name, email, phone, company, website, '
            "message. Unmapped fields are kept as custom fields.",
            "rate_limit_per_minute": "Empty: WEBHOOK_RATE_LIMIT_PER_MINUTE.",
        }

    def clean_field_mapping(self):
        mapping = self.cleaned_data["field_mapping"] or {}
        problem = mapping_problem(mapping)
        if problem:
            raise forms.ValidationError(problem)
        return mapping


@admin.register(WebhookSource)
class WebhookSourceAdmin(admin.ModelAdmin):
    """The secret is generated on creation and shown once; "rotate secret" makes a new one."""

    form = WebhookSourceForm
    list_display = ("name", "slug", "is_active", "endpoint", "rotation", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("endpoint", "hosted_form", "rotation")
    actions = ("rotate_secrets",)

    def get_fields(self, request, obj=None):
        fields = ["name", "slug", "is_active", "rate_limit_per_minute", "field_mapping"]
        return fields + (["endpoint", "hosted_form", "rotation"] if obj else [])

    @admin.display(description="Webhook URL")
    def endpoint(self, source):
        return webhook_url(source)

    @admin.display(description="Hosted form")
    def hosted_form(self, source):
        url = form_url(source)
        return format_html('<a href="{}">{}</a>', url, url)

    @admin.display(description="Previous secrets")
    def rotation(self, source):
        now = timezone.now()
        ends = [expires for _, expires in retired_secrets(source) if now < expires]
        if not ends:
            return "none"
        return f"{len(ends)} still valid, the last until {max(ends):%Y-%m-%d %H:%M %Z}"

    def save_model(self, request, obj, form, change):
        secret = None
        if not change:
            secret = obj.secret = generate_secret()
        super().save_model(request, obj, form, change)
        if secret:
            messages.warning(
                request,
                f"Signing secret for {obj.name} (shown only now; copy it into the sender): "
                f"{secret}",
            )

    @admin.action(description="Rotate secret (the old one keeps working for the overlap)")
    def rotate_secrets(self, request, queryset):
        hours = settings.WEBHOOK_ROTATION_OVERLAP_HOURS
        for source in queryset:
            secret = rotate_secret(source)
            messages.warning(
                request,
                f"New signing secret for {source.name} (shown only now): {secret}. "
                f"The previous one keeps working for {hours} h.",
            )


# --- End of intake ------------------------------------------------------------------------------


# --- CRM and outbox ---------------------------------------------------------------------------


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("email", "first_name", "last_name", "company", "label", "score", "updated_at")
    list_filter = ("label", "lifecycle_stage", "sector")
    search_fields = ("email", "first_name", "last_name", "company", "domain")
    raw_id_fields = ("lead",)
    readonly_fields = ("created_at", "updated_at")
    ordering = ("-updated_at",)


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    """The outbox. Rows only change through the state machine (pipeline.integrations.outbox)."""

    list_display = (
        "pk",
        "to_email",
        "subject",
        "kind",
        "state",
        "delivery_status",
        "attempts",
        "sent_at",
        "lead",
    )
    list_filter = ("state", "delivery_status", "kind")
    search_fields = ("to_email", "subject", "message_id", "provider_message_id")
    ordering = ("-created_at",)
    actions = ("mark_sent", "requeue", "cancel")
    readonly_fields = [field.name for field in OutboundEmail._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(
        description="Mark as sent (checked: the mail server delivered it)",
        permissions=["change"],
    )
    def mark_sent(self, request, queryset):
        from pipeline.integrations.outbox import mark_unknown_sent

        changed = sum(mark_unknown_sent(email, by=request.user) for email in queryset)
        self._report(request, changed, queryset.count(), "marked sent", "unknown")

    @admin.action(description="Send again (checked: it was not delivered)", permissions=["change"])
    def requeue(self, request, queryset):
        from pipeline.integrations.outbox import requeue_email

        changed = sum(requeue_email(email, by=request.user) for email in queryset)
        self._report(request, changed, queryset.count(), "queued again", "unknown or failed")

    @admin.action(description="Cancel (never send)", permissions=["change"])
    def cancel(self, request, queryset):
        from pipeline.integrations.outbox import cancel_email

        changed = sum(cancel_email(email, by=request.user) for email in queryset)
        self._report(request, changed, queryset.count(), "cancelled", "queued, unknown or failed")

    def _report(self, request, changed, selected, verb, allowed) -> None:
        self.message_user(request, f"{changed} email(s) {verb}.", messages.SUCCESS)
        if changed < selected:
            self.message_user(
                request,
                f"{selected - changed} email(s) skipped: only {allowed} emails can be {verb}.",
                messages.WARNING,
            )


@admin.register(OperationsSettings)
class OperationsSettingsAdmin(admin.ModelAdmin):
    """The single row of run-time switches; only admins (pipeline.change_settings) change it."""

    list_display = ("__str__", "auto_send_paused", "updated_by", "updated_at")
    fields = ("auto_send_paused", "updated_by", "updated_at")
    readonly_fields = ("updated_by", "updated_at")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        from pipeline.operations import can_change_settings

        return can_change_settings(request.user)

    def get_queryset(self, request):
        OperationsSettings.load()  # the row exists before anyone looks for it
        return super().get_queryset(request)

    def save_model(self, request, obj, form, change):
        from pipeline.operations import set_auto_send_paused

        set_auto_send_paused(obj.auto_send_paused, by=request.user)


# --- End of CRM and outbox ----------------------------------------------------------------------


# --- JSON API tokens and outcomes ---------------------------------------------------------------


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens for /api/v1/. The token is shown once, on creation; only its hash is kept."""

    list_display = ("name", "prefix", "scope", "is_active", "last_used_at", "created_by")
    list_filter = ("scope", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    actions = ("revoke",)
    ordering = ("-created_at",)

    def get_fields(self, request, obj=None):
        fields = ["name", "scope", "rate_limit_per_minute"]
        return fields + (list(self.readonly_fields) if obj else [])

    @admin.display(boolean=True, description="active")
    def is_active(self, token):
        return token.is_active

    def has_delete_permission(self, request, obj=None):
        # Revoked tokens stay, so outcomes still say which integration reported them.
        return False

    def save_model(self, request, obj, form, change):
        from pipeline.api.tokens import issue_secret

        token = None
        if not change:
            token = issue_secret(obj)
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if token:
            messages.warning(
                request,
                f"API token for {obj.name} (shown only now; copy it into the integration): {token}",
            )

    @admin.action(description="Revoke (the token stops working at once)", permissions=["change"])
    def revoke(self, request, queryset):
        from pipeline.api.tokens import revoke_tokens

        count = revoke_tokens(queryset)
        self.message_user(request, f"{count} token(s) revoked.", messages.SUCCESS)


@admin.register(LeadOutcome)
class LeadOutcomeAdmin(admin.ModelAdmin):
    list_display = ("lead", "outcome", "token", "recorded_by", "recorded_at")
    list_filter = ("outcome", "token")
    search_fields = ("lead__email", "lead__name", "lead__company", "note")
    raw_id_fields = ("lead",)
    readonly_fields = ("token", "recorded_by", "recorded_at")


# --- End of JSON API ----------------------------------------------------------------------------


# --- Core models: leads, runs, drafts, business settings ----------------------------------------
# Read-only where a change must go through the pipeline's rules (dedupe keys, the engine's state
# machine, the draft actions, versioned settings); the pages are for finding and reading.


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SubmissionInline(admin.TabularInline):
    model = Submission
    fields = ("received_at", "channel", "source", "email", "message", "is_trapped")
    readonly_fields = fields
    extra = 0
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class StepRunInline(SubmissionInline):
    model = StepRun
    fields = ("name", "status", "attempt", "strategy", "duration_ms", "error")
    readonly_fields = fields


@admin.register(Lead)
class LeadAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "email", "company", "label", "score", "is_flagged", "created_at")
    list_filter = ("label", "is_flagged", ("unsubscribed_at", admin.EmptyFieldListFilter))
    search_fields = ("email", "email_normalized", "name", "company", "phone_normalized")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    inlines = (SubmissionInline,)
    actions = ("erase_personal_data", "merge_into_oldest")

    def has_erase_permission(self, request):
        return request.user.has_perm("pipeline.delete_lead")

    def has_merge_permission(self, request):
        return request.user.has_perm("pipeline.change_lead")

    @admin.action(
        description="Merge into the oldest selected lead (one person; keeps every history)",
        permissions=["merge"],
    )
    def merge_into_oldest(self, request, queryset):
        from pipeline.intake.people import merge_leads

        leads = list(queryset.order_by("created_at", "pk"))
        if len(leads) < 2:
            self.message_user(request, "Select two or more leads to merge.", messages.WARNING)
            return
        keep = leads[0]
        for other in leads[1:]:
            merge_leads(keep, other, by=request.user, reason="admin merge")
        self.message_user(
            request,
            f"Merged {len(leads) - 1} lead(s) into lead {keep.pk} ({keep}).",
            messages.SUCCESS,
        )

    @admin.action(
        description="Erase personal data (keeps anonymous counts; cannot be undone)",
        permissions=["erase"],
    )
    def erase_personal_data(self, request, queryset):
        from pipeline.erase import erase_leads

        result = erase_leads(list(queryset), by=request.user)
        if result.leads:
            crm = (
                f" Deleted from the CRM: {', '.join(result.crm_deleted)}."
                if result.crm_deleted
                else ""
            )
            self.message_user(
                request,
                f"Erased the personal data of {result.leads} lead(s): {result.submissions} "
                f"submission(s), {result.drafts} draft(s), {result.emails} email(s).{crm}",
                messages.SUCCESS,
            )
        for lead_id, reason in result.crm_failed:
            self.message_user(
                request,
                f"Lead {lead_id} was not erased: the CRM did not delete its record ({reason}). "
                "Try again once the CRM answers.",
                messages.ERROR,
            )


@admin.register(Submission)
class SubmissionAdmin(ReadOnlyAdmin):
    list_display = ("pk", "lead", "channel", "source", "is_trapped", "received_at")
    list_filter = ("channel", "source", "is_trapped")
    search_fields = ("email", "name", "company", "idempotency_key")
    raw_id_fields = ("lead",)
    date_hierarchy = "received_at"


@admin.register(PipelineRun)
class PipelineRunAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "lead",
        "pipeline_name",
        "status",
        "decision",
        "is_degraded",
        "created_at",
    )
    list_filter = ("status", "decision", "is_degraded", "pipeline_name")
    search_fields = ("lead__email", "lead__name", "lead__company", "error")
    date_hierarchy = "created_at"
    inlines = (StepRunInline,)
    actions = ("retry_failed",)

    def has_retry_permission(self, request):
        # The same right as the Retry button on the runs page.
        return request.user.has_perm("pipeline.review_draft")

    @admin.action(description="Retry the failed steps", permissions=["retry"])
    def retry_failed(self, request, queryset):
        from pipeline.actions import retry_run

        results = [retry_run(run, by=request.user) for run in queryset]
        done = sum(result.changed for result in results)
        self.message_user(request, f"{done} run(s) retried.", messages.SUCCESS)
        if done < len(results):
            self.message_user(
                request,
                f"{len(results) - done} run(s) skipped: only failed runs can be retried.",
                messages.WARNING,
            )


@admin.register(StepRun)
class StepRunAdmin(ReadOnlyAdmin):
    list_display = ("pk", "run", "name", "status", "attempt", "strategy", "duration_ms")
    list_filter = ("status", "name", "strategy")
    search_fields = ("run__lead__email", "error", "worker_id")


@admin.register(Draft)
class DraftAdmin(ReadOnlyAdmin):
    """Drafts change only through the review actions (versioned, audited, resume the gate)."""

    list_display = ("pk", "lead", "subject", "status", "label", "score", "decision", "created_at")
    list_filter = ("status", "label", "decision")
    search_fields = ("subject", "lead__email", "lead__name", "lead__company")
    date_hierarchy = "created_at"


@admin.register(DraftRevision)
class DraftRevisionAdmin(ReadOnlyAdmin):
    list_display = ("draft", "number", "author", "created_at")
    search_fields = ("subject", "draft__lead__email")


@admin.register(ReviewAction)
class ReviewActionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "action", "lead", "user")
    list_filter = ("action",)
    search_fields = ("lead__email", "user__username")
    date_hierarchy = "created_at"


@admin.register(CompanyProfile)
class CompanyProfileAdmin(admin.ModelAdmin):
    """Versioned: saving makes a new version in force; old versions stay as they were."""

    list_display = ("__str__", "sender_name", "created_by", "created_at")
    search_fields = ("company_name",)
    readonly_fields = ("created_by", "created_at")

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(ScoringConfig)
class ScoringConfigAdmin(ReadOnlyAdmin):
    """Scoring versions; new ones are made on the scoring page, which validates the criteria."""

    list_display = ("__str__", "auto_send_threshold", "note", "created_by", "created_at")
    search_fields = ("note",)


@admin.register(RescoreJob)
class RescoreJobAdmin(ReadOnlyAdmin):
    """Background re-scoring of pending drafts; started and confirmed on the scoring page."""

    list_display = ("__str__", "config", "status", "done", "total", "changed", "created_at")
    list_filter = ("status",)
    ordering = ("-created_at",)


@admin.register(EnrichmentCache)
class EnrichmentCacheAdmin(ReadOnlyAdmin):
    list_display = ("domain", "provider", "fetched_at", "expires_at")
    list_filter = ("provider",)
    search_fields = ("domain",)

    def has_delete_permission(self, request, obj=None):
        # Dropping a cached profile only makes the next lead of that domain fetch again.
        return request.user.has_perm("pipeline.delete_enrichmentcache")


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("worker", "seen_at")
    search_fields = ("worker",)
    ordering = ("-seen_at",)


# --- End of core models -------------------------------------------------------------------------


# --- Replies, follow-ups, owners and notifications ----------------------------------------------


@admin.register(InboundReply)
class InboundReplyAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "from_address", "subject", "lead", "matched_by", "provider")
    list_filter = ("matched_by", "provider")
    search_fields = ("from_address", "subject", "message_id")
    date_hierarchy = "received_at"


@admin.register(CadenceConfig)
class CadenceConfigAdmin(ReadOnlyAdmin):
    """Cadence versions; new ones are made on the Follow-ups page, which validates them."""

    list_display = ("__str__", "note", "created_by", "created_at")


class FollowUpInline(admin.TabularInline):
    model = FollowUp
    fields = ("number", "due_at", "run")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(FollowUpPlan)
class FollowUpPlanAdmin(ReadOnlyAdmin):
    """Each lead's follow-up plan; staff stop it on the lead page, which cancels its timer."""

    list_display = ("lead", "label", "cadence_version", "started_at", "stopped_at", "stop_reason")
    list_filter = ("label",)
    search_fields = ("lead__email", "stop_reason")
    inlines = (FollowUpInline,)


@admin.register(FollowUp)
class FollowUpAdmin(ReadOnlyAdmin):
    list_display = ("plan", "number", "due_at", "run")
    ordering = ("-due_at",)


@admin.register(OwnerRotation)
class OwnerRotationAdmin(ReadOnlyAdmin):
    """Whose turn it is in the round-robin among Reviewers (one row)."""

    list_display = ("__str__", "last_owner")


@admin.register(OwnerRule)
class OwnerRuleAdmin(admin.ModelAdmin):
    """Leads from a webhook source go to one owner: the first rule (then country, size, turn)."""

    list_display = ("source", "owner")


@admin.register(CountryOwnerRule)
class CountryOwnerRuleAdmin(admin.ModelAdmin):
    """Leads from a country go to one owner, unless a source rule fits first."""

    list_display = ("country", "owner")
    search_fields = ("country", "owner__username")


@admin.register(SizeOwnerRule)
class SizeOwnerRuleAdmin(admin.ModelAdmin):
    """Leads from companies of a size go to one owner, after source and country rules."""

    list_display = ("__str__", "min_employees", "max_employees", "owner")


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "event", "channel", "lead", "state", "attempts", "sent_at")
    list_filter = ("event", "channel", "state")
    date_hierarchy = "created_at"
