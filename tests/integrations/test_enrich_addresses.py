"""The SSRF checks on their own: URL syntax, IP literal spellings, address ranges, resolution."""

import ipaddress
import socket
import time

import pytest

from pipeline.integrations.enrich.addresses import (
    AddressPolicy,
    AddressRefused,
    address_refusal,
    embedded_ipv4,
    parse_ipv4_literal,
    parse_target,
    resolve,
)
from pipeline.integrations.enrich.fetch import FetchPolicy

DEFAULT = AddressPolicy()
TESTS_ONLY = AddressPolicy(allow_loopback=True, loopback_ports=frozenset({8080}))


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),  # one decimal number
        ("0177.0.0.1", "127.0.0.1"),  # octal first part
        ("0x7f.1", "127.0.0.1"),  # hex, two parts
        ("0x7F000001", "127.0.0.1"),  # one hex number
        ("017700000001", "127.0.0.1"),  # one octal number
        ("127.1", "127.0.0.1"),  # short form
        ("127.0.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0x0", "0.0.0.0"),
        ("2852039166", "169.254.169.254"),  # the metadata service, in decimal
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("10.0.0.1.", "10.0.0.1"),  # trailing dot
        ("93.184.215.14", "93.184.215.14"),
    ],
)
def test_every_spelling_of_an_ipv4_address_is_recognised(host, expected):
    assert parse_ipv4_literal(host) == ipaddress.IPv4Address(expected)


@pytest.mark.parametrize("host", ["example.com", "1.2.3.com", "localhost", "0x7f.example", "a1"])
def test_host_names_are_not_ip_literals(host):
    assert parse_ipv4_literal(host) is None


@pytest.mark.parametrize("host", ["1.2.3.999", "1.2.3.4.5", "08.0.0.1", "0x1g.1", "256.1", "1..1"])
def test_numeric_hosts_that_are_not_addresses_are_refused(host):
    with pytest.raises(AddressRefused) as refused:
        parse_ipv4_literal(host)
    assert refused.value.code == "host"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.0.1", "private"),
        ("169.254.169.254", "link_local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("100.64.0.1", "not_global"),  # carrier-grade NAT
        ("192.0.2.10", "private"),  # TEST-NET-1
        ("198.18.0.1", "private"),  # benchmarking
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link_local"),
        ("fc00::1", "private"),
        ("fd12:3456:789a::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link_local"),
        ("::ffff:10.0.0.1", "private"),
        ("::7f00:1", "loopback"),  # IPv4-compatible (deprecated)
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("2002:a9fe:a9fe::1", "link_local"),  # 6to4 around the metadata service
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # Teredo, client 127.0.0.1
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 well-known prefix
        ("64:ff9b::a9fe:a9fe", "link_local"),
        ("64:ff9b:1:7f00:0:100::", "loopback"),  # NAT64 local-use /48 prefix
    ],
)
def test_internal_addresses_are_refused(address, reason):
    assert address_refusal(ipaddress.ip_address(address), port=80, policy=DEFAULT) == reason


@pytest.mark.parametrize(
    "address",
    [
        "198.51.100.7",  # TEST-NET-2
        "255.255.255.255",
        "240.0.0.1",
        "192.0.0.8",
        "2001:db8::1",
        "100::1",
        "fec0::1",  # site-local, deprecated
    ],
)
def test_reserved_and_documentation_ranges_are_refused(address):
    assert address_refusal(ipaddress.ip_address(address), port=80, policy=DEFAULT) is not None


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.215.14"]
)
def test_public_unicast_addresses_are_allowed(address):
    assert address_refusal(ipaddress.ip_address(address), port=443, policy=DEFAULT) is None


def test_scoped_ipv6_addresses_are_refused():
    assert address_refusal(ipaddress.ip_address("fe80::1%eth0"), port=80, policy=DEFAULT)


def test_embedded_ipv4_is_unwrapped_from_each_transition_format():
    assert embedded_ipv4(ipaddress.IPv6Address("::ffff:1.2.3.4")) == ipaddress.IPv4Address(
        "1.2.3.4"
    )
    assert embedded_ipv4(ipaddress.IPv6Address("2002:102:304::")) == ipaddress.IPv4Address(
        "1.2.3.4"
    )
    assert embedded_ipv4(ipaddress.IPv6Address("64:ff9b::102:304")) == ipaddress.IPv4Address(
        "1.2.3.4"
    )
    assert embedded_ipv4(ipaddress.IPv6Address("2606:4700::1111")) is None


def test_the_test_policy_allows_loopback_only_on_its_ports():
    loopback = ipaddress.ip_address("127.0.0.1")
    assert address_refusal(loopback, port=8080, policy=TESTS_ONLY) is None
    assert (
        address_refusal(ipaddress.ip_address("::ffff:127.0.0.1"), port=8080, policy=TESTS_ONLY)
        is None
    )
    assert address_refusal(loopback, port=6379, policy=TESTS_ONLY) == "loopback"
    # Loopback is all it allows.
    assert (
        address_refusal(ipaddress.ip_address("10.0.0.1"), port=8080, policy=TESTS_ONLY) == "private"
    )
    assert (
        address_refusal(ipaddress.ip_address("169.254.169.254"), port=8080, policy=TESTS_ONLY)
        == "link_local"
    )


