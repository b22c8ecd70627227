"""The generic CRM webhook: signed the Standard Webhooks way, verified by a loopback receiver."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from pipeline.integrations.crm import CRMError, upsert_lead
from pipeline.models import Lead
from pipeline.schemas import Classification, Score
from tests.factories import make_lead

pytestmark = pytest.mark.django_db

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Receiver:
    """A Zapier-like endpoint: verifies the signature, answers with a scripted status and body."""

    def __init__(self) -> None:
        self.deliveries: list[dict] = []
        self.status = 200
        self.answer: dict = {"id": "zap-77", "url": "https://crm.example/contacts/77"}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    payload = Webhook(SECRET).verify(raw, dict(self.headers))
                    verified = True
                except WebhookVerificationError:
                    payload, verified = json.loads(raw), False
                receiver.deliveries.append(
                    {"headers": dict(self.headers), "payload": payload, "verified": verified}
                )
                body = json.dumps(receiver.answer).encode()
                self.send_response(receiver.status if verified else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/catch/1/abc/"

    def __enter__(self):
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc_info):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    with Receiver() as server:
        settings.CRM_ADAPTER = "webhook"
        settings.CRM_WEBHOOK_URL = server.url
        settings.CRM_WEBHOOK_SECRET = SECRET
        yield server


def write(lead, value=70):
    return upsert_lead(
        lead,
        classification=Classification(label="high_intent", confidence=0.8),
        profile=None,
        score=Score(value=value, explanation="Good fit.", stage="final"),
        source="form",
        message="Hello",
    )


def test_the_contact_is_posted_signed_and_the_answer_id_is_stored(receiver):
    lead = make_lead(email="eve@acme.example")
    result = write(lead)
    (delivery,) = receiver.deliveries
    assert delivery["verified"] is True
    assert delivery["payload"]["type"] == "contact.upserted"
    contact = delivery["payload"]["data"]["contact"]
    assert contact["email"] == "eve@acme.example"
    assert contact["score"] == 70
    assert contact["score_explanation"] == "Good fit."
    assert result == {
        "adapter": "webhook",
        "external_id": "zap-77",
        "url": "https://crm.example/contacts/77",
        "created": True,
    }
    assert Lead.objects.get(pk=lead.pk).crm_external_id == "zap-77"


def test_the_same_contact_keeps_its_message_id_and_a_changed_one_gets_a_new_one(receiver):
    lead = make_lead()
    write(lead)
    write(lead)
    write(lead, value=20)
    ids = [delivery["headers"]["webhook-id"] for delivery in receiver.deliveries]
    assert ids[0] == ids[1]
    assert ids[2] != ids[0]
    assert all(f"lead{lead.pk}_" in msg_id for msg_id in ids)
    assert receiver.deliveries[1]["payload"]["data"]["external_id"] == "zap-77"


def test_a_receiver_without_an_id_gets_our_stable_one(receiver):
    receiver.answer = {}
    lead = make_lead()
    assert write(lead)["external_id"] == f"leadops-lead-{lead.pk}"
    assert write(lead)["created"] is False


def test_a_wrong_secret_fails_verification_and_is_not_retried(receiver, settings):
    settings.CRM_WEBHOOK_SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUA=="
    with pytest.raises(CRMError, match="answered 401") as caught:
        write(make_lead())
    assert caught.value.retryable is False


def test_a_receiver_error_is_retryable(receiver):
    receiver.status = 503
    with pytest.raises(CRMError, match="answered 503") as caught:
        write(make_lead())
    assert caught.value.retryable is True


def test_a_javascript_url_from_the_receiver_is_not_stored(receiver):
    receiver.answer = {"id": "x1", "url": "javascript:alert(1)"}
    assert write(make_lead())["url"] == ""
