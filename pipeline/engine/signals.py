"""What the engine tells the apps built on it, as Django signals: it imports none of them."""

from django.dispatch import Signal

# A step that was running when its run stopped (cancelled, or ended otherwise) has recorded its
# outcome into the stopped run: its output, or its error. Sent with `run_id` and `step_run_id`
# inside the transaction that recorded it, under the run's lock, so what a receiver writes
# commits with that outcome. Receivers' errors are logged, never raised into the engine.
step_finished_in_stopped_run = Signal()
