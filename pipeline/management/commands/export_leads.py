"""manage.py export_leads: the leads as CSV (the columns of the leads page's export button)."""

import sys
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from pipeline.api.queries import leads
from pipeline.exports import csv_lines


def since(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--since {value!r} is not an ISO 8601 date or time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Write the leads as CSV to stdout or --output, newest first, with optional filters."

    def add_arguments(self, parser):
        parser.add_argument("--label", choices=["high_intent", "low_intent", "spam", "wrong_fit"])
        parser.add_argument("--decision", choices=["auto_send", "review", "discard"])
        parser.add_argument("--source", help="A webhook source slug or a channel (form, import…).")
        parser.add_argument("--since", type=since, help="Created at or after (ISO 8601).")
        parser.add_argument("--output", "-o", help="A file to write (default: stdout).")

    def handle(self, *args, label, decision, source, since, output, **options):
        queryset = leads(label=label, decision=decision, source=source, created_since=since)
        stream = open(output, "w", newline="", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
        count = -1
        try:
            for line in csv_lines(queryset):
                stream.write(line)
                count += 1
        finally:
            if output:
                stream.close()
        if output:
            self.stderr.write(f"Wrote {count} lead(s) to {output}.")
