"""Which URLs and addresses the enrichment fetcher may reach (SSRF protection).

The URL comes from an anonymous web form, so it is hostile until checked: only http(s), no
userinfo, ports 80/443, and every address the host resolves to must be a public unicast one.
The fetcher then connects to the very address checked here, never resolving the name again.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import string
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
ALLOWED_PORTS = frozenset({80, 443})

# A resolver maps (host, port) to the socket addresses to connect to, like getaddrinfo does.
Resolver = Callable[[str, int], Sequence[tuple[str, int]]]

_HOSTNAME_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # SIIT, RFC 2765
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated, RFC 4291

# IANA's special-purpose ranges that are not globally reachable, checked by us and not only
# through ipaddress's is_private/is_global: those tables changed within Python 3.12 (3.12.4
# widened 192.0.0.0/29 to 192.0.0.0/24, for one), and what we refuse must not depend on that.
_SPECIAL_PURPOSE = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # TEST-NET-1
        "192.88.99.0/24",  # 6to4 relay anycast, deprecated
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # TEST-NET-2
        "203.0.113.0/24",  # TEST-NET-3
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments (Teredo's 2001::/32 is unwrapped before this)
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
        "5f00::/16",  # segment routing
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",  # site-local, deprecated
        "ff00::/8",
    )
)


class AddressRefused(Exception):
    """The URL or address may not be fetched. ``code`` is a short machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class AddressPolicy:
    """What the fetcher may connect to beyond public unicast addresses.

    ``allow_loopback`` exists for tests, whose sites are served on 127.0.0.1. With
    ``loopback_ports`` set, loopback is allowed only on those ports (the test servers'),
    otherwise on any port. Private, link-local, multicast and reserved ranges are never allowed.
    """

    allow_loopback: bool = False
    loopback_ports: frozenset[int] | None = None

    def allows_loopback_port(self, port: int) -> bool:
        return self.allow_loopback and (self.loopback_ports is None or port in self.loopback_ports)


@dataclass(frozen=True)
class Target:
    """A parsed, normalised URL that passed the syntactic checks."""

    scheme: str
    host: str  # lowercase ASCII hostname, or the canonical form of an IP literal
    port: int
    path: str  # path plus query, never empty
    ip: IPAddress | None = None  # set when the host is an IP literal (in any spelling)

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if isinstance(self.ip, ipaddress.IPv6Address) else self.host
        if self.port == DEFAULT_PORTS[self.scheme]:
            return f"{self.scheme}://{host}"
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def url(self) -> str:
        return self.origin + self.path


def parse_ipv4_literal(host: str) -> ipaddress.IPv4Address | None:
    """Parse the host as an IPv4 address the way browsers and inet_aton do, or return None.

    Accepts the legacy spellings that resolvers accept too: "2130706433", "0177.0.0.1",
    "0x7f.1", "127.1". Returns None when the host is not numeric (an ordinary name).
    Raises AddressRefused when it looks numeric but is not a valid address ("1.2.3.999").
    """
    parts = host.split(".")
    if parts and parts[-1] == "":
        parts = parts[:-1]
    if not parts or not _looks_numeric(parts[-1]):
        return None
    if len(parts) > 4:
        raise AddressRefused("host", "invalid IPv4 literal")
    numbers = []
    for part in parts:
        number = _parse_ipv4_number(part)
        if number is None:
            raise AddressRefused("host", "invalid IPv4 literal")
        numbers.append(number)
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        raise AddressRefused("host", "invalid IPv4 literal")
    value = last
    for index, number in enumerate(leading):
        value += number * 256 ** (3 - index)
    return ipaddress.IPv4Address(value)


def _looks_numeric(part: str) -> bool:
    if part.isdigit() and part.isascii():
        return True
    return part[:2].lower() == "0x" and all(c in string.hexdigits for c in part[2:])


def _parse_ipv4_number(part: str) -> int | None:
    if not part:
        return None
    if part[:2].lower() == "0x":
        digits = part[2:]
        if digits == "":
            return 0
        return int(digits, 16) if all(c in string.hexdigits for c in digits) else None
    if not (part.isascii() and part.isdigit()):
        return None
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8) if all(c in "01234567" for c in part) else None
    return int(part)


