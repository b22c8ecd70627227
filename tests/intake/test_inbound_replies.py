"""POST /inbound/<slug>/: replies come in, signed, in each provider's shape, and find their lead."""

import json
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from django.core.cache import cache
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.intake.sources import generate_secret
from pipeline.integrations import outbox
from pipeline.models import InboundReply, Lead, OutboundEmail
from tests.factories import make_lead, make_reviewer
from tests.intake_helpers import deliver, make_source

pytestmark = pytest.mark.django_db

QUOTED_REPLY = """Tuesday at 10 works for us. Can you bring pricing for 40 seats?

Best,
Ana
--
Ana Lopez | CTO | Northwind

On Mon, 1 Dec 2026 at 10:00, Sam Rivera <sam@acme.example> wrote:
> Hi Ana,
> Thanks for reaching out. Does Tuesday at 10:00 work for a demo?
"""


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


@pytest.fixture
def source():
    return make_source("Inbound mail")


@pytest.fixture
def sent_email():
    """A lead and the first reply we sent them (with its Message-ID)."""
    lead = make_lead(email="ana@northwind.example", name="Ana Lopez")
    email, _ = outbox.queue_email(
        lead=lead, kind=outbox.FIRST_REPLY, subject="Your demo request", body="Hi Ana"
    )
    OutboundEmail.objects.filter(pk=email.pk).update(
        state=OutboundEmail.State.SENT, sent_at=timezone.now()
    )
    email.refresh_from_db()
    return email


def post(client, source, payload=None, **options):
    webhook_source, secret = source
    return deliver(client, webhook_source, secret, payload, door="inbound", **options)


def fields(**overrides):
    return {
        "from": "Ana Lopez <ana@northwind.example>",
        "to": "sam@acme.example",
        "subject": "Re: Your demo request",
        "text": QUOTED_REPLY,
        "message_id": make_msgid(domain="northwind.example"),
        **overrides,
    }


# --- Matching ---------------------------------------------------------------------------------


def test_a_reply_naming_our_message_id_in_in_reply_to_is_matched_to_the_lead(
    client, source, sent_email
):
    other = make_lead(email="someone@else.example")
    # Sent from another address (a colleague answering): the header still names our email.
    payload = fields(**{"from": "pa@northwind.example", "in_reply_to": sent_email.message_id})

    response = post(client, source, payload)

    assert response.status_code == 202
    assert response.json()["lead_id"] == sent_email.lead_id != other.pk
    assert response.json()["matched_by"] == "header"
    reply = InboundReply.objects.get(pk=response.json()["reply_id"])
    assert reply.reply_to_email == sent_email
    assert Lead.objects.get(pk=sent_email.lead_id).replied_at == reply.received_at


def test_a_reply_to_a_follow_up_is_matched_to_the_follow_up_through_references(
    client, source, sent_email
):
    follow_up, _ = outbox.queue_email(
        lead=sent_email.lead, kind="follow_up_1", subject="Re: Your demo request", body="Any news?"
    )
    references = f"{sent_email.message_id} {follow_up.message_id}"
    payload = fields(**{"from": "pa@northwind.example", "references": references})

    response = post(client, source, payload)

    reply = InboundReply.objects.get(pk=response.json()["reply_id"])
    assert (reply.lead_id, reply.reply_to_email_id) == (sent_email.lead_id, follow_up.pk)
    assert reply.matched_by == InboundReply.MatchedBy.HEADER


def test_a_reply_without_known_headers_is_matched_by_the_senders_address(client, source):
    lead = make_lead(email="kim@kimco.example")

    response = post(client, source, fields(**{"from": "Kim <KIM@Kimco.example>"}))

    assert response.status_code == 202
    assert (response.json()["lead_id"], response.json()["matched_by"]) == (lead.pk, "address")
    assert Lead.objects.get(pk=lead.pk).replied_at is not None


def test_an_unknown_sender_is_kept_unmatched_and_listed_for_staff(client, source):
    response = post(client, source, fields(**{"from": "stranger@nowhere.example"}))

    assert response.status_code == 202
    assert response.json()["lead_id"] is None
    reply = InboundReply.objects.get(pk=response.json()["reply_id"])
    assert reply.matched_by == "none" and reply.text == QUOTED_REPLY

    client.force_login(make_reviewer())
    page = client.get("/replies/unmatched/")
    assert "stranger@nowhere.example" in page.content.decode()
    assert "Tuesday at 10 works for us" in page.content.decode()


