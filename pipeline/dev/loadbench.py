"""The whole system on loopback, for `bench_pipeline` and the fault tests.

`Deployment` starts what production runs, for real: gunicorn serving the app
(deploy/gunicorn.conf.py) and a django-q2 worker cluster, both on the configured database and
broker, plus the outside world as fakes on loopback: the Claude Messages API (realistic usage
figures, a latency per call, optional random 529s and timeouts), company websites, HubSpot and
an SMTP server. `send_webhooks` submits signed Standard Webhooks deliveries from this process
at a given concurrency; `wait_settled` waits until every run is decided; `pipeline_figures` and
`integrity` read the results back from the database and the fakes.

A lead is "settled" (decided) when its run succeeded, failed, was cancelled or rejected, or
waits for a reviewer at the gate.
"""

from __future__ import annotations

import contextlib
import gc
import http.client
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import connection
from django.db.models import Count, Sum
from standardwebhooks.webhooks import Webhook

from pipeline import engine
from pipeline.dev import cluster as child
from pipeline.dev.fake_anthropic import FakeAnthropic
from pipeline.dev.fake_hubspot import FakeHubSpot
from pipeline.dev.fake_smtp import FakeSMTP
from pipeline.dev.fake_websites import FakeWebsites
from pipeline.models import Lead, OutboundEmail, PipelineRun, StepRun, Submission, WebhookSource
from pipeline.step_names import ENRICH

SETTLED = (*PipelineRun.FINISHED, PipelineRun.Status.WAITING)
LABELS = ("high_intent", "low_intent", "spam", "wrong_fit")
HUBSPOT_TOKEN = "pat-na1-bench-token"  # noqa: S105 - the fake's token, nothing real

_MESSAGES = {
    "high_intent": (
        "Hi, we're a 120-person logistics company replacing our spreadsheet-based lead "
        "tracking this quarter. Could we get a demo next week and pricing for 15 seats? "
        "Budget is approved."
    ),
    "low_intent": "Hello, I came across your site and wondered what kind of teams use it.",
    "spam": (
        "Boost your rankings! Our SEO backlinks package is on sale: "
        "http://cheap-links.example/offer and http://cheap-links.example/more"
    ),
    "wrong_fit": "Hi, I would like to apply for the developer position. My CV is attached.",
}


@dataclass(frozen=True)
class LeadPayload:
    label: str
    email: str
    body: dict[str, str]


def lead_payloads(count: int, websites: FakeWebsites, *, token: str) -> list[LeadPayload]:
    """`count` leads, the four labels in turn, each a different person and company."""
    payloads = []
    for number in range(count):
        label = LABELS[number % len(LABELS)]
        slug = f"company-{token}-{number}"
        email = f"lead-{number}@{slug}.example"
        body = {"name": f"Dana Reyes {number}", "email": email, "message": _MESSAGES[label]}
        if label in ("high_intent", "low_intent"):
            body |= {"company": slug.replace("-", " ").title(), "website": websites.site(slug)}
        payloads.append(LeadPayload(label, email, body))
    return payloads


# --- Processes --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Web:
    """gunicorn with deploy/gunicorn.conf.py in a process group of its own."""

    def __init__(self, env: Mapping[str, str], *, workers: int, log_path: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env, "WEB_CONCURRENCY": str(workers)}
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 60.0) -> Web:
        base = Path(settings.BASE_DIR)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-c",
                    str(base / "deploy" / "gunicorn.conf.py"),
                    "-b",
                    f"127.0.0.1:{self.port}",
                    "--access-logfile",
                    "/dev/null",
                    "leadops.wsgi",
                ],
                cwd=base,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn exited:\n" + self.log())
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/healthz", timeout=2).status_code in (200, 503):
                    return self
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout:g} s:\n" + self.log())

    def pids(self) -> list[int]:
        return group_pids(self.process.pid) if self.process else []

    def stop(self, *, grace_seconds: float = 10.0) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace_seconds)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except FileNotFoundError:
            return ""


def group_pids(group: int) -> list[int]:
    return [
        pid
        for pid in child._all_pids()
        if child._process_group(pid) == group and not child._is_zombie(pid)
    ]


