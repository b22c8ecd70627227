"""Running a real django-q2 worker cluster as a child process, on a queue of its own.

`Cluster` starts `manage.py qcluster` in its own process group and always stops the whole
group; the engine benchmark and the tests that need real workers use it. Children get the
developer tools app (LEADOPS_DEV_APPS=1), whose StepExecution rows the benchmark counts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from django.conf import settings

# --- Which queue this process talks to --------------------------------------------------------


@contextlib.contextmanager
def use_queue(name: str, *, redis_url: str | None = None) -> Iterator[None]:
    """Send this process's django-q2 tasks to queue `name` (and, given redis_url, to Redis).

    A child cluster started with Q_NAME=name (and Q_BROKER=redis) reads the same queue. The
    name is also django-q2's signing salt, which is why both must change together.
    """
    from django_q.conf import Conf

    saved = {key: getattr(Conf, key) for key in ("PREFIX", "CLUSTER_NAME", "ORM", "REDIS")}
    Conf.PREFIX = Conf.CLUSTER_NAME = name
    if redis_url:
        Conf.ORM = None
        Conf.REDIS = redis_url
    try:
        yield
    finally:
        for key, value in saved.items():
            setattr(Conf, key, value)


def purge_queue(name: str, *, redis_url: str | None = None) -> None:
    """Drop whatever is left in queue `name` (a benchmark or test queue)."""
    if redis_url:
        import redis

        client = redis.Redis.from_url(redis_url)
        try:
            client.delete(f"django_q:{name}:q")
        finally:
            client.close()
        return
    from django_q.models import OrmQ

    OrmQ.objects.filter(key=name).delete()


# --- A real worker cluster as a child process -------------------------------------------------


def database_url() -> str:
    """DATABASE_URL for a child process: the database this process uses now.

    That is the configured one, except under pytest, where it is the test database.
    """
    import dj_database_url
    from django.db import connection

    values = connection.settings_dict
    if str(values["NAME"]) == str(dj_database_url.parse(settings.DATABASE_URL)["NAME"]):
        return settings.DATABASE_URL
    if connection.vendor == "sqlite":
        return f"sqlite:///{values['NAME']}"
    if connection.vendor != "postgresql":
        raise RuntimeError(f"no child-process URL for a {connection.vendor} database")
    user = values.get("USER") or ""
    password = f":{values['PASSWORD']}" if values.get("PASSWORD") else ""
    credentials = f"{user}{password}@" if user else ""
    host = values.get("HOST") or "127.0.0.1"
    port = f":{values['PORT']}" if values.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{values['NAME']}"


class Cluster:
    """`manage.py qcluster` in a process group of its own; stop() always ends the whole group."""

    def __init__(self, env: Mapping[str, str], *, log_path: Path | None = None) -> None:
        self.env = {**os.environ, "LEADOPS_DEV_APPS": "1", **env}
        self.log_path = log_path or Path(
            tempfile.mkstemp(prefix="leadops-qcluster-", suffix=".log")[1]
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> Cluster:
        manage = Path(settings.BASE_DIR) / "manage.py"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(manage), "qcluster"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def pids(self) -> list[int]:
        """Every live process of the cluster (its group): main, sentinel, workers, helpers."""
        return [
            pid for pid in _all_pids() if _process_group(pid) == self.pid and not _is_zombie(pid)
        ]

    def stop(self, *, grace_seconds: float = 10.0) -> None:
        """SIGTERM (django-q2 lets running tasks finish), then SIGKILL whatever is left."""
        if self.process is None:
            return
        # Only the main process: it stops the sentinel, which stops the workers. A SIGTERM to
        # the whole group kills the sentinel first and leaves the main process hanging.
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline and (self.process.poll() is None or self.pids()):
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        # SIGKILL is delivered at once but a busy machine takes a moment to end each process.
        deadline = time.monotonic() + 5
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.02)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _process_group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def _is_zombie(pid: int) -> bool:
    """Exited but not reaped yet (orphans wait for init): it no longer runs anything."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def memory_kib(pid: int) -> dict[str, int]:
    """Resident (RSS) and proportional (PSS: shared pages split between sharers) memory, KiB.

    Workers are forked from one parent and share its pages copy-on-write, so PSS is the fair
    per-worker cost; RSS counts the shared pages in full for each worker. Linux only.
    """
    found: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss", "Private_Clean", "Private_Dirty"):
                    found[key.lower()] = int(rest.split()[0])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return {}
    found["uss"] = found.pop("private_clean", 0) + found.pop("private_dirty", 0)
    return found
