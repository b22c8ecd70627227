"""Property: whatever arrives at the webhook, never a 5xx, and every 2xx has a stored lead."""

import json
import uuid
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipeline.models import Lead, Submission
from tests.intake_helpers import deliver, make_source

pytestmark = pytest.mark.django_db

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)
lead_fields = st.fixed_dictionaries(
    {},
    optional={
        "email": st.emails() | st.text(max_size=30) | json_values,
        "phone": st.from_regex(r"\+?[0-9 ()\-]{4,20}", fullmatch=True) | json_values,
        "name": st.text() | json_values,
        "company": st.text(max_size=40),
        "website": st.text(max_size=40),
        "message": st.text(),
    },
)
lead_like = st.builds(
    lambda fields, extra: {**extra, **fields},
    lead_fields,
    st.dictionaries(st.text(max_size=12), json_values, max_size=4),
)
likely_leads = st.builds(
    lambda email, fields, extra: {**extra, **fields, "email": email},
    st.emails(),
    lead_fields,
    st.dictionaries(st.text(max_size=12), json_values, max_size=4),
)
json_bodies = st.one_of(likely_leads, likely_leads, lead_like, json_values).map(
    lambda value: json.dumps(value).encode()
)
form_bodies = st.dictionaries(
    st.sampled_from(["email", "phone", "name", "message", "x"]) | st.text(max_size=8),
    st.emails() | st.text(max_size=40),
    max_size=5,
).map(lambda fields: urlencode(fields).encode())
bodies = st.one_of(json_bodies, json_bodies, form_bodies, st.binary(max_size=300))
content_types = st.sampled_from(
    [
        "application/json",
        "application/json",
        "application/json",
        "application/json; charset=utf-8",
        "application/x-www-form-urlencoded",
        "application/vnd.lead+json",
        "text/plain",
        "multipart/form-data; boundary=x",
        "",
    ]
)


@pytest.fixture
def source():
    cache.clear()
    return make_source("Fuzz", rate_limit_per_minute=1_000_000)


def is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies, content_type=content_types)
def test_signed_deliveries_never_fail_with_5xx_and_2xx_means_stored(
    client, source, body, content_type
):
    webhook_source, secret = source
    signature = None if is_utf8(body) else "v1,AAAA"
    webhook_id = f"msg_{uuid.uuid4().hex}"

    response = deliver(
        client,
        webhook_source,
        secret,
        body=body,
        content_type=content_type,
        webhook_id=webhook_id,
        signature=signature,
    )

    event(f"status {response.status_code}")  # --hypothesis-show-statistics shows the spread
    assert response.status_code < 500
    answer = response.json()
    if 200 <= response.status_code < 300:
        submission = Submission.objects.get(pk=answer["submission_id"])
        assert submission.lead_id == answer["lead_id"]
        assert Lead.objects.filter(pk=answer["lead_id"]).exists()
        retry = deliver(
            client,
            webhook_source,
            secret,
            body=body,
            content_type=content_type,
            webhook_id=webhook_id,
        )
        assert retry.status_code == response.status_code and retry.content == response.content
    else:
        assert answer["error"]


header_text = st.text(alphabet=st.characters(max_codepoint=255, exclude_categories=["Cc"]))


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(webhook_id=header_text, timestamp=header_text, signature=header_text, body=bodies)
def test_forged_signature_headers_are_refused_never_5xx(
    client, source, webhook_id, timestamp, signature, body
):
    webhook_source, _ = source
    response = client.post(
        f"/webhooks/{webhook_source.slug}/",
        data=body,
        content_type="application/json",
        headers={
            "webhook-id": webhook_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": signature,
        },
    )

    assert response.status_code in (400, 401, 415)  # an empty body has no content type
    assert not Submission.objects.exists()
