"""The hosted form /f/<slug>/: embeddable, same-origin only, bot traps, rate limit."""

import re
import time

import pytest
from django.core import signing
from django.core.cache import cache

from pipeline.intake.traps import issue_form_token
from pipeline.models import Lead, PipelineRun, Submission
from tests.intake_helpers import make_source

pytestmark = pytest.mark.django_db

FIELDS = {
    "name": "Lea Martin",
    "email": "lea@bakery.example",
    "company": "Martin Bakery",
    "website": "bakery.example",
    "phone": "",
    "message": "Can your tool handle 200 leads a day?",
}


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


@pytest.fixture
def source():
    return make_source("Website form")[0]


def post(
    client, source, fields=None, *, token=None, seconds_ago=10, headers=None, address=None, **extra
):
    if token is None:
        token = issue_form_token(source.slug, now=time.time() - seconds_ago)
    data = {**FIELDS, **(fields or {}), "form_token": token, "contact_me_by_fax_only": "", **extra}
    environ = {"REMOTE_ADDR": address} if address else {}
    return client.post(f"/f/{source.slug}/", data=data, headers=headers or {}, **environ)


def test_the_form_page_can_be_embedded_in_an_iframe(client, source):
    response = client.get(f"/f/{source.slug}/")

    assert response.status_code == 200
    assert "X-Frame-Options" not in response.headers
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert 'name="form_token"' in response.text


def test_other_pages_still_refuse_to_be_framed(client, source):
    response = client.get("/login/")

    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]


def test_the_honeypot_is_hidden_from_people(client, source):
    html = client.get(f"/f/{source.slug}/").text
    wrapper = html[: html.index('name="contact_me_by_fax_only"')].rsplit("<div", 1)[1]

    assert "hidden" in wrapper and 'aria-hidden="true"' in wrapper


def test_a_person_s_submission_is_stored_and_thanked(client, source):
    response = post(client, source)

    assert response.status_code == 302
    assert response.headers["Location"] == f"/f/{source.slug}/thanks/"
    submission = Submission.objects.get()
    assert (submission.channel, submission.source, submission.is_trapped) == (
        "form",
        source,
        False,
    )
    assert submission.message == FIELDS["message"]
    assert PipelineRun.objects.get().submission == submission
    thanks = client.get(response.headers["Location"])
    assert thanks.status_code == 200 and "Thank you" in thanks.text
    assert "X-Frame-Options" not in thanks.headers


def test_a_filled_honeypot_is_stored_as_spam_and_never_processed(client, source):
    response = post(client, source, contact_me_by_fax_only="http://cheap-pills.example")

    assert response.status_code == 302  # the bot sees the usual thanks
    submission = Submission.objects.get()
    assert submission.is_trapped
    assert submission.trap_reason == "honeypot field was filled in"
    assert submission.lead is None
    assert not Lead.objects.exists()
    assert submission.raw_payload["contact_me_by_fax_only"] == "http://cheap-pills.example"
    assert not PipelineRun.objects.exists()


def test_a_form_filled_faster_than_a_person_can_is_trapped(client, source):
    post(client, source, seconds_ago=0.2)

    submission = Submission.objects.get()
    assert submission.is_trapped and submission.trap_reason.startswith("form filled in 0.")
    assert not PipelineRun.objects.exists()


def test_a_post_without_our_form_token_is_trapped(client, source):
    post(client, source, token="forged")

    assert Submission.objects.get().trap_reason == "missing or forged form token"
    assert not PipelineRun.objects.exists()


def test_a_trapped_bot_never_joins_a_real_person_s_history(client, source):
    post(client, source)
    post(client, source, contact_me_by_fax_only="x")

    real = Lead.objects.get()
    assert real.submissions.count() == 1
    assert Submission.objects.get(is_trapped=True).lead is None


def test_repeated_trapped_submissions_store_submissions_and_make_no_leads(client, source):
    post(client, source)  # a real person
    for fields in ({}, {"email": "not-an-email"}, {"email": "LEA@bakery.example"}, {}):
        post(client, source, fields, contact_me_by_fax_only="x")

    assert Lead.objects.count() == 1
    assert Lead.objects.get().submissions.count() == 1
    trapped = Submission.objects.filter(is_trapped=True)
    assert trapped.count() == 4 and not trapped.exclude(lead=None).exists()
    assert not PipelineRun.objects.filter(submission__in=trapped).exists()


