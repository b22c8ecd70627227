"""Sending signed webhook deliveries in tests, the way a Standard Webhooks sender does."""

import contextlib
import json
import time
import uuid
from datetime import UTC, datetime

from django.db import connection
from standardwebhooks.webhooks import Webhook

from pipeline.intake.sources import create_webhook_source


def make_source(name="Website", **overrides):
    source, secret = create_webhook_source(name, **overrides)
    return source, secret


def sign(secret: str, body: bytes, *, webhook_id: str, timestamp: int) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return Webhook(secret).sign(webhook_id, moment, body.decode("utf-8"))


def deliver(
    client,
    source,
    secret,
    payload=None,
    *,
    body: bytes | None = None,
    content_type="application/json",
    webhook_id=None,
    timestamp=None,
    signature=None,
    extra_headers=None,
    door="webhooks",
):
    """POST a signed delivery to /<door>/<slug>/; returns the response. `body` wins over
    `payload`."""
    if body is None:
        body = json.dumps(payload if payload is not None else {}).encode()
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    if signature is None:
        signature = sign(secret, body, webhook_id=webhook_id, timestamp=timestamp)
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
        **(extra_headers or {}),
    }
    return client.post(
        f"/{door}/{source.slug}/", data=body, content_type=content_type, headers=headers
    )


@contextlib.contextmanager
def statements():
    """The statements sent meanwhile: {"data": [...], "savepoints": [...]}."""
    sent: dict[str, list[str]] = {"data": [], "savepoints": []}

    def record(execute, sql, params, many, context):
        # SQLite's transactions open with a statement (BEGIN IMMEDIATE); PostgreSQL's do not pass
        # through the wrapper: neither is counted.
        if not sql.upper().startswith("BEGIN"):
            sent["savepoints" if "SAVEPOINT" in sql.upper() else "data"].append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield sent


def queued() -> list[tuple[str, tuple]]:
    """Every task waiting on this process's django-q2 broker, taken off it in the order a worker
    takes them: (function, args)."""
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    broker = get_broker()
    tasks = []
    while broker.queue_size():
        for task_id, payload in broker.dequeue() or []:
            task = SignedPackage.loads(payload)
            tasks.append((task["func"], tuple(task["args"])))
            broker.acknowledge(task_id)
    return tasks
