"""Rows only the engine benchmark and the engine's tests write; not in the production schema."""

from django.db import models


class StepExecution(models.Model):
    """One row each time a step function body actually ran.

    Written by the synthetic benchmark pipeline and the engine's tests, which count rows to
    prove that every step ran exactly once.
    """

    step_run = models.ForeignKey(
        "pipeline.StepRun", on_delete=models.CASCADE, related_name="executions"
    )
    worker = models.CharField(max_length=120)
    executed_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"execution of step {self.step_run_id} by {self.worker}"