def test_a_trapped_bot_with_junk_fields_is_still_stored(client, source):
    post(client, source, {"email": "nope", "name": "x" * 400}, contact_me_by_fax_only="x")

    submission = Submission.objects.get()
    assert submission.is_trapped and submission.email == "nope" and len(submission.name) == 300


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}],
)
def test_a_cross_site_post_is_refused(client, source, headers):
    response = post(client, source, headers=headers)

    assert response.status_code == 403
    assert not Submission.objects.exists()


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "same-origin"}, {"Origin": "http://testserver"}],
)
def test_a_post_from_our_own_page_passes_the_origin_check(client, source, headers):
    assert post(client, source, headers=headers).status_code == 302


def test_invalid_fields_show_the_form_again_with_errors(client, source):
    response = post(client, source, {"email": "lea@", "phone": ""})

    assert response.status_code == 200
    assert "not a valid email address" in response.text
    assert "Lea Martin" in response.text  # what they typed is kept
    assert not Submission.objects.exists()


def test_the_form_shown_again_can_be_sent_at_once(client, source):
    response = post(client, source, {"email": "lea@"})
    token = response.context["form"].data["form_token"]

    assert post(client, source, token=token).status_code == 302
    assert not Submission.objects.get().is_trapped


def test_lead_text_is_escaped_when_the_form_is_shown_again(client, source):
    response = post(client, source, {"email": "", "name": "<script>alert(1)</script>"})

    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text


def test_a_double_submitted_form_is_one_submission(client, source):
    token = issue_form_token(source.slug, now=time.time() - 10)
    post(client, source, token=token)
    post(client, source, token=token)

    assert Submission.objects.count() == 1
    assert PipelineRun.objects.count() == 1


def test_an_expired_form_is_shown_again(client, source, settings):
    settings.FORM_TOKEN_MAX_AGE_HOURS = 1
    response = post(client, source, seconds_ago=3601)

    assert response.status_code == 200
    assert "open for a long time" in response.text
    assert not Submission.objects.exists()


def test_posts_over_the_rate_limit_get_429_and_are_not_stored(client, source, settings):
    settings.FORM_RATE_LIMIT_PER_MINUTE = 2
    statuses = [post(client, source).status_code for _ in range(2)]
    limited = post(client, source, {"email": "third@bakery.example"})

    assert statuses == [302, 302]
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "third@bakery.example" in limited.text  # kept for the next try
    assert not Submission.objects.filter(email="third@bakery.example").exists()


def test_the_rate_limit_counts_each_client_address(client, source, settings):
    settings.FORM_RATE_LIMIT_PER_MINUTE = 1
    post(client, source, address="10.0.0.1")

    assert post(client, source, address="10.0.0.2").status_code == 302
    assert post(client, source, address="10.0.0.1").status_code == 429


def test_behind_a_proxy_the_client_address_comes_from_the_configured_header(
    client, source, settings
):
    settings.FORM_RATE_LIMIT_PER_MINUTE = 1
    settings.INTAKE_CLIENT_IP_HEADER = "X-Forwarded-For"
    first = {"X-Forwarded-For": "spoofed, 203.0.113.7"}
    second = {"X-Forwarded-For": "203.0.113.8"}

    assert post(client, source, headers=first).status_code == 302
    assert post(client, source, headers=second).status_code == 302
    assert post(client, source, headers=first).status_code == 429


def test_an_unknown_form_is_404(client):
    assert client.get("/f/nobody/").status_code == 404


def test_a_page_sent_again_with_other_answers_is_shown_again_to_send_anew(client, source, settings):
    token = issue_form_token(source.slug, now=time.time() - 10)
    post(client, source, token=token)
    again = post(client, source, {"message": "Actually, a different question"}, token=token)

    assert again.status_code == 200
    assert "already sent once" in again.text
    settings.FORM_MIN_FILL_SECONDS = 0.3
    time.sleep(0.4)  # the person reads the notice and checks the form
    resent = post(client, source, token=again.context["form"].data["form_token"])
    assert resent.status_code == 302
    assert Submission.objects.filter(is_trapped=False).count() == 2


def test_a_bot_replaying_one_token_with_other_answers_gets_the_usual_thanks(client, source):
    token = issue_form_token(source.slug)
    first = post(client, source, token=token)
    second = post(client, source, {"email": "other@bot.example"}, token=token)

    assert first.status_code == second.status_code == 302
    assert Submission.objects.get().is_trapped


def multipart(source, charset: str, name: str) -> tuple[bytes, str]:
    fields = {
        **FIELDS,
        "name": name,
        "form_token": issue_form_token(source.slug, now=time.time() - 10),
    }
    parts = [
        f'--zz\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'
        for key, value in fields.items()
    ]
    body = ("".join(parts) + "--zz--\r\n").encode()
    return body, f"multipart/form-data; boundary=zz; charset={charset}"