def cpu_seconds(group: int) -> float:
    """User + system CPU time of the live processes of a process group so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in group_pids(group):
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def _process_cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _pids_named(name: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/comm") as handle:
                if handle.read().strip() == name:
                    found.append(int(entry))
    return found


def _machine_cpu_seconds() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine since boot, every core added up."""
    with open("/proc/stat") as handle:
        ticks = [int(value) for value in handle.readline().split()[1:9]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    per_second = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / per_second, sum(ticks) / per_second


class CpuMeter:
    """Where a measured window's CPU went: the web processes, this process (the sender),
    PostgreSQL's and Redis's server processes, and the whole machine.

    Only local servers are seen (a database on another host counts as nothing); processes
    that end inside the window lose their share.
    """

    def __init__(self, web_group: int) -> None:
        self.web_group = web_group
        self.started = self._sample()

    def _sample(self) -> dict[str, float]:
        busy, total = _machine_cpu_seconds()
        return {
            "web": cpu_seconds(self.web_group),
            "sender": time.process_time(),
            "postgres": sum(_process_cpu_seconds(pid) for pid in _pids_named("postgres")),
            "redis": sum(_process_cpu_seconds(pid) for pid in _pids_named("redis-server")),
            "machine": busy,
            "machine_all": total,
        }

    def per_request(self, count: int) -> dict[str, float]:
        """Milliseconds of CPU per request since the meter started, by part, and the share of
        the machine's cores that was busy."""
        now = self._sample()
        spent = {key: now[key] - self.started[key] for key in now}
        figures = {
            f"intake_{key}_cpu_ms_per_request": round(spent[key] / count * 1000, 2)
            for key in ("web", "sender", "postgres", "redis", "machine")
        }
        figures["intake_machine_busy"] = (
            round(spent["machine"] / spent["machine_all"], 3) if spent["machine_all"] else None
        )
        return figures


def deployment_memory_mib(groups: Iterable[int]) -> dict[str, float]:
    """PSS (shared pages split fairly) and RSS of every process in these process groups."""
    pss = rss = 0
    processes = 0
    for group in groups:
        for pid in group_pids(group):
            sample = child.memory_kib(pid)
            if sample:
                processes += 1
                pss += sample.get("pss", 0)
                rss += sample.get("rss", 0)
    return {
        "pss_mib": round(pss / 1024, 1),
        "rss_mib": round(rss / 1024, 1),
        "processes": processes,
    }


# --- The deployment ---------------------------------------------------------------------------


@dataclass
class Options:
    workers: int = 4
    threads: int = 1
    web_workers: int = 4
    broker: str = "orm"
    llm_latency: float = 1.0
    fetch_latency: float = 0.2
    llm_failure_rates: dict[str, float] = field(default_factory=dict)
    lease_seconds: int = 30
    with_cluster: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)


