"""A careful HTTP fetcher for company websites named by anonymous leads.

Every hop of every request is parsed, resolved once and checked (addresses.py); the socket
then connects to exactly that address while TLS still verifies the certificate for the host
name (SNI and Host header unchanged), so DNS cannot rebind between the check and the connect.
Redirects are followed by hand, each hop re-checked; bodies are streamed and cut at a size cap;
a watchdog enforces the total time budget even against servers that drip bytes; robots.txt is
honoured, read through this same fetcher.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin
from urllib.robotparser import RobotFileParser

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as urllib3_connection
from w3lib.encoding import html_to_unicode

from pipeline.integrations.enrich.addresses import (
    AddressPolicy,
    AddressRefused,
    IPAddress,
    Resolver,
    Target,
    parse_target,
    resolve,
    system_resolver,
)
from pipeline.schemas import FetchRecord

logger = logging.getLogger(__name__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HTML_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
HTML_TYPES = ("text/html", "application/xhtml+xml")
ROBOTS_MAX_BYTES = 512 * 1024
CHUNK_SIZE = 16 * 1024


class FetchError(Exception):
    """A fetch failed. ``code``: timeout, connect, tls, redirects, budget, robots, http, protocol."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class BudgetSpent(FetchError):
    def __init__(self, message: str = "time budget for this lead is spent") -> None:
        super().__init__("budget", message)


class RobotsDisallowed(FetchError):
    def __init__(self) -> None:
        super().__init__("robots", "robots.txt disallows this URL for our user agent")


@dataclass(frozen=True)
class FetchPolicy:
    connect_timeout: float = 3.0
    read_timeout: float = 5.0
    budget_seconds: float = 10.0
    max_bytes: int = 2_000_000
    user_agent: str = "LeadOpsBot/0.1"
    max_redirects: int = 5
    address: AddressPolicy = field(default_factory=AddressPolicy)
    # True: the system CA bundle (certifi); a path: that CA bundle (tests' local CA).
    verify: bool | str = True

    @classmethod
    def from_settings(cls) -> FetchPolicy:
        return cls(
            connect_timeout=settings.ENRICH_CONNECT_TIMEOUT,
            read_timeout=settings.ENRICH_READ_TIMEOUT,
            budget_seconds=settings.ENRICH_BUDGET_SECONDS,
            max_bytes=settings.ENRICH_MAX_BYTES,
            user_agent=settings.ENRICH_USER_AGENT,
            address=AddressPolicy(allow_loopback=settings.ENRICH_ALLOW_PRIVATE_ADDRESSES),
        )


