"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives.

    with FakeSMTP() as server:
        server.use_in(settings)          # MAILERS["default"] -> this server
        ...
        server.messages                  # [Received(mail_from, rcpt_tos, message)]

Scripted trouble, for the next conversation: `refuse("RCPT", "450 4.2.1 Mailbox busy")`,
`refuse("DATA", "554 5.7.1 Rejected")`, `drop_after_data()` (keep the message, then hang up
without answering: the sender cannot know the message arrived), `on_accept(callback)` (run
something, once, after the message is kept and before the 250 answer goes back),
`on_connect(callback)` (run something, once, when a client connects and before the greeting:
a slow server, during which the world moves on). Callbacks run in a thread of their own, so
they may use the ORM; the server waits for them.
"""

from __future__ import annotations

import email
import email.policy
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes = b""  # the DATA bytes exactly as they came over the wire


class _Handler:
    def __init__(self, fake: FakeSMTP) -> None:
        self.fake = fake

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refusal = self.fake._next_refusal("RCPT")
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        refusal = self.fake._next_refusal("DATA")
        if refusal:
            return refusal
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.fake._lock:
            self.fake.messages.append(
                Received(
                    envelope.mail_from, tuple(envelope.rcpt_tos), message, envelope.original_content
                )
            )
            drop = self.fake._drop_after_data
            self.fake._drop_after_data = False
            on_accept, self.fake._on_accept = self.fake._on_accept, None
        if on_accept is not None:
            _run_in_a_thread(on_accept)
        if drop:
            server.transport.close()
            return "250 OK (never reaches the client)"
        return "250 Message accepted for delivery"


def _run_in_a_thread(callback: Callable[[], None]) -> None:
    """Run a test's callback outside the server's event loop (Django refuses ORM calls inside
    one) and wait for it: the conversation stands still meanwhile."""
    thread = threading.Thread(target=callback, name="fake-smtp-callback")
    thread.start()
    thread.join()


class _SMTP(SMTP):
    def __init__(self, handler: _Handler, **kwargs) -> None:
        super().__init__(handler, **kwargs)
        self.fake = handler.fake

    def connection_made(self, transport) -> None:
        with self.fake._lock:
            on_connect, self.fake._on_connect = self.fake._on_connect, None
        if on_connect is not None:
            _run_in_a_thread(on_connect)
        super().connection_made(transport)


class _LoopbackController(Controller):
    """aiosmtpd's Controller on port 0: learn the port the OS chose before the first connect."""

    def factory(self):
        return _SMTP(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class FakeSMTP:
    def __init__(self) -> None:
        self.messages: list[Received] = []
        self._refusals: deque[tuple[str, str]] = deque()
        self._drop_after_data = False
        self._on_accept: Callable[[], None] | None = None
        self._on_connect: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._controller = _LoopbackController(_Handler(self), hostname="127.0.0.1", port=0)

    @property
    def port(self) -> int:
        return self._controller.port

    def __enter__(self) -> FakeSMTP:
        self._controller.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._controller.stop()

    def mailer(self, *, timeout: float = 5) -> dict:
        return {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": self.port, "timeout": timeout},
        }

    def use_in(self, settings, *, timeout: float = 5) -> None:
        """Point Django's default mailer (pytest-django `settings` fixture) at this server."""
        settings.MAILERS = {"default": self.mailer(timeout=timeout)}

    def refuse(self, stage: str, reply: str) -> None:
        self._refusals.append((stage, reply))

    def drop_after_data(self) -> None:
        self._drop_after_data = True

    def on_accept(self, callback: Callable[[], None]) -> None:
        self._on_accept = callback

    def on_connect(self, callback: Callable[[], None]) -> None:
        self._on_connect = callback

    def _next_refusal(self, stage: str) -> str | None:
        with self._lock:
            if self._refusals and self._refusals[0][0] == stage:
                return self._refusals.popleft()[1]
        return None