class Deployment:
    """Fakes, a worker cluster and gunicorn on the configured database; stop() ends them all."""

    def __init__(self, options: Options, *, work_dir: Path | None = None) -> None:
        self.options = options
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="leadops-bench-"))
        self.metrics_dir = self.work_dir / "metrics"
        self.metrics_dir.mkdir(exist_ok=True)
        self.token = secrets.token_hex(3)
        self.queue = f"{settings.Q_CLUSTER['name']}-load-{self.token}"
        self.redis_url = settings.REDIS_URL if options.broker == "redis" else None
        if options.broker == "redis" and not self.redis_url:
            raise RuntimeError("--broker redis needs REDIS_URL")
        self.claude = FakeAnthropic(
            latency=options.llm_latency,
            failure_rates=options.llm_failure_rates,
            slow_seconds=60.0,
            min_cacheable_tokens=256,
        )
        self.websites = FakeWebsites(latency=options.fetch_latency)
        self.hubspot = FakeHubSpot(token=HUBSPOT_TOKEN)
        self.smtp = FakeSMTP()
        self.clusters: list[child.Cluster] = []
        self.web: Web | None = None
        self.source: WebhookSource | None = None
        self.secret = ""
        self._stack = contextlib.ExitStack()

    def env(self) -> dict[str, str]:
        """What the cluster and gunicorn share: one database, one queue, the fakes."""
        env = {
            # Production mode (DEBUG keeps every SQL statement in memory): the settings of a
            # deployment, with this process's secret key.
            "DEBUG": "0",
            "SECRET_KEY": settings.SECRET_KEY,
            "DATABASE_URL": child.database_url(),
            "Q_NAME": self.queue,
            "Q_BROKER": self.options.broker,
            "Q_WORKERS": str(self.options.workers),
            "ENGINE_THREADS": str(self.options.threads),
            "LOG_LEVEL": "warning",
            "ENGINE_PIPELINE_MODULES": "pipeline.dev.sequential",
            "ENGINE_LEASE_SECONDS": str(self.options.lease_seconds),
            "ANTHROPIC_API_KEY": "fake-bench-key",
            "ANTHROPIC_BASE_URL": self.claude.url,
            "LLM_TIMEOUT_SECONDS": "10",
            "CRM_ADAPTER": "hubspot",
            "HUBSPOT_TOKEN": HUBSPOT_TOKEN,
            "HUBSPOT_BASE_URL": self.hubspot.url,
            "HUBSPOT_MAX_RETRY_AFTER_SECONDS": "2",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.smtp.port),
            "ENRICH_ALLOW_PRIVATE_ADDRESSES": "1",
            # Every lead is another company; no cache makes each one fetch its site.
            "ENRICH_CACHE_TTL_HOURS": "0",
            "ENRICH_READ_TIMEOUT": "3",
            "ENRICH_BUDGET_SECONDS": "6",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "WEBHOOK_RATE_LIMIT_PER_MINUTE": "1000000",
            "REVIEW_UNDO_SECONDS": "0",
            # As in production: every process's counters in one directory, emptied at start.
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
        }
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        return env | self.options.extra_env

    def start(self) -> Deployment:
        from django.core.management import call_command

        from pipeline.intake.sources import create_webhook_source

        try:
            # The database cache (rate limits, the CRM's limiter) when there is no Redis.
            call_command("createcachetable", verbosity=0)
            for fake in (self.claude, self.websites, self.hubspot, self.smtp):
                self._stack.enter_context(fake)
            self._stack.enter_context(child.use_queue(self.queue, redis_url=self.redis_url))
            self._stack.callback(child.purge_queue, self.queue, redis_url=self.redis_url)
            self.source, self.secret = create_webhook_source(
                f"Load bench {self.token}", rate_limit_per_minute=1_000_000
            )
            add_reviewers(self.token)
            if self.options.with_cluster:
                self.start_cluster()
            self.web = Web(
                self.env(), workers=self.options.web_workers, log_path=self.work_dir / "web.log"
            )
            self._stack.callback(self.web.stop)
            self.web.start()
        except BaseException:
            self.stop()
            raise
        return self

    def start_cluster(self, **env: str) -> child.Cluster:
        cluster = child.Cluster(
            self.env() | env, log_path=self.work_dir / f"cluster-{len(self.clusters)}.log"
        )
        self.clusters.append(cluster)
        self._stack.callback(cluster.stop, grace_seconds=3)
        return cluster.start()

    @property
    def cluster(self) -> child.Cluster:
        return self.clusters[-1]

    def stop(self) -> None:
        self._stack.close()

    def __enter__(self) -> Deployment:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def memory_mib(self) -> dict[str, float]:
        groups = [cluster.pid for cluster in self.clusters if cluster.is_running()]
        if self.web and self.web.process:
            groups.append(self.web.process.pid)
        return deployment_memory_mib(groups)

    def cluster_logs(self) -> str:
        return "\n".join(f"--- {c.log_path}:\n{c.log()[-2000:]}" for c in self.clusters)


# --- Intake -----------------------------------------------------------------------------------


@dataclass
class Delivery:
    payload: LeadPayload
    sent_at: float = 0.0  # wall clock, to compare with the database's timestamps
    latency_ms: float = 0.0
    app_ms: float | None = None  # the view's own time (Server-Timing), the rest is around it
    status: int = 0
    run_id: int | None = None
    lead_id: int | None = None
    submission_id: int | None = None
    deferred: bool = False  # answered {"deferred": true}: a worker starts the run later
    error: str = ""


