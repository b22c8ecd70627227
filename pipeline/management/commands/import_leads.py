"""Backfill leads from a CSV (header row) or JSONL file; bad rows are reported, not fatal."""

import logging
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from pipeline.intake.batch import FORMATS, Progress, read_rows
from pipeline.intake.errors import IntakeError
from pipeline.intake.rows import StoredNotRun, describe_error, parse_column_map, receive_row
from pipeline.intake.sources import mapping_problem
from pipeline.models import Submission, WebhookSource

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Import leads from a CSV file with a header row, or a JSONL file (one object a line). "
        "Each row becomes a submission (deduplicated by email, else phone) and starts a run."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=FORMATS, help="Default: from the file name.")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="COLUMN=FIELD",
            help="Map a column to one of our fields (name, email, phone, company, website, "
            "message); repeatable. Common names (Email, Full Name, Phone Number...) map "
            "themselves; other columns are kept as custom fields.",
        )
        parser.add_argument(
            "--source",
            metavar="SLUG",
            help="Attribute rows to this webhook source and use its field mapping.",
        )
        parser.add_argument(
            "--inline",
            action="store_true",
            help="Run each lead's pipeline in this process instead of queueing it.",
        )
        parser.add_argument(
            "--again",
            action="store_true",
            help="Import rows this command imported before (the same values, mapping and "
            "source) once more; by default they are skipped, so a file can be imported again "
            "after a stop part way.",
        )

    def handle(self, *args, **options):
        path: Path = options["file"]
        try:
            mapping = parse_column_map(options["map"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        source = None
        if options["source"]:
            source = WebhookSource.objects.filter(slug=options["source"]).first()
            if source is None:
                raise CommandError(f"no webhook source with slug {options['source']!r}")
            mapping = {**source.field_mapping, **mapping}
        problem = mapping_problem(mapping)
        if problem:
            raise CommandError(problem)
        try:
            rows = read_rows(path, file_format=options["format"])
        except (OSError, ValueError) as error:
            raise CommandError(f"cannot read {path}: {error}") from None

        progress = Progress(self.stdout, len(rows))
        counts = {"new": 0, "existing": 0, "before": 0, "failed": 0}
        with rows:
            for done, row in enumerate(rows, start=1):
                error = row.error or self._import(row, mapping, source, options, counts, progress)
                if error:
                    counts["failed"] += 1
                    progress.clear()
                    self.stderr.write(f"line {row.line}: {error}")
                progress.update(done)
        progress.finish()

        imported = counts["new"] + counts["existing"]
        how = "processed" if options["inline"] else "queued"
        before = f"{counts['before']} imported before (skipped); " if counts["before"] else ""
        self.stdout.write(
            f"Imported {imported} of {len(rows)} rows: {counts['new']} new leads, "
            f"{counts['existing']} known leads; {before}{imported} runs {how}; "
            f"{counts['failed']} errors."
        )
        if counts["failed"]:
            raise CommandError(f"{counts['failed']} row(s) were not imported (see above)")

    def _import(self, row, mapping, source, options, counts, progress) -> str:
        try:
            receipt, _ = receive_row(
                row.data,
                channel=Submission.Channel.IMPORT,
                mapping=mapping,
                source=source,
                inline=options["inline"],
                once=not options["again"],
            )
        except IntakeError as error:
            return describe_error(error)
        except StoredNotRun as stored:  # imported all the same: said, not counted as an error
            receipt = stored.receipt
            progress.clear()
            self.stderr.write(f"line {row.line}: {stored}")
        except Exception as error:  # one broken row must not stop a backfill
            logger.exception("import.row_failed")
            return f"internal error ({type(error).__name__}); see the log"
        if receipt.is_replay:
            counts["before"] += 1
        else:
            counts["existing" if receipt.duplicate_of else "new"] += 1
        return ""
