"""Regenerate the rules classifier's model weights from the development sets, deterministically.

python manage.py train_classifier            # write pipeline/agents/data/classifier_weights.json
python manage.py train_classifier --check    # fail if the shipped weights are not reproducible
python manage.py train_classifier --cross-validate   # leave-one-file-out figures, writes nothing
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from pipeline.agents import learned
from pipeline.agents.evaluate import LABELS
from pipeline.agents.training import TRAINING_FILES, cross_validate, train_classifier


class Command(BaseCommand):
    help = "Train the rules classifier's model on the development sets (never the held-out set)."

    def add_arguments(self, parser):
        parser.add_argument("--output", default=str(learned.WEIGHTS_PATH))
        parser.add_argument(
            "--check", action="store_true", help="Compare with --output instead of writing it."
        )
        parser.add_argument(
            "--cross-validate",
            action="store_true",
            help="Train on all files but one and measure on that one, for each file.",
        )

    def handle(self, *args, output: str, check: bool, cross_validate: bool, **options):
        if cross_validate:
            self._cross_validate()
            return
        model = train_classifier(TRAINING_FILES)
        text = model.to_json()
        path = Path(output)
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                raise CommandError(
                    f"{path} differs from a fresh training run; run train_classifier"
                )
            self.stdout.write(f"{path} is up to date")
            return
        path.write_text(text, encoding="utf-8")
        learned.load_model.cache_clear()
        self.stdout.write(f"wrote {path}: {model.meta['rows']} rows, {len(model.weights)} features")

    def _cross_validate(self) -> None:
        folds = cross_validate(TRAINING_FILES)
        for fold in folds:
            per_label = "  ".join(
                f"{label} P {fold.precision(label):.3f} R {fold.recall(label):.3f}"
                for label in LABELS
            )
            self.stdout.write(
                f"{fold.name:<22} n={fold.total:<4} accuracy {fold.accuracy:.3f}  {per_label}"
            )
        total = sum(fold.total for fold in folds)
        correct = sum(fold.accuracy * fold.total for fold in folds)
        self.stdout.write(f"pooled accuracy {correct / total:.3f} over {total} rows")
