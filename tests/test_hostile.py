"""Hostile input against a running `tracker serve` (a real subprocess, SQLite and PostgreSQL).

Every attempt must get a 4xx problem+json (or, for a search that is merely odd, an empty 200), write
nothing (the store's head does not move) and leave the service answering.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, drop_pg_schema, make_pg_schema_url, pg_base_url
from tests.digest.smtpserver import free_port
from tracker.service.users import add_user, revoke_user
from tracker.store import EventStore
from tracker.store.engine import make_engine
from tracker.store.migrate import upgrade

PROBLEM = "application/problem+json"

SQLISH = [
    "' OR '1'='1",
    "'; DROP TABLE events; --",
    "\" OR \"\"=\"",
    "%' UNION SELECT position, hash FROM events --",
    "1; DELETE FROM events WHERE 1=1",
    "open') OR 1=1 --",
    "\\'; SELECT pg_sleep(5); --",
    "*/ OR /*",
]
UNICODE = [
    "\x00",
    "a\x00b",
    "\u202eevil\u202c",  # right-to-left override
    "\u2066isolate\u2069",
    "\ufeff\u200b",
    "\U0001f4a5" * 50,
    "x" * 5000,
]
PRIVATE_URLS = [
    "http://127.0.0.1/feed.xml",
    "http://127.1/feed.xml",
    "http://2130706433/feed.xml",  # 127.0.0.1 as one number
    "http://0x7f000001/feed.xml",
    "http://0.0.0.0/feed.xml",
    "http://10.0.0.5/feed.xml",
    "http://192.168.1.1/feed.xml",
    "http://172.16.0.1/feed.xml",
    "http://[::1]/feed.xml",
    "http://[::ffff:127.0.0.1]/feed.xml",
    "http://[fd00::1]/feed.xml",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/",  # Alibaba metadata (carrier-grade NAT range)
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://localhost:8080/feed.xml",  # names that resolve to loopback
    "http://LOCALHOST./feed.xml",
    "http://user:pw@localhost/feed.xml",
    "file:///etc/passwd",
    "gopher://127.0.0.1:25/",
    "ftp://example.org/feed.xml",
]


@dataclass
class Service:
    base: str
    store: EventStore
    tokens: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp(f"hostile-{request.param}")
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'tracker.db'}"
    else:
        base = pg_base_url()
        url, schema = make_pg_schema_url(base)
    upgrade(url)
    engine = make_engine(url)
    tokens = {role: add_user(engine, role, role) for role in ("reader", "editor", "auditor", "admin")}
    tokens["revoked"] = add_user(engine, "gone", "admin")
    revoke_user(engine, "gone")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update({"TRACKER_DATABASE_URL": url, "PYTHONPATH": str(ROOT), "TRACKER_FEEDS_FILE": str(tmp / "none.toml"),
                "TRACKER_AUDIT_KEY_FILE": str(tmp / "audit.pem"), "TRACKER_OUTBOX_DIR": str(tmp / "outbox"),
                "TRACKER_DIGEST_SECRET_FILE": str(tmp / "secret")})
    log = tmp / "serve.log"
    process = subprocess.Popen([sys.executable, "-m", "tracker.cli", "serve", "--port", str(port), "--no-scheduler"],
                               cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    running = Service(f"http://127.0.0.1:{port}", EventStore(engine), tokens, process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                httpx.get(f"{running.base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield running
    finally:
        process.terminate()
        process.wait(timeout=15)
        engine.dispose()
        if schema is not None:
            drop_pg_schema(pg_base_url(), schema)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


@pytest.fixture
def client(service: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.base, timeout=30) as session:
        yield session


def refused(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    """A 4xx problem+json (one of `statuses` when given)."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    if statuses:
        assert response.status_code in statuses, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body = response.json()
    assert body["status"] == response.status_code and body["type"].startswith("https://")
    return body


@pytest.fixture
def unchanged(service: Service, client: httpx.Client) -> Iterator[None]:
    """The store's head does not move, and the service answers afterwards."""
    head = service.store.head()
    yield
    assert service.store.head() == head, "a hostile request wrote to the store"
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert service.process.poll() is None


def a_proposition(service: Service, client: httpx.Client) -> str:
    page = client.get("/propositions", params={"limit": 1}, headers=service.auth("reader")).json()
    assert page["items"], "serve seeds an empty store"
    return page["items"][0]["id"]


# ---- SQL-like and odd strings in every query parameter and path segment ----------------------------------