@dataclass
class Page:
    """One fetched response (after redirects)."""

    url: str
    status: int
    headers: CaseInsensitiveDict
    body: bytes = b""
    cookie_names: list[str] = field(default_factory=list)
    truncated: bool = False

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()

    @property
    def is_html(self) -> bool:
        return self.status == 200 and self.content_type in HTML_TYPES

    def text(self) -> str:
        """The body decoded by the HTTP charset, a BOM or <meta charset>, else UTF-8."""
        _encoding, text = html_to_unicode(self.headers.get("Content-Type"), self.body)
        return text


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class _Watchdog:
    """Shuts down the sockets of a request when the lead's time budget runs out.

    Socket timeouts bound each read, not the whole response: a server sending one byte a
    second never trips them. Shutting the socket down wakes the blocked read at once.
    """

    def __init__(self, deadline: float) -> None:
        self._deadline = deadline
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self.fired = False

    def register(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.fired:
                # The budget ran out while this socket was being opened (a busy machine):
                # shut it now, or a server that drips bytes would hold the read forever.
                self._shutdown(sock)

    def arm(self) -> None:
        self._timer = threading.Timer(max(self._deadline - time.monotonic(), 0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                self._shutdown(sock)

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        try:
            # The base class method: SSLSocket.shutdown would also tear down its TLS object
            # under the reading thread's feet.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass


class _PinnedConnectionMixin:
    """Connects to the checked address instead of resolving ``self.host`` again."""

    def __init__(self, *args, pinned: tuple[str, int], watchdog: _Watchdog, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pinned = pinned
        self._watchdog = watchdog

    def _new_conn(self) -> socket.socket:
        try:
            sock = urllib3_connection.create_connection(
                self._pinned,
                self.timeout,
                source_address=self.source_address,
                socket_options=self.socket_options,
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, "connect timed out") from exc
        except OSError as exc:
            raise NewConnectionError(self, f"failed to connect: {exc}") from exc
        self._watchdog.register(sock)
        return sock

    def connect(self) -> None:
        super().connect()
        # After the TLS handshake self.sock is the wrapped socket: watch that one too. (The
        # connection drops self.sock once the response owns it, so hold our own reference.)
        self._watchdog.register(self.sock)


class _PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class _PinnedAdapter(HTTPAdapter):
    """A requests adapter whose single pool connects to one pre-checked address."""

    def __init__(self, target: Target, pinned: tuple[str, int], watchdog: _Watchdog) -> None:
        super().__init__(max_retries=0)
        pool_class = _PinnedHTTPSPool if target.scheme == "https" else _PinnedHTTPPool
        self._pool = pool_class(
            host=target.host,
            port=target.port,
            maxsize=1,
            block=False,
            pinned=pinned,
            watchdog=watchdog,
        )

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        return self._pool

    def close(self) -> None:
        self._pool.close()
        super().close()


class SafeFetcher:
    """Fetches pages for one lead within one time budget. Not thread-safe; one per lead."""

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.policy = policy or FetchPolicy.from_settings()
        self.resolver = resolver
        self.deadline = time.monotonic() + self.policy.budget_seconds
        self.records: list[FetchRecord] = []
        self._robots: dict[str, RobotFileParser] = {}
        self._pinned: dict[tuple[str, int], tuple[IPAddress, int]] = {}

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def get(self, url: str, *, check_robots: bool = True) -> Page:
        """GET an HTML page, following redirects by hand. Raises AddressRefused or FetchError."""
        return self._get(
            url, accept=HTML_ACCEPT, max_bytes=self.policy.max_bytes, robots=check_robots
        )

    def _get(self, url: str, *, accept: str, max_bytes: int, robots: bool) -> Page:
        current = url
        for _hop in range(self.policy.max_redirects + 1):
            try:
                target = parse_target(current)
            except AddressRefused as exc:
                self._record(current, None, f"refused: {exc.code}")
                raise
            self._pin(
                target
            )  # refuse a forbidden address before anything else, robots.txt included
            if robots and not self._robots_allow(target):
                self._record(target.url, None, "robots.txt disallows")
                raise RobotsDisallowed()
            page = self._request(target, accept=accept, max_bytes=max_bytes)
            location = page.headers.get("Location")
            if page.status in REDIRECT_STATUSES and location:
                current = urljoin(target.url, location.strip())
                continue
            return page
        self._record(current, None, "refused: too many redirects")
        raise FetchError("redirects", f"more than {self.policy.max_redirects} redirects")

    def _pin(self, target: Target) -> tuple[IPAddress, int]:
        """The checked address to connect to for this host and port, resolved once per lead."""
        key = (target.host, target.port)
        if key in self._pinned:
            return self._pinned[key]
        remaining = self.remaining()
        if remaining <= 0:
            self._record(target.url, None, "skipped: time budget spent")
            raise BudgetSpent()
        try:
            pinned = resolve(
                target,
                policy=self.policy.address,
                resolver=self.resolver,
                timeout=min(self.policy.connect_timeout, remaining),
            )
        except AddressRefused as exc:
            self._record(target.url, None, f"refused: {exc.code}")
            logger.info("enrich fetch refused: %s", exc.code)
            raise
        self._pinned[key] = pinned
        return pinned

    def _record(self, url: str, status: int | None, note: str = "") -> None:
        self.records.append(FetchRecord(url=url, status=status, fetched_at=_now_iso(), note=note))

    def _request(self, target: Target, *, accept: str, max_bytes: int) -> Page:
        remaining = self.remaining()
        if remaining <= 0:
            self._record(target.url, None, "skipped: time budget spent")
            raise BudgetSpent()
        address, port = self._pin(target)
        watchdog = _Watchdog(self.deadline)
        adapter = _PinnedAdapter(target, (str(address), port), watchdog)
        request = requests.Request(
            "GET",
            target.url,
            headers={
                "User-Agent": self.policy.user_agent,
                "Accept": accept,
                "Accept-Encoding": "gzip, deflate",
                "Accept-Language": "en;q=1.0, *;q=0.5",
                "Connection": "close",
            },
        ).prepare()
        timeout = (
            min(self.policy.connect_timeout, remaining),
            min(self.policy.read_timeout, remaining),
        )
        started = time.monotonic()
        response = None
        watchdog.arm()
        try:
            try:
                response = adapter.send(
                    request, stream=True, timeout=timeout, verify=self.policy.verify, proxies={}
                )
            except requests.exceptions.SSLError as exc:
                raise self._failed(target, "tls", "TLS handshake or certificate failed") from exc
            except requests.exceptions.ConnectTimeout as exc:
                raise self._failed(target, "timeout", "connect timed out", watchdog) from exc
            except requests.exceptions.ReadTimeout as exc:
                raise self._failed(target, "timeout", "no response in time", watchdog) from exc
            except (requests.exceptions.RequestException, OSError) as exc:
                raise self._failed(target, "connect", "connection failed", watchdog) from exc

            page = Page(
                url=target.url,
                status=response.status_code,
                headers=response.headers,
                cookie_names=_cookie_names(response),
            )
            note = ""
            if response.status_code in REDIRECT_STATUSES:
                note = "redirect"
            elif response.status_code == 200 and (
                accept != HTML_ACCEPT or page.content_type in HTML_TYPES
            ):
                note = self._read_body(response, page, max_bytes, watchdog)
            elif response.status_code == 200:
                note = f"not HTML ({page.content_type or 'no content type'})"
            self._record(target.url, response.status_code, note)
            logger.debug(
                "enrich fetch status=%s bytes=%d ms=%d",
                response.status_code,
                len(page.body),
                (time.monotonic() - started) * 1000,
            )
            return page
        finally:
            watchdog.disarm()
            if response is not None:
                response.close()
            adapter.close()

    def _failed(
        self, target: Target, code: str, message: str, watchdog: _Watchdog | None = None
    ) -> FetchError:
        if (watchdog is not None and watchdog.fired) or self.remaining() <= 0:
            self._record(target.url, None, "failed: time budget spent")
            return BudgetSpent()
        self._record(target.url, None, f"failed: {message}")
        return FetchError(code, message)

    def _read_body(
        self, response: requests.Response, page: Page, max_bytes: int, watchdog: _Watchdog
    ) -> str:
        chunks: list[bytes] = []
        total = 0
        broken: Exception | None = None
        try:
            for chunk in response.iter_content(CHUNK_SIZE):
                if total + len(chunk) >= max_bytes:
                    chunks.append(chunk[: max_bytes - total])
                    page.body = b"".join(chunks)
                    page.truncated = True
                    return f"truncated at {max_bytes} bytes"
                chunks.append(chunk)
                total += len(chunk)
                if self.remaining() <= 0:
                    break
        except (requests.exceptions.RequestException, OSError) as exc:
            broken = exc
        page.body = b"".join(chunks)
        # A watchdog shutdown looks like a clean end of the body: check the clock.
        if watchdog.fired or self.remaining() <= 0:
            page.truncated = True
            return f"time budget spent after {total} bytes"
        if broken is not None:
            page.truncated = True
            return f"connection broke after {total} bytes ({type(broken).__name__})"
        return ""

    # --- robots.txt ---------------------------------------------------------------------

    def _robots_allow(self, target: Target) -> bool:
        parser = self._robots.get(target.origin)
        if parser is None:
            parser = self._load_robots(target)
            self._robots[target.origin] = parser
        return parser.can_fetch(self.policy.user_agent, target.url)

    def _load_robots(self, target: Target) -> RobotFileParser:
        """Read robots.txt as RFC 9309 says: 4xx allows all, 5xx or unreachable allows none.

        When the host itself cannot be reached (connect, TLS, timeout) that error is raised
        for the page too: fetching it would fail the same way, and the caller may try another
        homepage URL (www., plain http).
        """
        parser = RobotFileParser()
        try:
            page = self._get(
                target.origin + "/robots.txt",
                accept="text/plain,*/*;q=0.1",
                max_bytes=ROBOTS_MAX_BYTES,
                robots=False,
            )
        except BudgetSpent:
            raise
        except FetchError as exc:
            if exc.code in ("connect", "tls", "timeout"):
                raise
            parser.disallow_all = True
            return parser
        except AddressRefused:
            parser.disallow_all = True
            return parser
        if page.status == 200:
            parser.parse(page.body.decode("utf-8", errors="replace").splitlines())
        elif 400 <= page.status < 500:
            parser.allow_all = True
        else:
            parser.disallow_all = True
        return parser


def _cookie_names(response: requests.Response) -> list[str]:
    raw_headers = getattr(response.raw, "headers", None)
    values = raw_headers.getlist("Set-Cookie") if raw_headers is not None else []
    names = []
    for value in values:
        name = value.split(";", 1)[0].split("=", 1)[0].strip()
        if name:
            names.append(name)
    return names
