"""A fake Amazon SES v2 API (SendEmail) and the SNS ConfirmSubscription call, on loopback.

It checks what AWS checks: every request is signed with Signature Version 4 by the known
access key for the right region and service (the signature is recomputed from the signed
headers and the body; 403 InvalidSignatureException / UnrecognizedClientException
otherwise); a SendEmail has raw MIME content with a From (or a FromEmailAddress), a To and a Subject;
a recipient on `suppressed` gets SES's 400 MessageRejected. Accepted messages are kept in
`fake.sent` (the parsed MIME and its MessageId); confirmed SNS subscriptions in `confirmed`.
Scripted answers (`fake.answer(429, {...}, headers={"x-amzn-ErrorType": ...})`, or
`fake.answer(delay=3)` for a timeout) go first, as in FakeJSONAPI.
"""

from __future__ import annotations

import base64
import email
import email.policy
import uuid
from typing import Any

from tests.fakes.jsonapi import FakeJSONAPI

ACCESS_KEY = "AKIDLEADOPSTEST0001"
SECRET_KEY = "leadops-test-secret-access-key"
REGION = "eu-west-1"


def throttled() -> tuple[int, dict, dict]:
    """SES's answer past the account's sending rate: status, body, headers."""
    body = {"message": "Maximum sending rate exceeded."}
    return 429, body, {"x-amzn-ErrorType": "TooManyRequestsException"}


def _error(status: int, code: str, message: str) -> tuple[int, dict]:
    return status, {"__type": code, "message": message}


class FakeSES(FakeJSONAPI):
    @property
    def unauthorized_body(self):
        """SES v2 answers JSON; SNS (the query API at "/") answers XML."""
        if self.requests and self.requests[-1]["path"] == "/":
            return (
                b"<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code>"
                b"<Message>The security token included in the request is invalid.</Message>"
                b"</Error><RequestId>1</RequestId></ErrorResponse>"
            )
        return {
            "__type": "UnrecognizedClientException",
            "message": "The security token included in the request is invalid.",
        }

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[dict[str, Any]] = []
        self.suppressed: set[str] = set()
        self.confirmed: list[dict[str, str]] = []
        self._raw_bodies: dict[int, bytes] = {}

    # --- Authentication: Signature Version 4, recomputed ---------------------------------------

    def authorized(self, path, headers, query) -> bool:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        authorization = headers.get("Authorization", "")
        if not authorization.startswith("AWS4-HMAC-SHA256 "):
            return False
        fields = dict(
            part.strip().split("=", 1) for part in authorization.split(" ", 1)[1].split(",")
        )
        scope = fields.get("Credential", "").split("/")
        if len(scope) != 5 or scope[0] != ACCESS_KEY or scope[2] != REGION:
            return False
        service = scope[3]
        if (service, path) not in (("ses", "/v2/email/outbound-emails"), ("sns", "/")):
            return False
        signed = fields.get("SignedHeaders", "").split(";")
        request = AWSRequest(
            method="POST",
            url=f"{self.url}{path}",
            data=self.last_raw_body,
            headers={name: headers[name] for name in signed if name in headers},
        )
        request.context["timestamp"] = headers.get("X-Amz-Date", "")
        signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), service, REGION)
        expected = signer.signature(
            signer.string_to_sign(request, signer.canonical_request(request)), request
        )
        return fields.get("Signature") == expected

    @property
    def last_raw_body(self) -> bytes:
        return self.requests[-1].get("raw", b"") if self.requests else b""

    # --- SES v2 SendEmail and SNS ConfirmSubscription -------------------------------------------

    def handle(self, method, path, query, body):
        if (method, path) == ("POST", "/v2/email/outbound-emails"):
            return self._send(body)
        if (method, path) == ("POST", "/") and isinstance(body, dict):
            if body.get("Action") == "ConfirmSubscription":
                return self._confirm(body)
        return _error(404, "NotFoundException", f"no route {method} {path}")

    def _send(self, body):
        if not isinstance(body, dict):
            return _error(400, "BadRequestException", "the body must be an object")
        raw = ((body.get("Content") or {}).get("Raw") or {}).get("Data")
        if not isinstance(raw, str):
            return _error(400, "BadRequestException", "Content.Raw.Data is required")
        message = email.message_from_bytes(base64.b64decode(raw), policy=email.policy.default)
        sender = body.get("FromEmailAddress") or message["From"]
        if not sender or not message["To"] or not message["Subject"]:
            return _error(400, "BadRequestException", "the raw message needs From, To and Subject")
        recipient = message["To"].addresses[0].addr_spec.lower()
        if recipient in self.suppressed:
            return _error(
                400,
                "MessageRejected",
                f"Email address is on the account-level suppression list: {recipient}",
            )
        message_id = f"0102{uuid.uuid4().hex}-000000"
        self.sent.append({"MessageId": message_id, "message": message, "from": str(sender)})
        return 200, {"MessageId": message_id}

    def _confirm(self, body):
        if not body.get("TopicArn") or not body.get("Token"):
            return (
                400,
                b"<ErrorResponse><Error><Code>InvalidParameter</Code></Error></ErrorResponse>",
            )
        self.confirmed.append({"TopicArn": body["TopicArn"], "Token": body["Token"]})
        arn = f"{body['TopicArn']}:{uuid.uuid4()}"
        return 200, (
            '<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
            f"<ConfirmSubscriptionResult><SubscriptionArn>{arn}</SubscriptionArn>"
            "</ConfirmSubscriptionResult><ResponseMetadata><RequestId>"
            f"{uuid.uuid4()}</RequestId></ResponseMetadata></ConfirmSubscriptionResponse>"
        ).encode()