class KeptAlive:
    """One HTTP/1.1 connection to one server, kept open between requests (http.client).

    The sender shares the machine's cores with the server it measures: this costs about a
    third of the CPU per request that a requests.Session does. A connection the server closed
    while idle is opened again and the request sent once more (webhooks are idempotent by
    their webhook-id).
    """

    def __init__(self, url: str, *, timeout: float = 30) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.timeout = parts.hostname, parts.port, timeout
        self.connection: http.client.HTTPConnection | None = None
        self.headers: http.client.HTTPMessage | None = None

    def request(
        self, method: str, url: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, bytes]:
        """Send one request; (status, body). The answer's headers stay in `self.headers`."""
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        for attempt in (1, 2):
            reused = self.connection is not None
            if self.connection is None:
                self.connection = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout
                )
            try:
                self.connection.request(method, path, body=body, headers=headers or {})
                response = self.connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if not reused or attempt == 2:
                    raise
                continue
            except (OSError, http.client.HTTPException):
                self.close()
                raise
            self.headers = response.headers
            if response.will_close:
                self.close()
            return response.status, data
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def thread_client(local: threading.local, url: str) -> KeptAlive:
    """The calling thread's connection to `url`'s server (one kept alive per sending thread)."""
    if not hasattr(local, "client"):
        local.client = KeptAlive(url)
    return local.client


def send_webhooks(
    url: str,
    secret: str,
    payloads: list[LeadPayload],
    *,
    concurrency: int,
    in_flight: int | None = None,
    rate: float | None = None,
) -> tuple[list[Delivery], float]:
    """POST each payload, signed, `concurrency` at a time. Returns the deliveries and seconds.

    With `in_flight`, a webhook is sent only while fewer than that many leads are undecided:
    latency measured below the system's capacity instead of a burst queueing for it.
    With `rate`, webhook i is due at i / rate seconds (arrivals at a steady pace, at most
    `concurrency` in flight) and its latency counts from when it was due, so a sender held up by
    a slow server does not hide the wait (coordinated omission).
    """
    import json

    signer = Webhook(secret)
    local = threading.local()
    deliveries = [Delivery(payload) for payload in payloads]

    def deliver(delivery: Delivery, due: float | None = None) -> None:
        body = json.dumps(delivery.payload.body)
        webhook_id = f"msg_{secrets.token_hex(12)}"
        now = datetime.now(tz=UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signer.sign(webhook_id, now, body),
        }
        if due is not None:
            time.sleep(max(0.0, due - time.perf_counter()))
        delivery.sent_at = time.time()
        began = time.perf_counter() if due is None else due
        client = thread_client(local, url)
        try:
            status, answer_body = client.request("POST", url, body=body.encode(), headers=headers)
        except (OSError, http.client.HTTPException) as error:
            delivery.error = f"{type(error).__name__}: {error}"
            delivery.latency_ms = (time.perf_counter() - began) * 1000
            return
        delivery.latency_ms = (time.perf_counter() - began) * 1000
        delivery.status = status
        delivery.app_ms = server_timing(client.headers.get("Server-Timing", ""), "app")
        if status == 202:
            answer = json.loads(answer_body)
            delivery.run_id, delivery.lead_id = answer.get("run_id"), answer.get("lead_id")
            delivery.submission_id = answer.get("submission_id")
            delivery.deferred = bool(answer.get("deferred"))
        else:
            delivery.error = answer_body.decode("utf-8", "replace")[:300]

    with frozen_heap():
        return _send(deliveries, deliver, concurrency=concurrency, in_flight=in_flight, rate=rate)


