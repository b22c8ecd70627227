"""Merge two leads that turn out to be one person, keeping both histories."""

from django.core.management.base import BaseCommand, CommandError

from pipeline.intake.people import merge_leads
from pipeline.models import Lead


class Command(BaseCommand):
    help = (
        "Merge lead OTHER into lead KEEP: OTHER's submissions, runs, drafts, emails and audit "
        "trail move to KEEP, then OTHER is deleted. KEEP keeps its email and dedupe keys."
    )

    def add_arguments(self, parser):
        parser.add_argument("keep", type=int, help="The id of the lead that stays.")
        parser.add_argument("other", type=int, help="The id of the lead merged into it.")
        parser.add_argument("--reason", default="", help="Why, for the log.")

    def handle(self, *args, **options):
        leads = Lead.objects.in_bulk([options["keep"], options["other"]])
        missing = [str(pk) for pk in (options["keep"], options["other"]) if pk not in leads]
        if missing:
            raise CommandError(f"no lead with id {', '.join(missing)}")
        try:
            merge = merge_leads(
                leads[options["keep"]], leads[options["other"]], reason=options["reason"]
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        moved = ", ".join(f"{count} {name}" for name, count in sorted(merge.moved.items()))
        self.stdout.write(
            f"Merged lead {merge.merged_id} into lead {merge.kept_id}: moved {moved or 'nothing'}."
        )