def parse_target(url: str) -> Target:
    """Check a URL's syntax: scheme, userinfo, host and port. No DNS here.

    Raises AddressRefused with code "scheme", "userinfo", "host", "port" or "url".
    """
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise AddressRefused("url", "empty or overlong URL")
    if any(c == "\\" or c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise AddressRefused("url", "URL contains whitespace, backslashes or control characters")
    try:
        parsed = parse_url(url)
    except (LocationParseError, ValueError) as exc:
        raise AddressRefused("url", "unparseable URL") from exc
    scheme = (parsed.scheme or "").lower()
    if scheme not in ALLOWED_SCHEMES:
        raise AddressRefused("scheme", f"scheme {scheme or '(none)'!r} is not http(s)")
    if parsed.auth is not None:
        raise AddressRefused("userinfo", "URLs with a user name or password are refused")
    host = (parsed.host or "").lower()
    if not host:
        raise AddressRefused("host", "URL has no host")
    port = parsed.port if parsed.port is not None else DEFAULT_PORTS[scheme]
    path = parsed.request_uri or "/"
    if not path.startswith("/"):
        path = "/" + path

    ip: IPAddress | None = None
    if host.startswith("["):
        literal = host[1:-1]
        if "%" in literal:
            raise AddressRefused("host", "IPv6 zone identifiers are refused")
        try:
            ip = ipaddress.IPv6Address(literal)
        except ValueError as exc:
            raise AddressRefused("host", "invalid IPv6 literal") from exc
        # ::ffff:a.b.c.d in dotted form on every Python (3.13 changed str() to that form).
        host = f"::ffff:{ip.ipv4_mapped}" if ip.ipv4_mapped is not None else ip.compressed
    else:
        host = host.rstrip(".")
        ip = parse_ipv4_literal(host)
        if ip is not None:
            host = str(ip)
        else:
            labels = host.split(".")
            if len(host) > 253 or not all(_HOSTNAME_LABEL.match(label) for label in labels):
                raise AddressRefused("host", "malformed host name")
    return Target(scheme=scheme, host=host, port=port, path=path, ip=ip)


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64, SIIT), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64_WELL_KNOWN or address in _IPV4_TRANSLATED:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _NAT64_LOCAL_USE:
        # RFC 6052 /48 prefix: the IPv4 address sits in bits 48..63 and 72..87.
        value = int(address)
        high = (value >> 64) & 0xFFFF
        low = (value >> 40) & 0xFFFF
        return ipaddress.IPv4Address((high << 16) | low)
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_refusal(address: IPAddress, *, port: int, policy: AddressPolicy) -> str | None:
    """Why connecting to this address is refused (a reason code), or None when it is allowed."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return "link_local"
        inner = embedded_ipv4(address)
        if inner is not None:
            inner_reason = address_refusal(inner, port=port, policy=policy)
            if inner_reason is not None:
                return inner_reason
            if address.ipv4_mapped is not None:
                return None  # ::ffff:a.b.c.d is exactly a.b.c.d
    if address.is_loopback:
        return None if policy.allows_loopback_port(port) else "loopback"
    if address.is_unspecified:
        return "unspecified"
    if address.is_link_local:
        return "link_local"
    if address.is_multicast:
        return "multicast"
    if address.is_private or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local):
        return "private"
    if address.is_reserved:
        return "reserved"
    if not address.is_global or any(
        address.version == net.version and address in net for net in _SPECIAL_PURPOSE
    ):
        return "not_global"
    return None


def check_port(target: Target, address: IPAddress, connect_port: int, policy: AddressPolicy):
    """Only ports 80 and 443, except on loopback when the (test) policy allows it."""
    if target.port in ALLOWED_PORTS and connect_port in ALLOWED_PORTS:
        return
    if address.is_loopback or (
        isinstance(address, ipaddress.IPv6Address)
        and address.ipv4_mapped is not None
        and address.ipv4_mapped.is_loopback
    ):
        if policy.allows_loopback_port(connect_port):
            return
    raise AddressRefused("port", f"port {target.port} is not 80 or 443")


# Lookups run in threads so a lead can stop waiting (getaddrinfo has no timeout of its own); a
# name server that never answers keeps its thread until the system resolver gives up (10-30 s).
# Threads are made only as needed; a pool this size takes many such leads to fill, and one
# lookup per host at a time (below) means the same slow domain, however often it comes, holds
# one thread per host and port. With 4 threads, two hostile leads made every other lead's domain
# "not resolve" (found by an SSRF audit).
LOOKUP_THREADS = 64
_executor = ThreadPoolExecutor(max_workers=LOOKUP_THREADS, thread_name_prefix="enrich-dns")
_in_flight: dict[tuple[Resolver, str, int], Future] = {}
_in_flight_lock = threading.RLock()  # a done-callback may run at once, in the same thread


def _lookup(resolver: Resolver, host: str, port: int) -> Future:
    """The lookup of (host, port) under way, shared by every lead that asks meanwhile, or a
    new one."""
    key = (resolver, host, port)
    with _in_flight_lock:
        future = _in_flight.get(key)
        if future is None:
            future = _executor.submit(resolver, host, port)
            _in_flight[key] = future
            future.add_done_callback(lambda done: _forget(key, done))
        return future


def _forget(key: tuple[Resolver, str, int], done: Future) -> None:
    with _in_flight_lock:
        if _in_flight.get(key) is done:
            del _in_flight[key]


def system_resolver(host: str, port: int) -> list[tuple[str, int]]:
    """Resolve with the operating system's resolver (getaddrinfo), TCP addresses only."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [(info[4][0], info[4][1]) for info in infos]


def resolve(
    target: Target, *, policy: AddressPolicy, resolver: Resolver, timeout: float
) -> tuple[IPAddress, int]:
    """Resolve the target once and check every address; return the one to connect to.

    A host that resolves to any refused address is refused as a whole: a public answer mixed
    with a private one is the shape of a rebinding attack. Raises AddressRefused.
    """
    if target.ip is not None:
        candidates: Sequence[tuple[str, int]] = [(str(target.ip), target.port)]
    else:
        future = _lookup(resolver, target.host, target.port)
        try:
            candidates = future.result(timeout=max(timeout, 0.01))
        except FutureTimeout as exc:
            raise AddressRefused("dns", "DNS resolution timed out") from exc
        except (OSError, UnicodeError) as exc:
            raise AddressRefused("dns", "host name does not resolve") from exc
    if not candidates:
        raise AddressRefused("dns", "host name does not resolve")
    checked: list[tuple[IPAddress, int]] = []
    for raw_address, connect_port in candidates:
        try:
            address = ipaddress.ip_address(str(raw_address).split("%", 1)[0])
        except ValueError as exc:
            raise AddressRefused("dns", "resolver returned an invalid address") from exc
        if "%" in str(raw_address):
            raise AddressRefused("link_local", "scoped IPv6 address refused")
        reason = address_refusal(address, port=connect_port, policy=policy)
        if reason is not None:
            raise AddressRefused(reason, f"{target.host} resolves to a {reason} address")
        check_port(target, address, connect_port, policy)
        checked.append((address, connect_port))
    # Prefer IPv4: IPv6 is often configured but unroutable on small servers.
    checked.sort(key=lambda item: item[0].version)
    return checked[0]