def test_staff_attach_an_unmatched_reply_to_its_lead(client, source):
    lead = make_lead()
    reply_id = post(client, source, fields(**{"from": "x@nowhere.example"})).json()["reply_id"]
    client.force_login(make_reviewer())

    response = client.post(f"/replies/{reply_id}/attach/", {"lead": lead.pk})

    assert response.status_code == 302
    reply = InboundReply.objects.get(pk=reply_id)
    assert (reply.lead_id, reply.matched_by) == (lead.pk, "staff")
    assert Lead.objects.get(pk=lead.pk).replied_at == reply.received_at


def test_the_first_reply_time_stays_when_they_reply_again(client, source, sent_email):
    first = post(client, source, fields(in_reply_to=sent_email.message_id)).json()
    post(client, source, fields(in_reply_to=sent_email.message_id))

    replied_at = Lead.objects.get(pk=sent_email.lead_id).replied_at
    assert replied_at == InboundReply.objects.get(pk=first["reply_id"]).received_at
    assert InboundReply.objects.filter(lead=sent_email.lead).count() == 2


# --- Quoted history and signatures ------------------------------------------------------------


def test_quoted_history_and_the_signature_are_trimmed_for_display(client, source, sent_email):
    response = post(client, source, fields(in_reply_to=sent_email.message_id))

    reply = InboundReply.objects.get(pk=response.json()["reply_id"])
    assert reply.trimmed_text == "Tuesday at 10 works for us. Can you bring pricing for 40 seats?"
    assert reply.text == QUOTED_REPLY  # the whole message is kept


def test_a_german_quote_header_is_trimmed_too(client, source, sent_email):
    text = "Passt gut, bis Dienstag.\n\nAm 01.12.2026 um 10:00 schrieb Sam Rivera <sam@acme.example>:\n> Hallo Ana\n"

    response = post(client, source, fields(text=text, in_reply_to=sent_email.message_id))

    assert InboundReply.objects.get(pk=response.json()["reply_id"]).trimmed_text == (
        "Passt gut, bis Dienstag."
    )


# --- Provider shapes --------------------------------------------------------------------------


def test_postmarks_inbound_json_is_read(client, source, sent_email):
    payload = {
        "From": "ana@northwind.example",
        "FromFull": {"Email": "ana@northwind.example", "Name": "Ana Lopez"},
        "To": "reply@acme.example",
        "Subject": "Re: Your demo request",
        "MessageID": "22c74902-a0c1-4511-804f-341342852c90",  # Postmark's own id, not a header
        "TextBody": QUOTED_REPLY,
        "HtmlBody": "<p>Tuesday at 10 works for us.</p>",
        "StrippedTextReply": "Tuesday at 10 works for us.",
        "Headers": [
            {"Name": "Message-ID", "Value": "<CAE-ana-1@mail.northwind.example>"},
            {"Name": "In-Reply-To", "Value": sent_email.message_id},
        ],
    }

    response = post(client, source, payload)

    reply = InboundReply.objects.get(pk=response.json()["reply_id"])
    assert (reply.provider, reply.matched_by, reply.lead_id) == (
        "postmark",
        "header",
        sent_email.lead_id,
    )
    assert reply.message_id == "<CAE-ana-1@mail.northwind.example>"
    assert reply.subject == "Re: Your demo request"
    assert reply.raw_payload["MessageID"] == payload["MessageID"]


