"""The fake SMTP server lives in the dev app (bench_pipeline serves it too); tests import it here."""

from pipeline.dev.fake_smtp import FakeSMTP, Received

__all__ = ["FakeSMTP", "Received"]