def test_loopback_is_refused_unless_the_setting_is_on(settings):
    assert FetchPolicy.from_settings().address.allow_loopback is False
    settings.ENRICH_ALLOW_PRIVATE_ADDRESSES = True
    policy = FetchPolicy.from_settings().address
    assert policy.allows_loopback_port(31337)
    assert address_refusal(ipaddress.ip_address("10.1.1.1"), port=80, policy=policy) == "private"


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://127.0.0.1:6379/_INFO", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("dict://127.0.0.1:11211/stat", "scheme"),
        ("//example.com/", "scheme"),
        ("http://user:secret@example.com/", "userinfo"),
        ("http://evil@127.0.0.1/", "userinfo"),
        ("http://127.0.0.1:80@evil.com/", "userinfo"),
        ("http://exa mple.com/", "url"),
        ("http://example.com\\@evil.com/", "url"),
        ("http://example.com/\r\nHost: evil", "url"),
        ("http://example.com:99999/", "url"),
        ("", "url"),
        ("http://[fe80::1%25eth0]/", "host"),
        ("http://1.2.3.999/", "host"),
        ("http://-bad-.com/", "host"),
        ("http://exa_mple.com/", "host"),
    ],
)
def test_hostile_urls_are_refused_before_any_lookup(url, code):
    with pytest.raises(AddressRefused) as refused:
        parse_target(url)
    assert refused.value.code == code


def test_urls_are_normalised():
    target = parse_target("HTTP://ExAmple.COM")
    assert (target.scheme, target.host, target.port, target.path) == (
        "http",
        "example.com",
        80,
        "/",
    )
    target = parse_target("https://bücher.de/x?y=1#frag")
    assert (target.host, target.path, target.url) == (
        "xn--bcher-kva.de",
        "/x?y=1",
        "https://xn--bcher-kva.de/x?y=1",
    )
    target = parse_target("http://0x7f.1:8080/admin")
    assert target.ip == ipaddress.IPv4Address("127.0.0.1")
    assert target.url == "http://127.0.0.1:8080/admin"
    target = parse_target("http://[::ffff:7f00:1]/")
    assert target.ip == ipaddress.IPv6Address("::ffff:127.0.0.1")
    assert target.origin == "http://[::ffff:127.0.0.1]"
    assert parse_target("http://example.com./").host == "example.com"


def _resolver(answers):
    calls = []

    def resolver(host, port):
        calls.append((host, port))
        value = answers[host]
        if isinstance(value, Exception):
            raise value
        return [(address, port) for address in value]

    resolver.calls = calls
    return resolver


def test_a_name_resolving_to_any_internal_address_is_refused_as_a_whole():
    resolver = _resolver({"mixed.example": ["93.184.215.14", "192.168.1.10"]})
    with pytest.raises(AddressRefused) as refused:
        resolve(
            parse_target("https://mixed.example/"), policy=DEFAULT, resolver=resolver, timeout=1
        )
    assert refused.value.code == "private"


def test_a_public_name_resolves_to_the_address_to_pin():
    resolver = _resolver({"shop.example": ["2606:4700::6810:84e5", "93.184.215.14"]})
    address, port = resolve(
        parse_target("https://shop.example/"), policy=DEFAULT, resolver=resolver, timeout=1
    )
    assert (address, port) == (ipaddress.ip_address("93.184.215.14"), 443)  # IPv4 first
    assert resolver.calls == [("shop.example", 443)]


def test_ports_other_than_80_and_443_are_refused_on_public_addresses():
    resolver = _resolver({"shop.example": ["93.184.215.14"]})
    with pytest.raises(AddressRefused) as refused:
        resolve(
            parse_target("http://shop.example:6379/"), policy=DEFAULT, resolver=resolver, timeout=1
        )
    assert refused.value.code == "port"


def test_ip_literals_are_checked_without_dns():
    resolver = _resolver({})
    with pytest.raises(AddressRefused) as refused:
        resolve(parse_target("http://2130706433/"), policy=DEFAULT, resolver=resolver, timeout=1)
    assert refused.value.code == "loopback"
    assert resolver.calls == []


def test_names_that_do_not_resolve_are_refused():
    resolver = _resolver({"gone.example": socket.gaierror(socket.EAI_NONAME, "unknown")})
    with pytest.raises(AddressRefused) as refused:
        resolve(parse_target("https://gone.example/"), policy=DEFAULT, resolver=resolver, timeout=1)
    assert refused.value.code == "dns"


def test_a_slow_resolver_is_given_up_on():
    def slow(host, port):
        time.sleep(0.5)
        return [("93.184.215.14", port)]

    started = time.monotonic()
    with pytest.raises(AddressRefused) as refused:
        resolve(parse_target("https://slow.example/"), policy=DEFAULT, resolver=slow, timeout=0.05)
    assert refused.value.code == "dns"
    assert time.monotonic() - started < 0.4


def test_scoped_answers_from_the_resolver_are_refused():
    resolver = _resolver({"scoped.example": ["fe80::1%2"]})
    with pytest.raises(AddressRefused) as refused:
        resolve(
            parse_target("https://scoped.example/"), policy=DEFAULT, resolver=resolver, timeout=1
        )
    assert refused.value.code == "link_local"
