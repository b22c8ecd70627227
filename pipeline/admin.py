"""Django admin registrations of the pipeline app. One clearly marked block per area."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.utils.html import format_html

from pipeline.intake.sources import (
    form_url,
    generate_secret,
    mapping_problem,
    rotate_secret,
    webhook_url,
)
from pipeline.models import Contact, OperationsSettings, OutboundEmail, WebhookSource

# --- Intake: webhook sources (issue 6) ---------------------------------------------------------


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

    @admin.display(description="Previous secret")
    def rotation(self, source):
        expires = source.previous_secret_expires_at
        if source.previous_secret and expires:
            return f"valid until {expires:%Y-%m-%d %H:%M %Z}"
        return "none"

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


# --- CRM and outbox (issue 9) -------------------------------------------------------------------


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

    list_display = ("pk", "to_email", "subject", "kind", "state", "attempts", "sent_at", "lead")
    list_filter = ("state", "kind")
    search_fields = ("to_email", "subject", "message_id")
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
