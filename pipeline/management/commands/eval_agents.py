"""Measure the classification agent on a labelled set of submissions.

python manage.py eval_agents [--strategy rules|claude] [--file pipeline/agents/data/labelled_leads.jsonl]
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from pipeline.agents.evaluate import evaluate, load_labelled
from pipeline.agents.learned import DATA_DIR

DEFAULT_FILE = DATA_DIR / "labelled_leads.jsonl"


class Command(BaseCommand):
    help = "Print accuracy, per-label precision/recall and a confusion matrix for the classifier."

    def add_arguments(self, parser):
        parser.add_argument("--strategy", choices=("rules", "claude"), default="rules")
        parser.add_argument("--file", default=str(DEFAULT_FILE), help="JSON lines, one lead a line")
        parser.add_argument(
            "--show-mistakes",
            action="store_true",
            help="List the ids of misclassified rows (ids only, never their text).",
        )

    def handle(self, *args, strategy: str, file: str, show_mistakes: bool, **options):
        path = Path(file)
        if not path.exists():
            raise CommandError(f"{path} does not exist")
        if strategy == "claude" and not settings.ANTHROPIC_API_KEY:
            raise CommandError(
                "--strategy claude needs ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL for the fake)"
            )
        rows = load_labelled(path)
        report = evaluate(rows, strategy=strategy)
        self.stdout.write(f"{path.name}, strategy {strategy}")
        self.stdout.write(report.format(show_mistakes=show_mistakes))
