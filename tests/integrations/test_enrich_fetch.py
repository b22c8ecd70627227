"""The safe fetcher against the fake sites on loopback: pinning, redirects, limits, robots.txt."""

import time

import pytest

from pipeline.integrations.enrich.addresses import AddressPolicy, AddressRefused
from pipeline.integrations.enrich.fetch import (
    BudgetSpent,
    FetchError,
    FetchPolicy,
    RobotsDisallowed,
    SafeFetcher,
)
from tests.fakes.websites import wait_until

pytestmark = pytest.mark.usefixtures("only_loopback_connections")

USER_AGENT = "LeadOpsBot/0.1 (+https://example.org/bot; test)"


def policy_for(sites, **overrides) -> FetchPolicy:
    values = {
        "connect_timeout": 1.0,
        "read_timeout": 1.0,
        "budget_seconds": 5.0,
        "max_bytes": 200_000,
        "user_agent": USER_AGENT,
        "address": AddressPolicy(allow_loopback=True, loopback_ports=sites.ports),
        "verify": sites.ca_bundle,
    }
    values.update(overrides)
    return FetchPolicy(**values)


def fetcher_for(sites, **overrides) -> SafeFetcher:
    return SafeFetcher(policy_for(sites, **overrides), resolver=sites.resolve)


def test_https_page_is_fetched_from_the_checked_address_with_the_real_host_name(sites):
    page = fetcher_for(sites).get("https://ledgerly.io/")

    assert page.status == 200 and page.is_html
    assert b"Bookkeeping that does itself" in page.body
    assert "ledgerly.io" in sites.sni  # SNI names the host, not the pinned IP
    hit = next(hit for hit in sites.hits if hit.path == "/")
    assert (hit.server, hit.host) == ("https", "ledgerly.io")
    assert hit.headers["Host"] == "ledgerly.io"
    assert hit.headers["User-Agent"] == USER_AGENT


def test_a_certificate_that_does_not_name_the_host_is_refused(sites):
    with pytest.raises(FetchError) as failed:
        fetcher_for(sites).get("https://wrong-cert.com/")
    assert failed.value.code == "tls"
    assert sites.requests_to("wrong-cert.com") == {}


def test_each_host_is_resolved_once_so_dns_cannot_rebind(sites):
    answers = []

    def rebinding(host, port):
        # The first answer passes the check; any later one points inside the network.
        answers.append((host, port))
        if len(answers) == 1:
            return sites.resolve(host, port)
        return [("10.0.0.1", port)]

    fetcher = SafeFetcher(policy_for(sites), resolver=rebinding)
    assert fetcher.get("https://ledgerly.io/").status == 200
    assert fetcher.get("https://ledgerly.io/about").status == 200

    assert answers == [("ledgerly.io", 443)]
    assert sites.requests_to("ledgerly.io") == {"/robots.txt": 1, "/": 1, "/about": 1}


def test_redirects_are_followed_by_hand_and_every_hop_is_recorded(sites):
    fetcher = fetcher_for(sites)
    page = fetcher.get("http://oldbrand.com/")

    assert page.url == "https://www.newbrand.net/en/"
    assert b"Newbrand" in page.body
    hops = [(record.url, record.status, record.note) for record in fetcher.records]
    assert hops == [
        ("http://oldbrand.com/robots.txt", 404, ""),
        ("http://oldbrand.com/", 301, "redirect"),
        ("https://oldbrand.com/robots.txt", 404, ""),
        ("https://oldbrand.com/", 302, "redirect"),
        ("https://www.newbrand.net/robots.txt", 404, ""),
        ("https://www.newbrand.net/en/", 200, ""),
    ]


def test_a_redirect_loop_is_cut_off(sites):
    fetcher = fetcher_for(sites, max_redirects=5)
    with pytest.raises(FetchError) as failed:
        fetcher.get("http://loop.com/")
    assert failed.value.code == "redirects"
    page_requests = sum(
        count for path, count in sites.requests_to("loop.com").items() if path != "/robots.txt"
    )
    assert page_requests == 6
    assert fetcher.records[-1].note == "refused: too many redirects"


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/metadata", "link_local"),
        ("/metadata-mapped", "link_local"),
        ("/metadata-decimal", "link_local"),
        ("/loopback", "loopback"),
        ("/loopback-octal", "loopback"),
        ("/localhost", "loopback"),
        ("/private-name", "private"),
        ("/userinfo", "userinfo"),
        ("/file", "scheme"),
        ("/gopher", "scheme"),
        ("/port", "port"),
    ],
)
def test_a_redirect_into_the_network_is_refused_at_that_hop(sites, path, code):
    fetcher = fetcher_for(sites)
    with pytest.raises(AddressRefused) as refused:
        fetcher.get(f"http://promo-redirect.com{path}")

    assert refused.value.code == code
    assert fetcher.records[-1].note == f"refused: {code}"
    assert sites.admin_hits() == 0


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("https://ledgerly.io/", "loopback"),  # our fake sites are on loopback
        ("http://metadata.rebind.com/", "link_local"),
        ("http://mixed-answers.com/", "private"),
        ("http://v6-loopback.com/", "loopback"),
        ("http://v6-mapped.com/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link_local"),
        ("http://[::ffff:169.254.169.254]/", "link_local"),
        ("http://0x7f.1/", "loopback"),
    ],
)
def test_internal_addresses_are_refused_by_default(sites, url, code):
    fetcher = fetcher_for(sites, address=AddressPolicy())
    with pytest.raises(AddressRefused) as refused:
        fetcher.get(url)
    assert refused.value.code == code
    assert sites.hits == []


