"""Property: whatever an integrator sends to /api/v1/, the answer is JSON and never a 5xx."""

import json

import pytest
from django.core.cache import cache
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.api.tokens import create_token
from tests.factories import make_waiting_draft

pytestmark = pytest.mark.django_db

texts = st.text(max_size=40) | st.sampled_from(["", "0", "-1", "9" * 30, "\x00", "é", "%"])
query_values = (
    texts
    | st.integers(min_value=-(10**25), max_value=10**25).map(str)
    | st.datetimes().map(lambda moment: moment.isoformat())
    | st.sampled_from(["high_intent", "review", "form", "failed", "0001-01-01T00:00:00+14:00"])
)
queries = st.dictionaries(
    st.sampled_from(
        ["label", "decision", "source", "created_since", "cursor", "limit", "status", "lead_id"]
    )
    | st.text(max_size=8),
    query_values,
    max_size=5,
)
path_ids = st.integers(min_value=-(10**25), max_value=10**25).map(str) | st.text(
    alphabet="0123456789abc-%.", min_size=1, max_size=12
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=8,
)
outcome_bodies = st.one_of(
    st.fixed_dictionaries(
        {"outcome": st.sampled_from(["won", "lost", "meeting_booked", "x"]) | json_values},
        optional={"note": texts | json_values},
    ),
    json_values,
).map(lambda value: json.dumps(value))
raw_bodies = st.binary(max_size=60).map(lambda data: data.decode("latin-1"))

requests_ = st.one_of(
    st.tuples(st.just("get"), st.just("/api/v1/leads"), queries, st.none()),
    st.tuples(st.just("get"), st.just("/api/v1/runs"), queries, st.none()),
    st.tuples(st.just("get"), path_ids.map(lambda i: f"/api/v1/leads/{i}"), queries, st.none()),
    st.tuples(
        st.just("post"),
        path_ids.map(lambda i: f"/api/v1/leads/{i}/outcomes"),
        st.just({}),
        outcome_bodies | raw_bodies,
    ),
    st.tuples(
        st.just("post"), path_ids.map(lambda i: f"/api/v1/runs/{i}/retry"), st.just({}), st.none()
    ),
    st.tuples(
        st.sampled_from(["get", "post", "put", "patch", "delete"]),
        st.sampled_from(["/api/v1/leads", "/api/v1/runs", "/api/v1/leads/1", "/api/v1/"])
        | st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/_-.", max_size=20).map(
            lambda rest: f"/api/v1/{rest}"
        ),
        st.just({}),
        st.none() | raw_bodies,
    ),
)


@pytest.fixture
def token():
    cache.clear()
    make_waiting_draft()
    return create_token(name="Fuzzer", scope="read_write", rate_limit_per_minute=100_000)[1]


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=requests_)
def test_api_never_answers_5xx(client, token, request):
    method, path, params, body = request
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if method == "get":
        response = client.get(path, params, **headers)
    else:
        send = getattr(client, method)
        response = send(path, body or "", content_type="application/json", **headers)
    assert response.status_code < 500, (path, params, body, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), path
    if response.status_code >= 400:
        assert response.json()["reason"]
