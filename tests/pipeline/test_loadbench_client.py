"""The benchmark's sender connection (loadbench.KeptAlive) against a real server on loopback."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline.dev.loadbench import KeptAlive, server_timing


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: set[tuple] = set()
    bodies: list[bytes] = []
    # "announce": answer with Connection: close; "silent": drop the connection after answering
    # without saying so (as a server does when its keep-alive timeout ends).
    closing = ""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._answer(202, body)

    def do_GET(self):
        self._answer(405, b"")

    def _answer(self, status, body):
        type(self).connections.add(self.client_address)
        type(self).bodies.append(body)
        self.send_response(status)
        self.send_header("Content-Length", "2")
        if self.closing == "announce":
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"ok")
        if self.closing:
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    Recorder.connections, Recorder.bodies, Recorder.closing = set(), [], ""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/webhooks/x/"
    httpd.shutdown()
    httpd.server_close()


def test_requests_share_one_connection_while_the_server_keeps_it(server):
    client = KeptAlive(server)

    answers = [client.request("POST", server, body=f"{n}".encode()) for n in range(3)]
    answers.append(client.request("GET", server))

    assert answers == [(202, b"ok")] * 3 + [(405, b"ok")]
    assert Recorder.bodies == [b"0", b"1", b"2", b""]
    assert len(Recorder.connections) == 1


@pytest.mark.parametrize("closing", ["announce", "silent"])
def test_a_connection_the_server_closed_is_opened_again_and_nothing_is_lost(server, closing):
    Recorder.closing = closing
    client = KeptAlive(server)

    answers = [client.request("POST", server, body=f"{n}".encode()) for n in range(3)]

    assert answers == [(202, b"ok")] * 3
    assert Recorder.bodies == [b"0", b"1", b"2"]  # each once: none lost, none sent twice
    assert len(Recorder.connections) == 3


def test_a_server_that_is_not_there_is_an_error_not_a_retry_loop():
    client = KeptAlive("http://127.0.0.1:9/webhooks/x/", timeout=2)

    with pytest.raises(ConnectionRefusedError):
        client.request("POST", "http://127.0.0.1:9/webhooks/x/", body=b"{}")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("app;dur=2.5", 2.5),
        ('db;dur=0.4, app;desc="view";dur=12', 12.0),
        ('app;dur="7.25"', 7.25),
        ("app", None),
        ("db;dur=1", None),
        ("app;dur=soon", None),
        ("", None),
    ],
)
def test_the_view_s_time_is_read_from_server_timing(header, expected):
    assert server_timing(header, "app") == expected
