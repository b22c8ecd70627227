"""CSV export of leads, streamed row by row so 100,000 leads never sit in memory at once.

The rows come from a lead queryset annotated with the latest run's status and decision (the
leads page's and the API's); the database hands them over in chunks (a server-side cursor on
PostgreSQL). Cells that a spreadsheet would run as a formula are defused: lead text is
untrusted, and "=HYPERLINK(…)" in a name must stay text.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from django.db.models import OuterRef, QuerySet, Subquery

from pipeline.models import LeadOutcome

COLUMNS = (
    "id",
    "created_at",
    "name",
    "email",
    "phone",
    "company",
    "website",
    "label",
    "score",
    "is_flagged",
    "latest_run_status",
    "decision",
    "outcome",
    "crm_external_id",
)
CHUNK = 2000
# OWASP's list: a cell starting with one of these is a formula in Excel, LibreOffice, Sheets.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def defuse(value) -> str:
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


def rows(leads: QuerySet) -> Iterator[tuple]:
    latest_outcome = LeadOutcome.objects.filter(lead=OuterRef("pk")).order_by("-recorded_at", "-pk")
    leads = leads.annotate(latest_outcome=Subquery(latest_outcome.values("outcome")[:1]))
    fields = [
        "pk",
        "created_at",
        "name",
        "email",
        "phone",
        "company",
        "website",
        "label",
        "score",
        "is_flagged",
        "latest_run_status",
        "latest_run_decision",
        "latest_outcome",
        "crm_external_id",
    ]
    for row in leads.values_list(*fields).iterator(chunk_size=CHUNK):
        yield tuple(defuse(value) for value in row)


class _Echo:
    """A file-like object whose write() returns the line, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def csv_lines(leads: QuerySet) -> Iterable[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    for row in rows(leads):
        yield writer.writerow(row)
