"""Every staff URL sends an anonymous visitor to a login page.

Walks the whole URL conf, so a view added later without @login_required fails here. Public
endpoints are listed explicitly below; add a new one only when it is meant for the world.
"""

import re
from itertools import product
from urllib.parse import urlsplit

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

# Meant for anonymous visitors: signing in and out, the health check, the site icon.
PUBLIC_NAMES = {"login", "logout", "healthz", "admin:login", "favicon"}
# pipeline/urls.py is by design the public endpoints of the app (intake webhooks, the hosted form)
# and pipeline/unsubscribe.py the links in our emails; staff pages never go there. The JSON API
# authenticates integrators by token (401 JSON without one, tested in test_api*), and the email
# provider's events endpoint by the provider's own credentials.
PUBLIC_NAMES |= {"email_events", "metrics"}  # /metrics: METRICS_TOKEN bearer, else 404
PUBLIC_NAMESPACES = {"pipeline", "unsubscribe", "api-v1"}
SAMPLE_VALUES = ["1", "pipeline", "x", "00000000-0000-0000-0000-000000000000"]
LOGIN_PATHS = ("/login/", "/admin/login/")


def walk(patterns, prefix="", namespace=""):
    """(full regex, name with namespace, pattern) for every URL pattern, depth first."""
    for pattern in patterns:
        regex = prefix + pattern.pattern.regex.pattern.lstrip("^").rstrip("$").replace(r"\Z", "")
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}:{pattern.namespace}" if pattern.namespace else namespace
            yield from walk(pattern.url_patterns, regex, inner.lstrip(":"))
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield regex, name, pattern


def example_urls(regex: str):
    """Concrete paths matching `regex`: each capture group filled with a few sample values."""
    groups = re.findall(r"\(\?P<\w+>[^)]*\)|\([^?][^)]*\)", regex)
    compiled = re.compile("^" + regex + r"\Z")
    for values in product(SAMPLE_VALUES, repeat=len(groups)):
        path = regex
        for group, value in zip(groups, values, strict=True):
            path = path.replace(group, value, 1)
        path = path.replace("\\", "")
        if compiled.match(path):
            yield "/" + path


def staff_urls():
    found = []
    for regex, name, pattern in walk(get_resolver().url_patterns):
        namespace = (name or "").split(":", 1)[0] if name and ":" in name else ""
        if name in PUBLIC_NAMES or namespace in PUBLIC_NAMESPACES:
            continue
        urls = list(example_urls(regex))
        assert urls, f"cannot build a URL for pattern {regex!r} ({name})"
        found.append((name or regex, urls[0]))
    return found


def test_the_walk_covers_the_review_pages():
    names = {name for name, _ in staff_urls()}
    assert {"review:queue", "review:draft", "review:draft_approve", "review:lead"} <= names
    assert {"review:runs", "review:run_retry", "admin:index"} <= names


@pytest.mark.parametrize(("name", "url"), staff_urls(), ids=lambda value: str(value))
def test_an_anonymous_get_is_redirected_to_login(client, name, url):
    target = url
    # Follow a short chain (APPEND_SLASH, the admin's catch-all) to the login page.
    for _ in range(3):
        response = client.get(target)
        assert response.status_code in (301, 302), (
            f"{name} {target} answered {response.status_code}"
        )
        target = urlsplit(response.headers["Location"]).path
        if target.startswith(LOGIN_PATHS):
            break
    assert target.startswith(LOGIN_PATHS), f"{name} {url} redirected to {target}"