@contextlib.contextmanager
def frozen_heap():
    """While measuring: this process's objects so far (Django, the fakes, the payloads) out of
    the collector's reach. A full collection walking them stops every sending thread for about
    150 ms, which the slowest hundredth of the webhooks would show as the server's latency."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _send(deliveries, deliver, *, concurrency, in_flight, rate) -> tuple[list[Delivery], float]:
    began = time.perf_counter()
    if in_flight:
        for delivery in deliveries:
            wait_below(in_flight, [d.run_id for d in deliveries if d.run_id])
            deliver(delivery)
        return deliveries, time.perf_counter() - began
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        if rate:
            start = time.perf_counter() + 0.05
            dues = [start + number / rate for number in range(len(deliveries))]
            list(pool.map(deliver, deliveries, dues))
        else:
            list(pool.map(deliver, deliveries))
    return deliveries, time.perf_counter() - began


def server_timing(header: str, name: str) -> float | None:
    """The `dur` of metric `name` in a Server-Timing header ("app;dur=2.1, db;dur=0.4")."""
    for metric in header.split(","):
        parts = [part.strip() for part in metric.split(";")]
        if parts[0] == name:
            for parameter in parts[1:]:
                key, _, value = parameter.partition("=")
                if key.strip() == "dur":
                    with contextlib.suppress(ValueError):
                        return float(value.strip().strip('"'))
    return None


def send_gets(url: str, count: int, *, concurrency: int) -> tuple[list[Delivery], float]:
    """GET `url` `count` times, `concurrency` at a time, from the same kind of sender as
    send_webhooks(). On a webhook URL the answer is a 405 decided before any database work:
    the most requests a second this machine, this web server and this sender manage at all."""
    local = threading.local()
    deliveries = [Delivery(LeadPayload("", "", {})) for _ in range(count)]

    def fetch(delivery: Delivery) -> None:
        began = time.perf_counter()
        try:
            delivery.status, _ = thread_client(local, url).request("GET", url)
        except (OSError, http.client.HTTPException) as error:
            delivery.error = f"{type(error).__name__}: {error}"
        delivery.latency_ms = (time.perf_counter() - began) * 1000

    with frozen_heap():
        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(fetch, deliveries))
        return deliveries, time.perf_counter() - began


def settle_deferred(
    deliveries: list[Delivery], *, process_here: bool, stall_seconds: float = 120
) -> dict[str, Any]:
    """Deliveries answered {"deferred": true}: wait for (or, with process_here, do) the work
    intake left to a worker, then note each one's lead and run as the answer would have.
    Gives up when none is done for `stall_seconds`.

    Returns how many there were and how long that work took after the last webhook.
    """
    from pipeline.intake.receive import process_submission

    deferred = {d.submission_id: d for d in deliveries if d.deferred and d.submission_id}
    began = time.perf_counter()
    if process_here:
        for submission_id in deferred:
            process_submission(submission_id)
    answers: dict[int, dict] = {}
    progress = began
    while True:
        done = dict(
            Submission.objects.filter(pk__in=list(deferred))
            .exclude(response={})
            .values_list("pk", "response")
        )
        if len(done) > len(answers):
            answers, progress = done, time.perf_counter()
        if len(answers) == len(deferred) or time.perf_counter() - progress > stall_seconds:
            break
        time.sleep(0.1)
    seconds = progress - began
    for submission_id, answer in answers.items():
        delivery = deferred[submission_id]
        delivery.run_id, delivery.lead_id = answer.get("run_id"), answer.get("lead_id")
    return {
        "deferred": len(deferred),
        "deferred_unprocessed": len(deferred) - len(answers),
        "deferred_seconds": round(seconds, 2) if deferred else None,
        "deferred_per_s": round(len(deferred) / seconds, 1) if deferred and seconds else None,
    }


def wait_below(limit: int, run_ids: list[int], *, interval: float = 0.05) -> None:
    """Block while `limit` or more of these runs are undecided."""
    while len(run_ids) >= limit and len(unsettled(run_ids)) >= limit:
        time.sleep(interval)


def intake_figures(deliveries: list[Delivery], seconds: float) -> dict[str, Any]:
    latencies = [d.latency_ms for d in deliveries if d.status]
    in_app = [d.app_ms for d in deliveries if d.app_ms is not None]
    statuses = Counter(d.status for d in deliveries)
    return {
        "intake_requests": len(deliveries),
        "intake_seconds": round(seconds, 3),
        "intake_rps": round(len(deliveries) / seconds, 1) if seconds else None,
        "intake_ms_p50": _round(percentile(latencies, 50), 1),
        "intake_ms_p95": _round(percentile(latencies, 95), 1),
        "intake_ms_p99": _round(percentile(latencies, 99), 1),
        # The view's own share (its Server-Timing): the rest is waiting for a web thread and a
        # core, the network and the sender.
        "intake_app_ms_p50": _round(percentile(in_app, 50), 1),
        "intake_app_ms_p95": _round(percentile(in_app, 95), 1),
        "intake_app_ms_p99": _round(percentile(in_app, 99), 1),
        "intake_5xx": sum(n for status, n in statuses.items() if status >= 500),
        "intake_other_errors": sum(n for status, n in statuses.items() if status != 202)
        - sum(n for status, n in statuses.items() if status >= 500),
        "intake_transport_errors": sum(1 for d in deliveries if d.error and not d.status),
    }


# --- Waiting and reading the results back ----------------------------------------------------


def unsettled(run_ids: Iterable[int]) -> set[int]:
    ids = list(run_ids)
    if not ids:
        return set()
    done = set(
        PipelineRun.objects.filter(pk__in=ids, status__in=SETTLED).values_list("pk", flat=True)
    )
    return set(ids) - done


def wait_settled(
    run_ids: Iterable[int],
    *,
    stall_seconds: float,
    on_poll: Callable[[], None] | None = None,
    interval: float = 0.5,
) -> set[int]:
    """Poll until every run is settled, or none settled for `stall_seconds`. Returns the rest."""
    pending = set(run_ids)
    last_progress = time.monotonic()
    while pending:
        if on_poll:
            on_poll()
        still = unsettled(pending)
        if len(still) < len(pending):
            last_progress = time.monotonic()
        pending = still
        if not pending or time.monotonic() - last_progress > stall_seconds:
            break
        time.sleep(interval)
    return pending


def settled_at(run_ids: list[int]) -> dict[int, datetime]:
    """When each run was decided: its finish, or for a run waiting at the gate, the wait."""
    moments: dict[int, datetime] = {}
    for row in PipelineRun.objects.filter(pk__in=run_ids, status__in=SETTLED).values(
        "pk", "finished_at"
    ):
        if row["finished_at"]:
            moments[row["pk"]] = row["finished_at"]
    waiting = [run_id for run_id in run_ids if run_id not in moments]
    for row in StepRun.objects.filter(run_id__in=waiting).values(
        "run_id", "started_at", "finished_at"
    ):
        moment = row["finished_at"] or row["started_at"]
        if moment and (row["run_id"] not in moments or moment > moments[row["run_id"]]):
            moments[row["run_id"]] = moment
    return moments


def critical_paths(run_ids: list[int], *, llm_latency: float, fetch_latency: float) -> dict:
    """Per run, the longest chain of waits the fakes imposed: a lower bound for its duration.

    A step that called Claude waits `llm_latency` (one call; retries and repairs not counted);
    the enrichment waits `fetch_latency` per page it got; skipped steps wait nothing.
    """
    steps_by_run: dict[int, dict[str, float]] = {}
    names: dict[int, str] = dict(
        PipelineRun.objects.filter(pk__in=run_ids).values_list("pk", "pipeline_name")
    )
    for row in StepRun.objects.filter(run_id__in=run_ids).values(
        "run_id", "name", "status", "model", "output"
    ):
        weight = 0.0
        if row["status"] != StepRun.Status.SKIPPED:
            if row["model"]:
                weight += llm_latency
            if row["name"] == ENRICH and isinstance(row["output"], dict):
                # The fake answers a page after fetch_latency, anything else (404s) at once.
                fetches = row["output"].get("fetches", [])
                weight += fetch_latency * sum(1 for f in fetches if f.get("status") == 200)
        steps_by_run.setdefault(row["run_id"], {})[row["name"]] = weight
    paths = {}
    for run_id, weights in steps_by_run.items():
        definition = engine.get_pipeline(names[run_id])
        longest: dict[str, float] = {}
        for name in definition.order:
            before = max((longest[need] for need in definition.step(name).needs), default=0.0)
            longest[name] = before + weights.get(name, 0.0)
        paths[run_id] = max(longest.values(), default=0.0)
    return paths


def run_durations(run_ids: list[int]) -> dict[int, float]:
    """Seconds from each run's start to its decision."""
    started = dict(PipelineRun.objects.filter(pk__in=run_ids).values_list("pk", "started_at"))
    return {
        run_id: (moment - started[run_id]).total_seconds()
        for run_id, moment in settled_at(run_ids).items()
        if started.get(run_id)
    }