def _get_string_params(service: Service, client: httpx.Client) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    found = []
    for path, operations in spec["paths"].items():
        get = operations.get("get")
        if get is None or "{" in path:
            continue
        for parameter in get.get("parameters", []):
            schema = parameter.get("schema", {})
            types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
            if parameter["in"] == "query" and "string" in types:
                found.append((path, parameter["name"]))
    assert len(found) >= 8, found  # the list endpoints' filters are all here
    return found


def test_sql_like_and_odd_strings_in_every_query_parameter(
    service: Service, client: httpx.Client, unchanged: None
) -> None:
    everything = client.get("/propositions", params={"limit": 200}, headers=service.auth("admin")).json()["items"]
    for path, name in _get_string_params(service, client):
        for value in SQLISH + UNICODE:
            response = client.get(path, params={name: value}, headers=service.auth("admin"))
            if response.status_code == 200:
                body = response.json()
                items = body.get("items") if isinstance(body, dict) else None
                # an odd search is allowed to find nothing, never everything
                if items is not None and path == "/propositions":
                    assert len(items) < max(len(everything), 1), (path, name, value)
            else:
                refused(response)


@pytest.mark.parametrize("value", SQLISH + ["..%2F..%2Fetc%2Fpasswd", "%00", "%E2%80%AEx", "a" * 3000])
def test_sql_like_path_segments(service: Service, client: httpx.Client, unchanged: None, value: str) -> None:
    segment = value.replace("/", "%2F").replace("?", "%3F").replace("#", "%23")
    for method, template in [("GET", "/propositions/{}"), ("GET", "/propositions/{}/history"),
                             ("GET", "/audit/streams/{}"), ("POST", "/propositions/{}/withdraw"),
                             ("POST", "/matches/{}/confirm"), ("POST", "/feeds/{}/fetch"),
                             ("DELETE", "/subscribers/{}")]:
        body = {"reason": "x"} if "withdraw" in template else {"stance": "supports"} if "confirm" in template else None
        response = client.request(method, template.format(segment), json=body, headers=service.auth("admin"))
        refused(response, 404, 422)


def test_hostile_week_and_token_on_write_endpoints(service: Service, client: httpx.Client, unchanged: None) -> None:
    for value in SQLISH + UNICODE:
        refused(client.post("/digests/send", params={"week": value}, headers=service.auth("editor")), 422)
        refused(client.post("/unsubscribe", params={"token": value}))


# ---- bodies: size, depth, content types, encodings ---------------------------------------------------

def _proposition(statement: str = "A made-up alliance will hold its summit in Utopia.") -> dict[str, Any]:
    return {"id": "hostile-one", "kind": "prediction", "statement": statement, "actors": ["Utopia"]}


