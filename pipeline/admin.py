"""Django admin registrations of the pipeline app. One clearly marked block per area."""

from django.contrib import admin

from pipeline.models import Contact

# --- CRM and outbox (issue 9) -------------------------------------------------------------------


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("email", "first_name", "last_name", "company", "label", "score", "updated_at")
    list_filter = ("label", "lifecycle_stage", "sector")
    search_fields = ("email", "first_name", "last_name", "company", "domain")
    raw_id_fields = ("lead",)
    readonly_fields = ("created_at", "updated_at")
    ordering = ("-updated_at",)


# --- End of CRM and outbox ------------------------------------------------------------------------