def pipeline_figures(
    deliveries: list[Delivery], *, llm_latency: float, fetch_latency: float
) -> dict[str, Any]:
    sent = {d.run_id: d.sent_at for d in deliveries if d.run_id}
    run_ids = list(sent)
    moments = settled_at(run_ids)
    decision = {run_id: moment.timestamp() - sent[run_id] for run_id, moment in moments.items()}
    paths = critical_paths(run_ids, llm_latency=llm_latency, fetch_latency=fetch_latency)
    ratios = [decision[r] / paths[r] for r in decision if paths.get(r)]
    durations = run_durations(run_ids)
    span = None
    if moments:
        span = max(m.timestamp() for m in moments.values()) - min(sent.values())
    decisions = Counter(
        PipelineRun.objects.filter(pk__in=run_ids).values_list("decision", flat=True)
    )
    return {
        "decision_s_p50": _round(percentile(list(decision.values()), 50), 2),
        "decision_s_p95": _round(percentile(list(decision.values()), 95), 2),
        "run_s_p50": _round(percentile(list(durations.values()), 50), 2),
        "critical_path_s": _round(percentile(list(paths.values()), 50), 2),
        "ratio_p50": _round(percentile(ratios, 50), 3),
        "leads_per_minute": round(len(moments) / span * 60, 1) if span else None,
        "decisions": {key or "none": n for key, n in sorted(decisions.items())},
    }