def test_mailguns_form_post_is_read(client, source, sent_email):
    from urllib.parse import urlencode

    form = {
        "sender": "ana@northwind.example",
        "from": "Ana Lopez <ana@northwind.example>",
        "recipient": "reply@acme.example",
        "subject": "Re: Your demo request",
        "body-plain": QUOTED_REPLY,
        "stripped-text": "Tuesday at 10 works for us.",
        "message-headers": json.dumps(
            [
                ["Message-Id", "<mg-1@mail.northwind.example>"],
                ["In-Reply-To", sent_email.message_id],
            ]
        ),
    }

    response = post(
        client,
        source,
        body=urlencode(form).encode(),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 202
    reply = InboundReply.objects.get(pk=response.json()["reply_id"])
    assert (reply.provider, reply.lead_id, reply.to_header) == (
        "mailgun",
        sent_email.lead_id,
        "reply@acme.example",
    )
    assert reply.message_id == "<mg-1@mail.northwind.example>"


def multipart(fields_: dict[str, str], boundary="xYzZY") -> tuple[bytes, str]:
    lines = []
    for name, value in fields_.items():
        lines += [
            f"--{boundary}",
            f'Content-Disposition: form-data; name="{name}"',
            "Content-Type: text/plain; charset=utf-8",
            "",
            value,
        ]
    lines += [
        f"--{boundary}",
        'Content-Disposition: form-data; name="attachment1"; filename="deck.pdf"',
        "Content-Type: application/pdf",
        "",
        "%PDF-1.4 not really",
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(lines).encode(), f"multipart/form-data; boundary={boundary}"


def test_sendgrids_multipart_inbound_parse_post_is_read(client, source, sent_email):
    headers = (
        "Received: by mx.sendgrid.net\n"
        "From: Ana López <ana@northwind.example>\n"
        "Message-ID: <sg-1@mail.northwind.example>\n"
        f"In-Reply-To: {sent_email.message_id}\n"
        f"References: {sent_email.message_id}\n"
    )
    body, content_type = multipart(
        {
            "headers": headers,
            "from": "Ana López <ana@northwind.example>",
            "to": "reply@acme.example",
            "subject": "Re: Your demo request",
            "text": QUOTED_REPLY,
            "envelope": json.dumps({"to": ["reply@acme.example"], "from": "ana@northwind.example"}),
        }
    )

    response = post(client, source, body=body, content_type=content_type)

    assert response.status_code == 202, response.content
    reply = InboundReply.objects.get(pk=response.json()["reply_id"])
    assert (reply.provider, reply.lead_id, reply.message_id) == (
        "sendgrid",
        sent_email.lead_id,
        "<sg-1@mail.northwind.example>",
    )
    assert reply.from_header == "Ana López <ana@northwind.example>"
    assert "attachment1" not in reply.raw_payload


def raw_message(sent_email, *, html_only=False) -> bytes:
    message = EmailMessage()
    message["From"] = "Ana Lopez <ana@northwind.example>"
    message["To"] = "sam@acme.example"
    message["Subject"] = "Re: Your demo request"
    message["Message-ID"] = "<raw-1@mail.northwind.example>"
    message["In-Reply-To"] = sent_email.message_id
    message["References"] = sent_email.message_id
    if html_only:
        message.set_content("<p>Tuesday <b>works</b>.</p><script>alert(1)</script>", subtype="html")
    else:
        message.set_content(QUOTED_REPLY)
        message.add_alternative("<p>Tuesday at 10 works for us.</p>", subtype="html")
    return bytes(message)


def test_a_raw_rfc_5322_message_is_read(client, source, sent_email):
    response = post(client, source, body=raw_message(sent_email), content_type="message/rfc822")

    assert response.status_code == 202, response.content
    reply = InboundReply.objects.get(pk=response.json()["reply_id"])
    assert (reply.provider, reply.lead_id, reply.matched_by) == (
        "raw",
        sent_email.lead_id,
        "header",
    )
    assert reply.text.strip() == QUOTED_REPLY.strip()
    assert reply.html.strip() == "<p>Tuesday at 10 works for us.</p>"
    assert reply.message_id == "<raw-1@mail.northwind.example>"


def test_an_html_only_message_shows_its_text_never_its_markup(client, source, sent_email):
    response = post(
        client, source, body=raw_message(sent_email, html_only=True), content_type="message/rfc822"
    )

    reply = InboundReply.objects.get(pk=response.json()["reply_id"])
    assert "Tuesday" in reply.trimmed_text and "works" in reply.trimmed_text
    assert "<b>" not in reply.trimmed_text and "alert" not in reply.trimmed_text


def test_sendgrids_raw_mime_field_is_read(client, source, sent_email):
    body, content_type = multipart(
        {"email": raw_message(sent_email).decode(), "envelope": "{}", "to": "reply@acme.example"}
    )

    response = post(client, source, body=body, content_type=content_type)

    reply = InboundReply.objects.get(pk=response.json()["reply_id"])
    assert (reply.provider, reply.lead_id) == ("raw", sent_email.lead_id)


# --- Deliveries: signatures, replays, refusals ------------------------------------------------


def test_a_replayed_delivery_is_answered_the_same_and_stored_once(client, source, sent_email):
    payload = fields(in_reply_to=sent_email.message_id)
    first = post(client, source, payload, webhook_id="msg_same")
    again = post(client, source, payload, webhook_id="msg_same")
    # The provider retried with a new delivery id: the Message-ID says it is the same email.
    retried = post(client, source, payload, webhook_id="msg_other")

    assert first.json() == again.json() == retried.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert InboundReply.objects.count() == 1


def test_a_wrong_signature_is_refused_and_nothing_stored(client, source):
    webhook_source, _ = source
    response = deliver(client, webhook_source, generate_secret(), fields(), door="inbound")

    assert response.status_code == 401
    assert not InboundReply.objects.exists()


@pytest.mark.parametrize(
    ("payload", "status", "words"),
    [
        ({"to": "a@b.example", "text": "hi"}, 400, "sender (From) is missing"),
        ({"from": "Ana", "text": "hi"}, 400, "has no address"),
    ],
)
def test_a_delivery_that_is_not_an_email_is_refused_saying_why(
    client, source, payload, status, words
):
    response = post(client, source, payload)

    assert response.status_code == status
    assert words in json.dumps(response.json())
    assert not InboundReply.objects.exists()


def test_an_unsupported_content_type_is_refused_with_415(client, source):
    response = post(client, source, body=b"<x/>", content_type="application/xml")

    assert response.status_code == 415


def test_an_unknown_slug_is_404(client):
    response = client.post("/inbound/nope/", data=b"{}", content_type="application/json")

    assert response.status_code == 404


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.one_of(
        st.text(max_size=400),
        st.builds(
            lambda name, value: f"{name}: {value}\r\n\r\nbody",
            st.sampled_from(["From", "To", "Message-ID", "References", "Subject"]),
            st.text(max_size=80),
        ),
        # JSON escapes for what no database holds: lone surrogates, NUL, controls.
        st.builds(
            lambda name, value: json.dumps({"from": "ana@northwind.example", name: value}),
            st.sampled_from(["from", "to", "subject", "text", "html", "message_id"]),
            st.text(st.characters(categories=["Cs", "Cc", "Lu"]), max_size=20),
        ),
    ),
    content_type=st.sampled_from(
        ["message/rfc822", "text/plain", "multipart/form-data; boundary=b", "application/json"]
    ),
)
def test_any_signed_body_is_stored_or_refused_with_a_4xx_never_a_5xx(body, content_type, client):
    cache.clear()
    webhook_source, secret = make_source("Fuzz")
    try:
        response = deliver(
            client,
            webhook_source,
            secret,
            body=body.encode(),
            content_type=content_type,
            door="inbound",
        )
        assert response.status_code == 202 or 400 <= response.status_code < 500, response.content
        if response.status_code == 202:
            assert InboundReply.objects.filter(pk=response.json()["reply_id"]).exists()
    finally:
        InboundReply.objects.all().delete()
        webhook_source.delete()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"from": "ana@northwind.example", "text": "Yes \\ud800 please"}', "application/json"),
        (b'{"from": "ana@northwind.example", "subject": "Re: \\udfff"}', "application/json"),
        (
            b"From: ana@northwind.example\r\nContent-Type: text/plain; charset=utf-7\r\n\r\n+2AA-",
            "message/rfc822",
        ),
        (b"From: =?utf-8?q?Ana=00?= <ana@northwind.example>\r\n\r\nYes", "message/rfc822"),
    ],
    ids=["json-text-surrogate", "json-subject-surrogate", "utf7-part", "nul-in-from"],
)
def test_text_no_database_can_hold_is_scrubbed_not_a_500(client, source, body, content_type):
    """A lone surrogate becomes "?", a NUL goes; the reply is stored and matched all the same."""
    response = post(client, source, body=body, content_type=content_type)

    assert response.status_code == 202, response.content
    reply = InboundReply.objects.get(pk=response.json()["reply_id"])
    assert reply.from_address == "ana@northwind.example"
    stored = [reply.from_header, reply.subject, reply.text]
    assert not any("\x00" in value for value in stored)
    for value in stored:
        value.encode("utf-8")  # raises on a lone surrogate
    assert "?" in reply.text + reply.subject or "Ana" in reply.from_header


# --- Staff see it -----------------------------------------------------------------------------


def test_the_reply_shows_on_the_lead_page_escaped_and_trimmed(client, source, sent_email):
    text = "Sounds good <script>alert('x')</script>\n\nOn Mon, 1 Dec 2026, Sam wrote:\n> old\n"
    post(client, source, fields(text=text, in_reply_to=sent_email.message_id))
    client.force_login(make_reviewer())

    page = client.get(f"/leads/{sent_email.lead_id}/").content.decode()

    assert "Sounds good &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    assert 'class="badge replied"' in page


def test_the_queue_lists_a_new_reply_until_someone_marks_it_handled(client, source, sent_email):
    reply_id = post(client, source, fields(in_reply_to=sent_email.message_id)).json()["reply_id"]
    client.force_login(make_reviewer())

    queue = client.get("/").content.decode()
    assert f'id="reply-{reply_id}"' in queue and "replied" in queue

    client.post(f"/replies/{reply_id}/handled/", {"back": "/"})

    assert f'id="reply-{reply_id}"' not in client.get("/").content.decode()
    assert InboundReply.objects.get(pk=reply_id).handled_at is not None
