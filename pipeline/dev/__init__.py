"""Developer tools as a Django app, installed only when DEBUG or LEADOPS_DEV_APPS is on.

Owns the fakes of the outside world that developers and the tests share (a fake Anthropic
Messages API, a fake HubSpot, an SMTP server on loopback) and the commands that use them
(`fake_anthropic`, `bench_pipeline`). Production code must not import this package; it imports
nothing of tests/.
"""