def cost_figures(run_ids: list[int], *, leads: int, claude_calls: int) -> dict[str, Any]:
    steps = StepRun.objects.filter(run_id__in=run_ids)
    totals = steps.aggregate(
        input=Sum("input_tokens"),
        output=Sum("output_tokens"),
        cache_read=Sum("cache_read_tokens"),
        cache_write=Sum("cache_write_tokens"),
        cost=Sum("cost_usd"),
    )
    with_model = steps.exclude(model="")
    cost = float(totals["cost"] or 0)
    return {
        "claude_calls": claude_calls,
        "claude_steps": with_model.count(),
        "cache_hits": with_model.filter(cache_read_tokens__gt=0).count(),
        "tokens_input": totals["input"] or 0,
        "tokens_output": totals["output"] or 0,
        "tokens_cache_read": totals["cache_read"] or 0,
        "tokens_cache_write": totals["cache_write"] or 0,
        "fallbacks_to_rules": steps.exclude(fallback_reason="").count(),
        "cost_usd": round(cost, 4),
        "cost_usd_per_lead": round(cost / leads, 6) if leads else None,
    }


def integrity(deployment: Deployment, deliveries: list[Delivery], run_ids: list[int]) -> dict:
    """Nothing lost, every run decided, one contact per lead, at most one email per lead."""
    emails = [d.payload.email for d in deliveries]
    stored = set(Lead.objects.filter(email__in=emails).values_list("email", flat=True))
    existing_runs = set(PipelineRun.objects.filter(pk__in=run_ids).values_list("pk", flat=True))
    accepted = [d for d in deliveries if d.status == 202]
    lost = sum(1 for d in accepted if d.payload.email not in stored) + sum(
        1 for d in accepted if d.run_id not in existing_runs
    )
    lead_ids = list(Lead.objects.filter(email__in=emails).values_list("pk", flat=True))
    per_recipient = Counter(
        recipient for message in deployment.smtp.messages for recipient in message.rcpt_tos
    )
    ours = set(emails)
    duplicate_emails = sum(
        n - 1 for address, n in per_recipient.items() if address in ours and n > 1
    )
    duplicate_emails += sum(
        row["n"] - 1
        for row in OutboundEmail.objects.filter(lead_id__in=lead_ids)
        .values("lead_id")
        .annotate(n=Count("id"))
        if row["n"] > 1
    )
    contacts = Counter(deployment.hubspot.contacts_per_email())
    duplicate_contacts = sum(n - 1 for email, n in contacts.items() if email in ours and n > 1)
    written = set(
        StepRun.objects.filter(
            run_id__in=run_ids, name="crm_write", status=StepRun.Status.SUCCEEDED
        ).values_list("run__lead__email", flat=True)
    )
    missing_contacts = sum(1 for email in written if contacts[email.lower()] == 0)
    sent_without_row = sum(1 for address in per_recipient if address in ours) - len(
        set(
            # An email a crash interrupted mid-send is "unknown" (for a human), never resent.
            OutboundEmail.objects.filter(
                lead_id__in=lead_ids,
                state__in=(OutboundEmail.State.SENT, OutboundEmail.State.UNKNOWN),
            ).values_list("lead_id", flat=True)
        )
    )
    report = {
        "leads_sent": len(deliveries),
        "leads_accepted": len(accepted),
        "leads_stored": len(stored),
        # Each given one of the bench's Reviewers in turn (or by a rule) at intake.
        "leads_with_owner": Lead.objects.filter(pk__in=lead_ids, owner__isnull=False).count(),
        "lost": lost + (len(deliveries) - len(accepted)),
        "unfinished": len(unsettled(run_ids)),
        "duplicate_emails": duplicate_emails,
        "duplicate_contacts": duplicate_contacts,
        "missing_contacts": missing_contacts,
        "emails_sent": sum(n for address, n in per_recipient.items() if address in ours),
        "emails_without_outbox_row": max(0, sent_without_row),
    }
    report["integrity_ok"] = not any(
        report[key]
        for key in (
            "lost",
            "unfinished",
            "duplicate_emails",
            "duplicate_contacts",
            "missing_contacts",
            "emails_without_outbox_row",
        )
    )
    return report


