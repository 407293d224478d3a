"""Transport-level hardening, against real uvicorn servers on 127.0.0.1 over real sockets.

`served`: the real `tracker serve` (a subprocess, its log captured): security headers, integer bounds,
tokens kept out of the access log, a client that disconnects mid-body.
`crashy`: the same app and uvicorn options plus a route that raises, with the header and body deadlines
shortened to 1 s: a 500 must leave the keep-alive connection usable; slow clients are cut off. It runs twice: with
httptools on uvloop (what `tracker serve` uses) and with the h11 fallback (TRACKER_HTTP_IMPL=h11).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.api.conftest import Api
from tests.conftest import ROOT
from tests.digest.smtpserver import free_port
from tracker.api.serving import redact
from tracker.config import Settings
from tracker.digest.service import unsubscribe_url
from tracker.queries import paging

PROBLEM = "application/problem+json"
MAX_INT = 2**63 - 1


@dataclass
class Server:
    port: int
    log: Path
    tmp: Path
    admin: str = ""
    http: str = "httptools"
    process: subprocess.Popen[bytes] | None = None

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_log(self, predicate: Callable[[str], bool], timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while not predicate(text := self.text()):
            assert time.monotonic() < deadline, text[-3000:]
            time.sleep(0.05)
        return text


def _env(tmp: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update({"TRACKER_DATABASE_URL": url, "PYTHONPATH": str(ROOT), "TRACKER_FEEDS_FILE": str(tmp / "none.toml"),
                "TRACKER_AUDIT_KEY_FILE": str(tmp / "audit.pem"), "TRACKER_OUTBOX_DIR": str(tmp / "outbox"),
                "TRACKER_DIGEST_SECRET_FILE": str(tmp / "secret"), "TRACKER_SEEDS_DIR": str(tmp / "no-seeds")})
    return env


def run_server(args: list[str], tmp: Path, umask: int = 0o022, http: str = "httptools") -> Iterator[Server]:
    """Start a server subprocess (under a common umask), wait until /health answers, stop it afterwards."""
    port = free_port()
    log = tmp / "server.log"
    env = _env(tmp, f"sqlite:///{tmp / 'tracker.db'}")
    if http != "httptools":
        env["TRACKER_HTTP_IMPL"] = http
    process = subprocess.Popen([sys.executable, *args, "--port", str(port)], cwd=ROOT, env=env,
                               stdout=log.open("wb"), stderr=subprocess.STDOUT, umask=umask)
    server = Server(port, log, tmp, http=http, process=process)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, server.text()
            try:
                connection = server.connect()
                connection.request("GET", "/health")
                assert connection.getresponse().status == 200
                connection.close()
                break
            except OSError:
                assert time.monotonic() < deadline, server.text()
                time.sleep(0.2)
        found = re.search(r"its token \(shown only this once\): (\S+)", server.text())
        server.admin = found.group(1) if found else ""
        yield server
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from run_server(["-m", "tracker.cli", "serve", "--no-scheduler"], tmp_path_factory.mktemp("served"))


CRASHY = '''
import asyncio
import sys

import uvicorn

from tracker.api import limits, serving

limits.BODY_TIMEOUT_SECONDS = 1.0  # shortened so the test does not wait 30 s
serving.HEADER_TIMEOUT_SECONDS = 1.0
serving.MAX_CONCURRENCY = 8  # small, so that a test can reach it

from tracker.api.app import create_app
from tracker.config import Settings
from tracker.store import EventStore
from tracker.store.engine import make_engine
from tracker.store.migrate import upgrade

url, tmp, port = sys.argv[1], sys.argv[2], int(sys.argv[4])
upgrade(url)
settings = Settings(database_url=url, audit_key_file=f"{tmp}/audit.pem", feeds_file=f"{tmp}/none.toml")
app = create_app(EventStore(make_engine(url)), settings)


@app.get("/boom")
def boom() -> None:
    raise RuntimeError("a bug the test planted")


@app.get("/slow")
async def slow() -> dict[str, str]:
    await asyncio.sleep(1.5)
    return {"slept": "1.5 s"}


uvicorn.run(app, host="127.0.0.1", port=port, **serving.uvicorn_options())
'''


@pytest.fixture(scope="module", params=["httptools", "h11"])
def crashy(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("crashy")
    script = tmp / "crashy.py"
    script.write_text(CRASHY)
    yield from run_server([str(script), f"sqlite:///{tmp / 'tracker.db'}", str(tmp)], tmp, http=request.param)


@pytest.fixture(params=["httptools", "h11"])
def crashy_alone(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """A crashy server of the test's own, for a test that stops it."""
    script = tmp_path / "crashy.py"
    script.write_text(CRASHY)
    yield from run_server([str(script), f"sqlite:///{tmp_path / 'tracker.db'}", str(tmp_path)], tmp_path,
                          http=request.param)


