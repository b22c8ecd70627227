"""Why intake refused something, with the HTTP status a view answers with."""

from __future__ import annotations

from collections.abc import Mapping


class IntakeError(Exception):
    """A refusal with the facts a sender needs to fix it.

    `errors` names each bad field (field -> message); `headers` go on the HTTP answer
    (Retry-After, Allow).
    """

    status = 400

    def __init__(
        self,
        message: str,
        *,
        errors: Mapping[str, str] | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = dict(errors or {})
        if status is not None:
            self.status = status
        self.headers = dict(headers or {})

    def as_json(self) -> dict:
        body: dict = {"error": self.message}
        if self.errors:
            body["errors"] = self.errors
        return body


class InvalidLead(IntakeError):
    """The submission's fields are not a lead we can store (400)."""

    status = 400

    def __init__(self, errors: Mapping[str, str]) -> None:
        summary = "; ".join(f"{field}: {message}" for field, message in errors.items())
        super().__init__(f"invalid lead: {summary}", errors=errors)


class DeliveryConflict(IntakeError):
    """A delivery id we already accepted came back with a different body (409)."""

    status = 409


class UnknownSource(IntakeError):
    """No active webhook source has this slug (404): never made, switched off or deleted."""

    status = 404

    def __init__(self, slug: str) -> None:
        super().__init__(f"no active webhook source {slug[:80]!r}")