def test_oversized_bodies_get_413(service: Service, client: httpx.Client, unchanged: None) -> None:
    huge = json.dumps(_proposition("x" * (2 * 1024 * 1024))).encode()
    body = refused(client.post("/propositions", content=huge, headers={**service.auth("editor"),
                                                                          "Content-Type": "application/json"}), 413)
    assert "limited" in body["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap must hold on a streamed body too
        yield b'{"id": "hostile-one", "statement": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}'

    refused(client.post("/propositions", content=chunks(), headers={**service.auth("editor"),
                                                                     "Content-Type": "application/json"}), 413)
    refused(client.post("/feeds", content=b"[" * (1024 * 1024 + 10), headers={**service.auth("editor"),
                                                                               "Content-Type": "application/json"}),
            413)


@pytest.mark.parametrize("depth", [1000, 100_000, 500_000])
def test_deeply_nested_json(service: Service, client: httpx.Client, unchanged: None, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    for path in ("/propositions", "/feeds", "/subscribers"):
        content = '{"id": "hostile-one", "statement": ' + nested + "}"
        refused(client.post(path, content=content, headers={**service.auth("admin"),
                                                            "Content-Type": "application/json"}), 400, 422)
    refused(client.post("/propositions", content=nested, headers={**service.auth("admin"),
                                                                  "Content-Type": "application/json"}), 400, 422)


@pytest.mark.parametrize("content_type", [
    None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/xml", "text/json", "application/jsonp", "image/png",
])
def test_wrong_content_types(service: Service, client: httpx.Client, unchanged: None, content_type: str | None) -> None:
    payload = json.dumps(_proposition()).encode()
    headers = service.auth("editor") | ({"Content-Type": content_type} if content_type else {})
    refused(client.post("/propositions", content=payload, headers=headers), 400, 415, 422)


@pytest.mark.parametrize("raw", [
    b'{"id": "hostile-one", "kind": "prediction", "statement": "\\ud800 lone surrogate", "actors": []}',
    b'{"id": "hostile-one", "kind": "prediction", "statement": "nul \\u0000 inside", "actors": []}',
    b'{"id": "hostile-one", "kind": "prediction", "statement": "\xff\xfe not utf-8", "actors": []}',
    '{"id": "hostile-one", "kind": "prediction", "statement": "\u202eevil override\u202c", "actors": []}'.encode(),
    '{"id": "hostile-one", "kind": "prediction", "statement": "ok", "actors": ["\u2067x\u2069"]}'.encode(),
    b'{"id": "hostile-one", "kind": "prediction", "statement": NaN, "actors": []}',
    b'{"id": "hostile-one", "kind": "prediction", "statement": "dup", "statement": {"$ne": 1}}',
    b'{"id": "hostile-one\\u0000", "kind": "prediction", "statement": "ok ok ok", "actors": []}',
    b'{"id": "HOSTILE\'; DROP TABLE events; --", "kind": "prediction", "statement": "ok ok ok"}',
    b"",
    b"null",
    b'"just a string"',
    b"\xef\xbb\xbf{}",
], ids=["lone-surrogate", "nul", "bad-utf8", "rtl-override", "bidi-isolate", "nan", "operator-object", "nul-id",
        "sql-id", "empty", "null", "string", "bom-empty-object"])
def test_unicode_edge_cases_in_bodies(service: Service, client: httpx.Client, unchanged: None, raw: bytes) -> None:
    headers = service.auth("editor") | {"Content-Type": "application/json"}
    refused(client.post("/propositions", content=raw, headers=headers), 400, 422)
    pid = a_proposition(service, client)
    amend = raw.replace(b'"id": "hostile-one", "kind": "prediction", ', b"")
    refused(client.post(f"/propositions/{pid}/amend", content=amend, headers=headers), 400, 422)


# ---- feed URLs pointing inside ------------------------------------------------------------------------

@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_private_and_metadata_feed_urls_are_refused(
    service: Service, client: httpx.Client, unchanged: None, url: str
) -> None:
    body = {"name": f"Hostile {abs(hash(url)) % 10_000}", "url": url}
    problem = refused(client.post("/feeds", json=body, headers=service.auth("editor")), 422)
    assert problem["type"].rsplit("/", 1)[-1] in {"unsafe-url", "unresolvable-url", "invalid-url", "invalid-request"}


# ---- tokens -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Basic YWRtaW46YWRtaW4=", "bearer pt_not-a-real-token",
    "Bearer pt_" + "A" * 10_000, "Bearer ' OR '1'='1", "Bearer pt_\t x", "Token abc", "Bearer eyJhbGciOiJub25lIn0.e30.",
], ids=lambda v: repr(v)[:30])
def test_malformed_and_unknown_tokens(
    service: Service, client: httpx.Client, unchanged: None, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    refused(client.get("/propositions", headers=headers), 400, 401, 431)
    refused(client.post("/propositions", json=_proposition(), headers=headers), 400, 401, 431)


def test_revoked_token_and_non_ascii_token(service: Service, client: httpx.Client, unchanged: None) -> None:
    refused(client.post("/propositions", json=_proposition(), headers=service.auth("revoked")), 401)
    raw = [(b"authorization", "Bearer pt_\u00e9\u00e8".encode("latin-1")), (b"content-type", b"application/json")]
    response = client.post("/propositions", content=json.dumps(_proposition()).encode(), headers=raw)
    refused(response, 400, 401)


@pytest.mark.parametrize(("role", "method", "path"), [
    ("reader", "POST", "/propositions"),
    ("auditor", "POST", "/propositions"),
    ("reader", "POST", "/feeds"),
    ("editor", "POST", "/users"),
    ("reader", "GET", "/audit/events"),
    ("reader", "POST", "/digests/send"),
    ("auditor", "POST", "/subscribers"),
])
def test_tokens_of_another_role(
    service: Service, client: httpx.Client, unchanged: None, role: str, method: str, path: str
) -> None:
    body = {"name": "mallory", "role": "admin"} if path == "/users" else _proposition()
    refused(client.request(method, path, json=body, headers=service.auth(role)), 403)