def test_the_settings_flag_lets_tests_reach_loopback(sites, settings):
    settings.ENRICH_ALLOW_PRIVATE_ADDRESSES = True
    settings.ENRICH_USER_AGENT = USER_AGENT
    port = min(port for port in sites.ports if port != sites.https.server_address[1])
    fetcher = SafeFetcher(resolver=sites.resolve)

    page = fetcher.get(f"http://127.0.0.1:{port}/")

    assert page.status == 404  # no site is called 127.0.0.1, but the request went through
    assert [hit.headers["User-Agent"] for hit in sites.hits if hit.path == "/"] == [USER_AGENT]


def test_a_huge_page_is_cut_at_the_size_cap(sites):
    fetcher = fetcher_for(sites, max_bytes=200_000)
    started = time.monotonic()
    page = fetcher.get("http://bigcatalog.com/")

    assert page.status == 200
    assert page.truncated and len(page.body) == 200_000
    assert page.body.startswith(b"<!doctype html>")
    assert fetcher.records[-1].note == "truncated at 200000 bytes"
    assert time.monotonic() - started < 1.0
    # The server stops as soon as we hang up: far from all 10 MB were sent.
    wait_until(lambda: sites.body_bytes_sent > 0)
    time.sleep(0.1)
    assert sites.body_bytes_sent < 5 * 1024 * 1024


def test_a_compressed_page_is_capped_by_its_decompressed_size(sites):
    fetcher = fetcher_for(sites, max_bytes=100_000)
    started = time.monotonic()
    page = fetcher.get("http://gzip-bomb.com/")

    assert page.truncated and len(page.body) == 100_000
    assert page.body.startswith(b"<html><head><title>Bomb</title>")
    assert time.monotonic() - started < 1.0


def test_a_server_that_does_not_answer_times_out(sites):
    fetcher = fetcher_for(sites, read_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(FetchError) as failed:
        fetcher.get("http://slowpoke.com/")
    assert failed.value.code == "timeout"
    assert time.monotonic() - started < 1.0


def test_a_server_that_drips_bytes_is_stopped_by_the_time_budget(sites):
    # Each byte comes well within the read timeout; only the total budget stops it.
    fetcher = fetcher_for(sites, read_timeout=0.3, budget_seconds=0.6)
    started = time.monotonic()
    page = fetcher.get("http://dripfeed.com/")
    elapsed = time.monotonic() - started

    assert page.truncated
    assert page.body.startswith(b"<!doctype html><html><head><title>Drip")
    assert fetcher.records[-1].note.startswith("time budget spent after")
    assert 0.4 < elapsed < 1.0
    with pytest.raises(BudgetSpent):
        fetcher.get("http://no-robots-file.com/")


def test_robots_txt_disallowing_everything_is_respected(sites):
    fetcher = fetcher_for(sites)
    with pytest.raises(RobotsDisallowed):
        fetcher.get("http://nobots.com/")
    assert sites.requests_to("nobots.com") == {"/robots.txt": 1}
    assert fetcher.records[-1].note == "robots.txt disallows"


def test_a_group_for_our_user_agent_wins_over_the_star_group(sites):
    fetcher = fetcher_for(sites)
    assert fetcher.get("https://ledgerly.io/about").status == 200
    with pytest.raises(RobotsDisallowed):
        fetcher.get("https://ledgerly.io/pricing")
    assert sites.count("ledgerly.io", "/pricing") == 0
    assert sites.count("ledgerly.io", "/robots.txt") == 1  # read once per origin


def test_an_unavailable_robots_txt_means_no_crawling(sites):
    with pytest.raises(RobotsDisallowed):
        fetcher_for(sites).get("http://brokenrobots.com/")
    assert sites.count("brokenrobots.com", "/") == 0


def test_a_missing_robots_txt_allows_everything(sites):
    assert fetcher_for(sites).get("http://no-robots-file.com/").status == 200


def test_a_body_that_is_not_html_is_not_read(sites):
    fetcher = fetcher_for(sites)
    page = fetcher.get("http://pdf-home.com/")
    assert not page.is_html and page.body == b""
    assert fetcher.records[-1].note == "not HTML (application/pdf)"


def test_a_socket_opened_after_the_budget_ran_out_is_shut_at_once():
    import socket as socket_module
    import time as time_module

    from pipeline.integrations.enrich.fetch import _Watchdog

    watchdog = _Watchdog(time_module.monotonic() - 1)
    watchdog.arm()
    deadline = time_module.monotonic() + 2
    while not watchdog.fired and time_module.monotonic() < deadline:
        time_module.sleep(0.01)
    assert watchdog.fired
    left, right = socket_module.socketpair()
    try:
        left.settimeout(1)  # without the fix the read below would wait for data that never comes
        watchdog.register(left)
        assert left.recv(10) == b""  # shut down: the read ends at once
    finally:
        left.close()
        right.close()
