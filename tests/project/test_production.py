"""The production path for real: collectstatic, then gunicorn with deploy/gunicorn.conf.py and
DEBUG off on a free port, fetched over HTTP like a load balancer and a browser would."""

import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with OPENER.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """gunicorn serving a migrated SQLite database and collected static files; yields its URL."""
    tmp = tmp_path_factory.mktemp("production")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DEBUG", "DATABASE_URL", "REDIS_URL", "Q_", "EMAIL_", "SECURE_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="leadops.settings",
        SECRET_KEY="a-long-random-production-secret-key-0123456789-abcdefghijklmnopq",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=f"sqlite:///{tmp / 'production.sqlite3'}",
        STATIC_ROOT=str(tmp / "static"),
        EMAIL_HOST="127.0.0.1",
        # As behind deploy/nginx.conf, which sets this header on every request it passes on.
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
        WEB_CONCURRENCY="1",
    )
    for command in (["migrate", "--noinput"], ["createcachetable"], ["collectstatic", "--noinput"]):
        result = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    port = free_port()
    log = open(tmp / "gunicorn.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [str(GUNICORN), "-c", "deploy/gunicorn.conf.py", "-b", f"127.0.0.1:{port}", "leadops.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if fetch(f"{url}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, (tmp / "gunicorn.log").read_text()
            assert time.monotonic() < deadline, (tmp / "gunicorn.log").read_text()
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


HTTPS = {"X-Forwarded-Proto": "https"}


def test_gunicorn_serves_the_login_page_static_files_and_healthz(server):
    status, _, body = fetch(f"{server}/healthz")
    assert status == 200
    assert b'"database": "ok"' in body

    status, headers, body = fetch(f"{server}/login/", HTTPS)
    assert status == 200
    page = body.decode()
    assert "Log in to LeadOps" in page
    assert "Strict-Transport-Security" in headers

    # Static files have hashed names from the manifest and are served compressed and immutable.
    stylesheet = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page).group(1)
    status, headers, body = fetch(f"{server}{stylesheet}", {**HTTPS, "Accept-Encoding": "gzip"})
    assert status == 200
    assert headers.get("Content-Encoding") == "gzip"
    assert "immutable" in headers.get("Cache-Control", "")

    icon = re.search(r'<link rel="icon" href="([^"]+)"', page).group(1)
    assert fetch(f"{server}{icon}", HTTPS)[0] == 200


def test_plain_http_is_sent_to_https_but_healthz_answers(server):
    status, headers, _ = fetch(f"{server}/login/")
    assert status == 301
    assert headers["Location"].startswith("https://")
    assert fetch(f"{server}/healthz")[0] == 200


def test_healthz_answers_quickly_while_three_clients_trickle_one_byte_a_second(server):
    host, port = server.removeprefix("http://").split(":")
    request = b"GET /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: " + b"x" * 40
    stop = threading.Event()
    sockets = [socket.create_connection((host, int(port)), timeout=5) for _ in range(3)]

    def trickle(sock: socket.socket) -> None:
        for byte in request:
            if stop.is_set():
                return
            try:
                sock.send(bytes([byte]))
            except OSError:
                return
            stop.wait(1.0)

    threads = [threading.Thread(target=trickle, args=(sock,), daemon=True) for sock in sockets]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.5)  # every slow socket has sent its first bytes and holds a connection
        timings = []
        for _ in range(5):
            started = time.monotonic()
            status, _, _ = fetch(f"{server}/healthz")
            timings.append(time.monotonic() - started)
            assert status == 200
            time.sleep(0.5)
        assert all(sock.fileno() != -1 for sock in sockets)
        assert max(timings) < 1.0, timings
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
        for sock in sockets:
            sock.close()
