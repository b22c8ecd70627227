from django.db import models


class EnrichmentCache(models.Model):
    """A company profile per registrable domain, so ten leads from one company fetch once."""

    domain = models.CharField(max_length=253, unique=True)
    profile = models.JSONField(default=dict)
    provider = models.CharField(max_length=40, blank=True, default="")
    # The readable text of the pages the profile came from, so the claude strategy can read
    # the sector from it on a cache hit without fetching again.
    page_text = models.TextField(blank=True, default="")
    fetched_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.domain