def _get(connection: http.client.HTTPConnection, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


# ---- integer bounds -------------------------------------------------------------------------------

def test_out_of_range_position_is_422_and_the_connection_stays_usable(served: Server) -> None:
    connection = served.connect()
    auth = {"Authorization": f"Bearer {served.admin}"}
    status, headers, body = _get(connection, f"/audit/events?after={MAX_INT + 1}", **auth)
    assert status == 422 and headers["content-type"] == PROBLEM, body
    assert json.loads(body)["errors"][0]["loc"] == ["query", "after"]
    status, _, body = _get(connection, f"/audit/events?after={MAX_INT}", **auth)  # the bound itself is fine
    assert status == 200 and json.loads(body)["events"] == []
    status, _, _ = _get(connection, "/health")  # same keep-alive connection
    assert status == 200


@pytest.mark.parametrize("key", [[MAX_INT + 1, "m-1"], [-MAX_INT - 1, "m-1"], ["Infinity", "m-1"], ["NaN", "m-1"]])
def test_cursor_numbers_are_bounded(api: Api, key: list[Any]) -> None:
    # json.dumps writes Infinity/NaN bare, as json.loads reads them back.
    value = float(key[0]) if isinstance(key[0], str) else key[0]
    cursor = paging.encode(value, key[1])
    response = api.client.get("/matches", params={"cursor": cursor}, headers=api.auth("reader"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM


def test_locator_offsets_are_bounded(api: Api) -> None:
    body = {"kind": "claim", "statement": "Offsets beyond any text are refused.",
            "locator": {"paragraph": 1, "start": 0, "end": 10**30, "sha256": "0" * 64}}
    response = api.client.post("/propositions", json=body, headers=api.auth("editor"))
    assert response.status_code == 422, response.text
    assert api.head() == 0


def test_openapi_shows_the_bounds(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    after = next(p for p in schema["paths"]["/audit/events"]["get"]["parameters"] if p["name"] == "after")
    assert after["schema"]["minimum"] == 0 and after["schema"]["maximum"] == MAX_INT
    locator = schema["components"]["schemas"]["Locator"]["properties"]
    assert locator["end"]["maximum"] == locator["start"]["maximum"] == 100_000_000


def test_every_integer_query_and_path_parameter_has_bounds(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    integers = [
        (path, parameter["name"], option)
        for path, methods in schema["paths"].items()
        for operation in methods.values()
        for parameter in operation.get("parameters", [])
        for option in [parameter["schema"], *parameter["schema"].get("anyOf", [])]
        if option.get("type") == "integer"
    ]
    assert {"after", "limit", "n"} <= {name for _, name, _ in integers}  # the check below sees them
    lower, upper = {"minimum", "exclusiveMinimum"}, {"maximum", "exclusiveMaximum"}
    unbounded = [(path, name) for path, name, option in integers
                 if not (lower & option.keys() and upper & option.keys())]
    assert unbounded == []


# ---- 500s and disconnects -------------------------------------------------------------------------

def test_a_500_is_problem_json_logged_once_and_the_connection_survives(crashy: Server) -> None:
    connection = crashy.connect()
    status, headers, body = _get(connection, "/boom")
    assert status == 500 and headers["content-type"] == PROBLEM, body
    assert json.loads(body)["type"].endswith("/internal-error")
    assert headers["x-content-type-options"] == "nosniff" and headers["x-request-id"]
    status, _, _ = _get(connection, "/health")  # before the fix: ConnectionResetError
    assert status == 200
    text = crashy.wait_for_log(lambda t: "GET /health" in t)
    assert text.count("Traceback") == 1, text
    assert "Exception in ASGI application" not in text


def test_a_client_that_disconnects_mid_body_costs_one_line(served: Server) -> None:
    before = served.text()
    with socket.create_connection(("127.0.0.1", served.port)) as raw:
        raw.sendall(b"POST /propositions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + f"Authorization: Bearer {served.admin}\r\n".encode()
                    + b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"kind\": \"cl")
        time.sleep(0.3)  # let the server start reading the body
    text = served.wait_for_log(lambda t: "disconnected" in t[len(before):])
    time.sleep(0.5)  # anything else it would log comes right after
    added = served.text()[len(before):]
    assert "Traceback" not in added and "Exception" not in added, added
    lines = [json.loads(line) for line in added.splitlines() if line.strip()]
    assert [(line["logger"], line["message"]) for line in lines] == [  # the reason, then the request's own line
        ("tracker.api", "client disconnected after 12 body bytes: POST /propositions"),
        ("tracker.access", "POST /propositions 499")], text[-2000:]


def test_headers_that_never_finish_are_cut_off(crashy: Server) -> None:
    with socket.create_connection(("127.0.0.1", crashy.port), timeout=10) as raw:
        raw.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line: headers never end
        began = time.monotonic()
        for _ in range(5):  # a byte at a time, still inside the deadline each time
            time.sleep(0.3)
            try:
                raw.sendall(b"X")
            except OSError:
                break
        assert raw.recv(1024) == b""  # the server closed the connection
        assert time.monotonic() - began < 5


def test_headers_of_a_kept_alive_request_have_the_deadline_too(crashy: Server) -> None:
    with socket.create_connection(("127.0.0.1", crashy.port), timeout=10) as raw:
        raw.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _read_response(raw) == 200
        time.sleep(0.5)  # idle in between, under the 5 s keep-alive
        raw.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # the second request's head never ends
        began = time.monotonic()
        closed = False
        while time.monotonic() - began < 4:  # each byte restarts uvicorn's keep-alive clock, not the header deadline
            time.sleep(0.2)
            try:
                raw.sendall(b"X")
            except OSError:
                closed = True
                break
        if not closed:
            raw.settimeout(2)
            closed = raw.recv(1024) == b""
        assert closed and 0.8 < time.monotonic() - began < 4.5, time.monotonic() - began


def _head_of(size: int, end: bool = True) -> bytes:
    """A GET /health request line and headers of exactly `size` bytes on the wire (with the blank line if `end`)."""
    start = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: "
    tail = b"\r\n\r\n" if end else b"\r\n"
    return start + b"p" * (size - len(start) - len(tail)) + tail


def _read_response(raw: socket.socket) -> int:
    """The status of the next response on `raw`, its body read to the end (the connection stays open)."""
    response = http.client.HTTPResponse(raw)
    response.begin()
    response.read()
    return response.status


def _answer(raw: socket.socket) -> bytes:
    answer = b""
    while chunk := raw.recv(65536):
        answer += chunk
    return answer


def test_headers_up_to_the_limit_are_answered(crashy: Server) -> None:
    from tracker.api.serving import MAX_HEADER_BYTES

    with socket.create_connection(("127.0.0.1", crashy.port), timeout=10) as raw:
        raw.sendall(_head_of(MAX_HEADER_BYTES))
        assert _read_response(raw) == 200
        raw.sendall(_head_of(MAX_HEADER_BYTES))  # the count starts again for the next request
        assert _read_response(raw) == 200


@pytest.mark.parametrize("reads", [1, 3])
def test_headers_that_grow_past_the_limit_get_400_and_a_close(crashy: Server, reads: int) -> None:
    from tracker.api.serving import MAX_HEADER_BYTES

    head = _head_of(MAX_HEADER_BYTES + 2000, end=False)  # still no blank line when it passes the limit
    with socket.create_connection(("127.0.0.1", crashy.port), timeout=10) as raw:
        step = -(-len(head) // reads)
        for start in range(0, len(head), step):
            raw.sendall(head[start:start + step])
            time.sleep(0.05)  # separate reads on the server
        answer = _answer(raw)  # then the server closes
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"connection: close" in answer.lower()


def test_a_complete_head_one_byte_over_the_limit_gets_400_from_tracker_serve(served: Server) -> None:
    from tracker.api.serving import MAX_HEADER_BYTES

    # h11 checks only a head still incomplete, so this also shows that `tracker serve` runs the httptools protocol.
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as raw:
        raw.sendall(_head_of(MAX_HEADER_BYTES + 1))
        answer = _answer(raw)
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    status, _, _ = _get(served.connect(), "/health")  # the server itself is fine
    assert status == 200
    text = served.wait_for_log(lambda t: "Invalid HTTP request received." in t)
    assert "Traceback" not in text


def test_serve_runs_httptools_on_uvloop_unless_told_h11(monkeypatch: pytest.MonkeyPatch) -> None:
    from tracker.api.serving import TimedH11Protocol, TimedHttpToolsProtocol, uvicorn_options
    from tracker.config import get_settings

    monkeypatch.delenv("TRACKER_HTTP_IMPL", raising=False)
    get_settings.cache_clear()
    try:
        options = uvicorn_options()
        assert (options["http"], options["loop"]) == (TimedHttpToolsProtocol, "uvloop")
        monkeypatch.setenv("TRACKER_HTTP_IMPL", "H11")
        get_settings.cache_clear()
        options = uvicorn_options()
        assert (options["http"], options["loop"]) == (TimedH11Protocol, "asyncio")
    finally:
        get_settings.cache_clear()


def test_connections_beyond_the_limit_get_503(crashy: Server) -> None:
    idle = [socket.create_connection(("127.0.0.1", crashy.port), timeout=10) for _ in range(8)]
    try:
        time.sleep(0.3)  # accepted, and still inside their 1 s header deadline
        status, headers, body = _get(crashy.connect(), "/health")  # the 9th connection, with 8 the limit
        assert status == 503, body
    finally:
        for connection in idle:
            connection.close()
    deadline = time.monotonic() + 5
    while (status := _get(crashy.connect(), "/health")[0]) == 503 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status == 200  # served again once they are gone


def test_sigterm_lets_the_request_in_flight_finish(crashy_alone: Server) -> None:
    assert crashy_alone.process is not None
    busy = crashy_alone.connect()
    busy.request("GET", "/slow")  # 1.5 s
    with socket.create_connection(("127.0.0.1", crashy_alone.port), timeout=10) as idle:
        idle.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _read_response(idle) == 200
        time.sleep(0.3)  # /slow has begun
        crashy_alone.process.send_signal(signal.SIGTERM)
        assert idle.recv(1024) == b""  # the idle keep-alive connection is closed at once
    response = busy.getresponse()
    assert response.status == 200 and json.loads(response.read()) == {"slept": "1.5 s"}
    crashy_alone.process.wait(timeout=15)  # then the server exits
    assert "Traceback" not in crashy_alone.text()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", crashy_alone.port), timeout=2)


def test_an_idle_connection_is_closed_too(crashy: Server) -> None:
    with socket.create_connection(("127.0.0.1", crashy.port), timeout=10) as raw:
        began = time.monotonic()
        assert raw.recv(1024) == b""
        assert 0.5 < time.monotonic() - began < 5


def test_a_body_that_drips_gets_408(crashy: Server) -> None:
    with socket.create_connection(("127.0.0.1", crashy.port), timeout=10) as raw:
        raw.sendall(b"POST /propositions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100\r\n\r\n{")
        answer = b""
        while chunk := raw.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"body-timeout" in answer and b"connection: close" in answer.lower()


# ---- tokens in logs -------------------------------------------------------------------------------

def test_unsubscribe_tokens_never_reach_the_access_log(served: Server) -> None:
    connection = served.connect()
    connection.request("POST", "/subscribers", body=json.dumps({"email": "reader@example.org"}),
                       headers={"Authorization": f"Bearer {served.admin}", "Content-Type": "application/json"})
    response = connection.getresponse()
    added = json.loads(response.read())
    assert response.status == 201, added
    # The link exactly as a digest would carry it (the same secret file as the server's).
    settings = Settings(digest_secret_file=str(served.tmp / "secret"), public_base_url="http://127.0.0.1")
    subscriber = SimpleNamespace(subscriber_id=added["id"], subscription=added["subscription"])
    link = unsubscribe_url(settings, subscriber)  # type: ignore[arg-type]
    token = parse_qs(urlsplit(link).query)["token"][0]
    status, headers, body = _get(connection, f"/unsubscribe?token={token}")
    assert status == 200 and b"Unsubscribe from the weekly digest?" in body  # GET only asks; POST ends it
    assert headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "script-src" not in headers["content-security-policy"]  # the page may run no script at all
    status, _, _ = _get(connection, f"/unsubscribe?lang=en&token={token}x")  # a forged one, not first
    assert status == 400
    text = served.wait_for_log(lambda t: "lang=en&token=" in t)
    assert token not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]  # JSON logs
    access = [(line["path"], line["status"]) for line in lines
              if line["logger"] == "tracker.access" and line["route"] == "/unsubscribe"]
    assert ("/unsubscribe?token=[redacted]", 200) in access
    assert ("/unsubscribe?lang=en&token=[redacted]", 400) in access


@pytest.mark.parametrize(("line", "expected"), [
    ("/unsubscribe?token=abc.def", "/unsubscribe?token=[redacted]"),
    ("/x?a=1&access_token=s3cr3t&b=2", "/x?a=1&access_token=[redacted]&b=2"),
    ("/x?TOKEN=abc", "/x?TOKEN=[redacted]"),
    ("/unsubscribe/abc.def?x=1", "/unsubscribe/[redacted]?x=1"),
    ("/propositions?q=tokenism", "/propositions?q=tokenism"),
])
def test_redaction(line: str, expected: str) -> None:
    assert redact(line) == expected


# ---- security headers -----------------------------------------------------------------------------

def _assert_common(headers: dict[str, str]) -> None:
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


def test_security_headers_on_json_problem_health_and_html(served: Server) -> None:
    connection = served.connect()
    auth = {"Authorization": f"Bearer {served.admin}"}
    status, headers, _ = _get(connection, "/health")
    assert status == 200
    _assert_common(headers)
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert "cache-control" not in headers  # not authenticated: nothing secret to keep out of caches
    assert "server" not in headers
    status, headers, _ = _get(connection, "/propositions", **auth)
    assert status == 200 and headers["content-type"] == "application/json"
    _assert_common(headers)
    assert headers["cache-control"] == "no-store"
    status, headers, _ = _get(connection, "/propositions/none-such", **auth)
    assert status == 404 and headers["content-type"] == PROBLEM
    _assert_common(headers)
    assert headers["cache-control"] == "no-store"
    status, headers, _ = _get(connection, "/propositions", Authorization="Bearer wrong")
    assert status == 401
    _assert_common(headers)
    assert headers["cache-control"] == "no-store"
    for page in ("/docs", "/redoc"):
        status, headers, body = _get(connection, page)
        assert status == 200 and headers["content-type"].startswith("text/html")
        _assert_common(headers)
        policy = headers["content-security-policy"]
        # The documented exception: what FastAPI's pages load today must be allowed, nothing more.
        for source in re.findall(rb'(?:src|href)="(https://[^/"]+)', body):
            assert source.decode() in policy, (page, source)


def test_request_id_is_still_echoed(api: Api) -> None:
    response = api.client.get("/health", headers={"X-Request-ID": "req-42"})
    assert response.headers["X-Request-ID"] == "req-42"
    odd = api.client.get("/health", headers={"X-Request-ID": "has spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", odd.headers["X-Request-ID"])