@pytest.mark.parametrize(("charset", "name"), [("utf-7", "+2AA-"), ("unicode_escape", "\\ud800")])
@pytest.mark.parametrize("limited", [False, True])
def test_a_form_sent_in_another_charset_is_refused_saying_so(
    client, source, settings, charset, name, limited
):
    """Not a 500: decoded as UTF-7 the name is a lone surrogate, which the page shown again
    (with errors, or over the rate limit) could not encode."""
    settings.FORM_RATE_LIMIT_PER_MINUTE = 0 if limited else 10
    body, content_type = multipart(source, charset, name)
    response = client.post(f"/f/{source.slug}/", data=body, content_type=content_type)

    assert response.status_code == 400
    assert response.text == "Bad request: send the form as UTF-8, the encoding of its page."
    assert not Submission.objects.exists()


def test_a_multipart_form_in_utf8_is_received(client, source):
    body, content_type = multipart(source, "utf-8", "Léa Martin")
    response = client.post(f"/f/{source.slug}/", data=body, content_type=content_type)

    assert response.status_code == 302
    assert Submission.objects.get().name == "Léa Martin"


def shown_token(response):
    """The token in the page as the browser received it."""
    return re.search(r'name="form_token" value="([^"]+)"', response.text).group(1)


def test_a_form_shown_again_keeps_the_first_issue_time_and_nonce(client, source):
    first = issue_form_token(source.slug, now=time.time() - 10)
    shown = shown_token(post(client, source, {"email": "lea@"}, token=first))

    assert signing.loads(shown, salt=f"pipeline.intake.form:{source.slug}") == signing.loads(
        first, salt=f"pipeline.intake.form:{source.slug}"
    )


def test_a_bot_that_never_waited_gets_no_usable_token_from_the_rate_limit_page(
    client, source, settings
):
    settings.FORM_RATE_LIMIT_PER_MINUTE = 1
    post(client, source, address="10.0.0.9")
    limited = post(client, source, token="forged", address="10.0.0.9")
    cache.clear()  # a minute later

    resent = post(client, source, token=shown_token(limited), address="10.0.0.9")

    assert limited.status_code == 429 and resent.status_code == 302
    assert Submission.objects.get(email=FIELDS["email"], is_trapped=True).trap_reason.startswith(
        "form filled in 0."
    )


def test_one_wait_buys_one_submission_not_a_stream_of_them(client, source):
    token = issue_form_token(source.slug, now=time.time() - 10)
    assert post(client, source, token=token).status_code == 302
    shown_again = post(client, source, {"email": "bot@"}, token=token)
    other_answers = {"email": "second@bot.example"}
    conflict = post(client, source, other_answers, token=shown_token(shown_again))

    assert "already sent once" in conflict.text
    post(client, source, other_answers, token=shown_token(conflict))

    assert list(Submission.objects.values_list("email", "is_trapped").order_by("pk")) == [
        (FIELDS["email"], False),
        ("second@bot.example", True),
    ]


def test_erasing_a_person_also_empties_trapped_submissions_from_their_address(client, source):
    from pipeline.erase import erase_person

    post(client, source)
    post(client, source, {"email": "LEA@bakery.example"}, contact_me_by_fax_only="x")
    post(client, source, {"email": "other@bakery.example"}, contact_me_by_fax_only="x")

    result = erase_person("lea@bakery.example")

    assert result.submissions == 2
    trapped = Submission.objects.filter(is_trapped=True)
    assert sorted(trapped.values_list("email", "message")) == [
        ("", ""),
        ("other@bakery.example", FIELDS["message"]),
    ]


def test_erasing_a_text_that_is_not_an_address_does_not_fail(client, source):
    from pipeline.erase import erase_person

    post(client, source, {"email": "not-an-email"}, contact_me_by_fax_only="x")

    assert erase_person("not-an-email").submissions == 1
    assert Submission.objects.get().email == ""


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({f"extra{n}": "x" for n in range(1001)}, "the form sent more than 1000 fields"),
        ({"message": "x" * 2_700_000}, "the form's text is larger than 2621440 bytes"),
    ],
    ids=["too many fields", "too large"],
)
def test_a_post_django_will_not_parse_is_refused_saying_why_not_logged_as_an_error(
    client, source, caplog, fields, problem
):
    response = client.post(f"/f/{source.slug}/", {**fields, "email": "a@example.org"})

    assert response.status_code == 400
    assert response.text == f"Bad request: {problem}."
    assert not Submission.objects.exists()
    assert not [record for record in caplog.records if record.levelname == "ERROR"]
