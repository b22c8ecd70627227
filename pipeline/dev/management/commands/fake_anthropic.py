"""Run the fake Anthropic Messages API by hand, to try or benchmark the claude strategy offline.

    python manage.py fake_anthropic --port 8765 --latency 0.4
    ANTHROPIC_API_KEY=fake ANTHROPIC_BASE_URL=http://127.0.0.1:8765 python manage.py eval_agents --strategy claude

The fake (pipeline.dev.fake_anthropic) answers each agent's tool schema with plausible content
and realistic usage. The command exists where the dev app is installed (DEBUG or
LEADOPS_DEV_APPS). Inject failures with
    curl -X POST localhost:8765/_control/fail -d '{"kinds": ["429", "529"]}'
"""

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Serve a fake Anthropic Messages API on loopback (for local runs and benchmarks)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--host", default="127.0.0.1", help="Loopback only, by design.")
        parser.add_argument(
            "--latency", type=float, default=0.0, help="Seconds added to each answer."
        )
        parser.add_argument(
            "--fail",
            action="append",
            default=[],
            help="Queue a failure for the next requests: 429, 529, 500, timeout, invalid, text, unsafe.",
        )

    def handle(self, *args, port: int, host: str, latency: float, fail: list[str], **options):
        if not host.startswith("127.") and host not in ("localhost", "::1"):
            raise CommandError("The fake only listens on loopback addresses.")
        from pipeline.dev.fake_anthropic import FakeAnthropic

        fake = FakeAnthropic(host=host, port=port, latency=latency)
        if fail:
            fake.fail_next(*fail)
        self.stdout.write(f"Fake Anthropic API on {fake.url} (latency {latency}s). Ctrl-C to stop.")
        self.stdout.flush()
        try:
            fake.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            fake.stop()
