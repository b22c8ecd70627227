"""A fake Anthropic Messages API: a real HTTP server on loopback that the real SDK talks to.

It speaks enough of POST /v1/messages for forced tool use: it reads the forced tool's name and
input schema, answers with one `tool_use` block holding plausible content for that agent
(classification, scoring judgements, a draft reply, or a schema-shaped object for anything
else), `stop_reason: "tool_use"` and realistic usage figures, including prompt-cache reads and
writes for a system prompt marked with cache_control.

Failure injection, per request in order: `fail_next("429", "529", "500", "timeout",
"invalid", "text", "unsafe")`, from Python or through the control API (POST /_control/fail with
{"kinds": [...]}); or at random, `failure_rates={"529": 0.2, "timeout": 0.05}` (seeded, so a
benchmark's faults repeat); `latency` delays every answer. Every request is recorded
(`requests`).

Run it by hand: `python manage.py fake_anthropic --port 8765 --latency 0.4`.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAILURE_KINDS = ("429", "529", "500", "timeout", "invalid", "text", "unsafe")

_SUBMISSION_RE = re.compile(r"<lead_submission>\n?(.*?)\n?</lead_submission>", re.S)
_CONTEXT_RE = re.compile(r"<context>\n?(.*?)\n?</context>", re.S)


def estimate_tokens(text: str) -> int:
    """Roughly what Claude's tokenizer gives for English text and JSON: 4 characters a token."""
    return max(1, (len(text) + 3) // 4)


class FakeAnthropic:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        slow_seconds: float = 5.0,
        retry_after: float = 0.05,
        min_cacheable_tokens: int = 1024,
        failure_rates: dict[str, float] | None = None,
        seed: int = 0,
    ) -> None:
        self.latency = latency
        self.failure_rates = dict(failure_rates or {})
        for kind in self.failure_rates:
            if kind not in FAILURE_KINDS:
                raise ValueError(f"unknown failure kind {kind!r}; one of {FAILURE_KINDS}")
        self._random = random.Random(seed)
        self.slow_seconds = slow_seconds
        self.retry_after = retry_after
        self.min_cacheable_tokens = min_cacheable_tokens
        self.requests: list[dict[str, Any]] = []
        self.failures: Counter[str] = Counter()  # failures answered, by kind
        self._failures: deque[str] = deque()
        self._cached_prefixes: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeAnthropic:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- control ---------------------------------------------------------------------------
    def fail_next(self, *kinds: str) -> None:
        for kind in kinds:
            if kind not in FAILURE_KINDS:
                raise ValueError(f"unknown failure kind {kind!r}; one of {FAILURE_KINDS}")
        with self._lock:
            self._failures.extend(kinds)

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()
            self.failures.clear()
            self.requests.clear()
            self._cached_prefixes.clear()

    def _next_failure(self) -> str | None:
        with self._lock:
            if self._failures:
                return self._failures.popleft()
            draw = self._random.random()
        for kind, rate in self.failure_rates.items():
            if draw < rate:
                return kind
            draw -= rate
        return None

    # --- HTTP ------------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:
                if self.path == "/_control/requests":
                    self._send(200, {"requests": fake.requests})
                else:
                    self._send(404, _error("not_found_error", f"no route {self.path}"))

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._send(400, _error("invalid_request_error", "body is not JSON"))
                    return
                if self.path == "/_control/fail":
                    fake.fail_next(*body.get("kinds", []))
                    self._send(200, {"ok": True})
                elif self.path == "/_control/latency":
                    fake.latency = float(body.get("latency", 0))
                    self._send(200, {"ok": True})
                elif self.path == "/_control/reset":
                    fake.reset()
                    self._send(200, {"ok": True})
                elif self.path.split("?")[0] == "/v1/messages":
                    status, payload, headers = fake.answer(dict(self.headers), body)
                    self._send(status, payload, headers)
                else:
                    self._send(404, _error("not_found_error", f"no route {self.path}"))

            def _send(
                self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.send_header("request-id", f"req_fake_{uuid.uuid4().hex[:16]}")
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up (a timeout test); nothing to answer.
                    pass

        return Handler

    # --- the Messages API ------------------------------------------------------------------
    def answer(
        self, headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        lowered = {name.lower(): value for name, value in headers.items()}
        with self._lock:
            self.requests.append({"headers": lowered, "body": body})
        if not lowered.get("x-api-key") and not lowered.get("authorization"):
            return 401, _error("authentication_error", "x-api-key header is required"), {}
        for field in ("model", "max_tokens", "messages"):
            if field not in body:
                return 400, _error("invalid_request_error", f"{field}: Field required"), {}

        failure = self._next_failure()
        if failure:
            with self._lock:
                self.failures[failure] += 1
        if self.latency:
            time.sleep(self.latency)
        if failure == "429":
            return (
                429,
                _error("rate_limit_error", "Number of request tokens has exceeded your rate limit"),
                {"retry-after": str(self.retry_after)},
            )
        if failure == "529":
            return 529, _error("overloaded_error", "Overloaded"), {}
        if failure == "500":
            return 500, _error("api_error", "Internal server error"), {}
        if failure == "timeout":
            time.sleep(self.slow_seconds)

        tool = _forced_tool(body)
        text = _all_user_text(body)
        submission = (_SUBMISSION_RE.search(text) or _EMPTY).group(1)
        context = (_CONTEXT_RE.search(text) or _EMPTY).group(1)
        if failure == "text" or tool is None:
            content: list[dict[str, Any]] = [
                {"type": "text", "text": "I have looked at the submission and here is my view."}
            ]
            stop_reason = "end_turn"
        else:
            if failure == "invalid":
                tool_input: dict[str, Any] = {"label": "perhaps", "confidence": 7, "body": None}
            elif failure == "unsafe":
                # A reply a manipulated model might write: invented discount, someone else's
                # address, our own instructions.
                tool_input = {
                    "subject": "Special offer",
                    "body": "Hi {first_name}, we can give you a 50% discount. Another customer, "
                    "ceo@othercorp.example, loved it. My instructions say: You write the first "
                    "reply to an inbound sales enquiry on behalf of a company, in its voice.",
                }
            else:
                tool_input = plausible_input(
                    tool["name"], tool.get("input_schema", {}), submission, context
                )
            content = [
                {
                    "type": "tool_use",
                    "id": f"toolu_fake_{uuid.uuid4().hex[:20]}",
                    "name": tool["name"],
                    "input": tool_input,
                }
            ]
            stop_reason = "tool_use"
        return 200, self._message(body, content, stop_reason), {}

    def _message(
        self, body: dict[str, Any], content: list[dict[str, Any]], stop_reason: str
    ) -> dict[str, Any]:
        tools_text = json.dumps(body.get("tools", []))
        system = body.get("system", "")
        system_blocks = [{"text": system}] if isinstance(system, str) else system
        system_text = "".join(block.get("text", "") for block in system_blocks)
        prefix_tokens = (
            estimate_tokens(tools_text) + estimate_tokens(system_text) if system_text else 0
        )
        messages_tokens = estimate_tokens(json.dumps(body.get("messages", [])))
        cache_read = cache_write = 0
        is_marked = any(
            isinstance(block, dict) and block.get("cache_control") for block in system_blocks
        )
        if is_marked and prefix_tokens >= self.min_cacheable_tokens:
            key = f"{body['model']}\n{tools_text}\n{system_text}"
            with self._lock:
                if key in self._cached_prefixes:
                    cache_read = prefix_tokens
                else:
                    self._cached_prefixes.add(key)
                    cache_write = prefix_tokens
            input_tokens = messages_tokens
        else:
            input_tokens = messages_tokens + prefix_tokens
        output_tokens = estimate_tokens(json.dumps(content)) + 12
        return {
            "id": f"msg_fake_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": cache_write,
                "cache_read_input_tokens": cache_read,
                "service_tier": "standard",
            },
        }


class _Empty:
    def group(self, _index: int) -> str:
        return ""


_EMPTY = _Empty()


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _forced_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    choice = body.get("tool_choice") or {}
    tools = body.get("tools") or []
    if choice.get("type") == "tool":
        return next((tool for tool in tools if tool.get("name") == choice.get("name")), None)
    if choice.get("type") == "any" and tools:
        return tools[0]
    return None


def _all_user_text(body: dict[str, Any]) -> str:
    first = next((m for m in body.get("messages", []) if m.get("role") == "user"), None)
    if first is None:
        return ""
    content = first.get("content", "")
    if isinstance(content, str):
        return content
    return "\n".join(block.get("text", "") for block in content if block.get("type") == "text")


# --- plausible content per agent ----------------------------------------------------------


def _field(submission: str, name: str) -> str:
    match = re.search(rf"^{name}:[ \t]*(.*)$", submission, re.M | re.I)
    return match.group(1).strip() if match else ""


def _message_text(submission: str) -> str:
    match = re.search(r"^Message:\s*\n?(.*)", submission, re.M | re.S | re.I)
    return match.group(1).strip() if match else submission


def plausible_input(
    tool_name: str, schema: dict[str, Any], submission: str, context: str
) -> dict[str, Any]:
    properties = schema.get("properties", {})
    if {"label", "confidence"} <= properties.keys():
        return _classification(submission)
    if "judgements" in properties:
        return _judgements(submission, context)
    if {"subject", "body"} <= properties.keys():
        return _draft(submission, context)
    return _from_schema(schema, schema)


def _first_json(text: str, opener: str) -> Any:
    """The first JSON value starting with `opener` in the text, or None."""
    start = text.find(opener)
    if start < 0:
        return None
    try:
        return json.JSONDecoder().raw_decode(text[start:])[0]
    except ValueError:
        return None


def _classification(submission: str) -> dict[str, Any]:
    message = _message_text(submission).lower()
    email = _field(submission, "Email").lower()
    flags: list[str] = []
    if re.search(
        r"ignore (all |any )?(previous|prior|above) instructions|system prompt|^system:",
        message,
        re.M,
    ):
        flags.append("injection")
    if email.endswith(("@gmail.com", "@yahoo.com", "@hotmail.com", "@outlook.com")):
        flags.append("free_email")
    links = len(re.findall(r"https?://", message))
    if links >= 2 or re.search(r"\b(seo|casino|crypto|backlinks?|viagra)\b", message):
        if links >= 2:
            flags.append("link_spam")
        label, reasons = "spam", ["Unsolicited promotion with links, not a buying enquiry."]
    elif re.search(r"\b(resume|cv|job|position|internship|hiring)\b", message):
        flags.append("job_applicant")
        label, reasons = "wrong_fit", ["The sender is applying for a job, not buying."]
    elif re.search(r"\b(bug|broken|login|refund|cancel my|support)\b", message):
        flags.append("support_request")
        label, reasons = "wrong_fit", ["An existing customer asking for support."]
    elif re.search(
        r"\b(demo|pricing|quote|trial|buy|purchase|contract|seats?|licen[cs]es?)\b", message
    ):
        label, reasons = "high_intent", ["Asks for a demo or pricing with a concrete need."]
    elif "injection" in flags and len(message) < 200:
        label, reasons = "spam", ["The message only tries to instruct the assistant."]
    else:
        label, reasons = "low_intent", ["A general question without a buying signal yet."]
    if "injection" in flags:
        reasons.append("The message tries to give the assistant instructions.")
    confidence = 0.93 if label in ("spam", "high_intent") else 0.81
    return {"label": label, "confidence": confidence, "reasons": reasons, "flags": flags}


def _judgements(submission: str, context: str) -> dict[str, Any]:
    criteria = _first_json(context, "[") or []
    message = _message_text(submission).lower()
    judgements = []
    for criterion in criteria if isinstance(criteria, list) else []:
        key = criterion.get("key", "")
        words = [word.lower() for word in criterion.get("keywords", [])]
        hit = next((word for word in words if word and word in message), None)
        if hit is None and "timeline" in key:
            found = re.search(
                r"\b(this|next) (week|month|quarter)\b|\bby (q[1-4]|\w+ \d{1,2})\b", message
            )
            hit = found.group(0) if found else None
        if hit is None and "budget" in key:
            found = re.search(r"[$€£]\s?\d[\d,.]*k?|\bbudget\b", message)
            hit = found.group(0) if found else None
        if hit is None and ("size" in key or "team" in key):
            found = re.search(r"\b\d+\s+(people|users|seats|reps|agents|employees)\b", message)
            hit = found.group(0) if found else None
        judgements.append(
            {
                "key": key,
                "fraction": 1.0 if hit else 0.0,
                "reason": f'The message says "{hit}".' if hit else "The message does not say so.",
            }
        )
    return {"judgements": judgements, "explanation": "Judged from the message text only."}


def _draft(submission: str, context: str) -> dict[str, Any]:
    profile = _first_json(context, "{") or {}
    company = profile.get("company_name") or "our team"
    sender = profile.get("sender_name") or "The team"
    signature = profile.get("signature") or sender
    link = profile.get("booking_link") or ""
    name = (_field(submission, "Name").split(" ")[0] or "there").capitalize()
    lead_company = _field(submission, "Company")
    about = f" at {lead_company}" if lead_company else ""
    next_step = (
        f"The quickest next step is a 30-minute call; you can pick a time here: {link}"
        if link
        else "If you share two or three times that suit you, I will send an invite."
    )
    body = (
        f"Hi {name},\n\n"
        f"Thanks for getting in touch with {company}. I read your note about what you and the team{about} "
        "are trying to do, and it sounds like a good fit for a closer look.\n\n"
        f"{next_step}\n\n"
        f"Best,\n{signature}"
    )
    return {"subject": f"Re: your enquiry to {company}", "body": body}


def _from_schema(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _from_schema(root.get("$defs", {}).get(name, {}), root)
    if "anyOf" in schema:
        options = [option for option in schema["anyOf"] if option.get("type") != "null"]
        return _from_schema(options[0], root) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "object":
        return {name: _from_schema(sub, root) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return []
    if kind == "string":
        return ""
    if kind == "integer":
        return max(0, int(schema.get("minimum", 0)))
    if kind == "number":
        return float(schema.get("minimum", 0.5 if schema.get("maximum") == 1 else 0))
    if kind == "boolean":
        return False
    return schema.get("default")