def start_sequential_copies(
    deliveries: list[Delivery], *, token: str, in_flight: int | None = None
) -> list[int]:
    """For each delivered lead, a new person with the same submission, on the sequential layout.

    New people, so nothing they do depends on the first pass (one reply per person). With
    `in_flight`, at most that many of them are undecided at once, as in send_webhooks().
    """
    from pipeline.dev.sequential import SEQUENTIAL_LEAD

    run_ids = []
    originals = Submission.objects.filter(
        runs__pk__in=[d.run_id for d in deliveries if d.run_id]
    ).select_related("lead")
    for number, original in enumerate(originals):
        if in_flight:
            wait_below(in_flight, run_ids)
        email = f"seq-{number}-{original.email}"
        lead = Lead.objects.create(
            email=email,
            email_normalized=email.lower(),
            name=original.name,
            company=original.company,
            website=original.website,
        )
        submission = Submission.objects.create(
            lead=lead,
            source=original.source,
            channel=original.channel,
            name=original.name,
            email=email,
            company=original.company,
            website=original.website,
            message=original.message,
            custom_fields=original.custom_fields,
            raw_payload=original.raw_payload,
        )
        run_ids.append(engine.start(SEQUENTIAL_LEAD.name, lead=lead, submission=submission).pk)
    return run_ids


def add_reviewers(token: str, count: int = 3) -> None:
    """A sales team, as a deployment has: each lead gets an owner in turn (the round-robin)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from pipeline.owners import OWNER_GROUP

    group, _ = Group.objects.get_or_create(name=OWNER_GROUP)
    for number in range(count):
        user = get_user_model().objects.create(username=f"bench-{token}-{number}")
        user.groups.add(group)


def remove_reviewers(token: str) -> None:
    """Delete the Reviewers add_reviewers() made (their kept leads lose their owner)."""
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(username__startswith=f"bench-{token}-").delete()


def cleanup(token: str, emails: Iterable[str]) -> None:
    """Remove the benchmark's leads (with their runs, drafts, emails) and its webhook source."""
    addresses = list(emails)
    Lead.objects.filter(email__in=addresses).delete()
    Lead.objects.filter(email__startswith="seq-", email__contains=f"company-{token}-").delete()
    WebhookSource.objects.filter(name=f"Load bench {token}").delete()


def percentile(values: list[float], percent: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "database": connection.vendor,
    }
