"""Metrics and logs: GET /metrics scraped over HTTP after real requests, commands, a real feed pass against a local
feed server; JSON log lines parsed back; X-Request-ID kept or replaced, and echoed on every answer."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import Api, register, suggest
from tests.conftest import ROOT
from tests.ingest.feedserver import FeedServer, Reply
from tests.test_ingest_flow import ENERGY, rss
from tracker.observability.logs import StderrHandler, configure_logging
from tracker.repository.unit_of_work import proposition_stream
from tracker.seeding import seed

RID = re.compile(r"[0-9a-f]{32}")


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in a scrape (0 when absent: a counter not yet incremented)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return 0.0


def scrape(api: Api) -> str:
    response = api.client.get("/metrics", headers=api.auth("reader"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return response.text


def lines(err: str) -> list[dict]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


@pytest.fixture
def json_logs() -> Iterator[None]:
    """The JSON handler as `tracker serve` has it (tracker at INFO), removed again afterwards."""
    root, tracker_logger = logging.getLogger(), logging.getLogger("tracker")
    before, level = list(root.handlers), tracker_logger.level
    configure_logging("INFO")
    assert any(isinstance(handler, StderrHandler) for handler in root.handlers)
    yield
    for handler in root.handlers[:]:
        if handler not in before:
            root.removeHandler(handler)
    tracker_logger.setLevel(level)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


# ---- requests ---------------------------------------------------------------------------------------

def test_requests_are_counted_by_route_template_and_status(api: Api) -> None:
    register(api.tracker, "p1")
    route = "/propositions/{proposition_id}"
    before = scrape(api)
    for _ in range(2):
        assert api.client.get("/propositions/p1", headers=api.auth("reader")).status_code == 200
    assert api.client.get("/propositions/nope", headers=api.auth("reader")).status_code == 404
    assert api.client.get("/no/such/path/12345").status_code == 404
    assert api.client.request("BREW", "/health").status_code == 405
    after = scrape(api)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("tracker_http_requests_total", method="GET", route=route, status="200") == 2
    assert grew("tracker_http_requests_total", method="GET", route=route, status="404") == 1
    assert grew("tracker_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert grew("tracker_http_requests_total", method="OTHER", route="/health", status="405") == 1
    assert grew("tracker_http_request_duration_seconds_count", method="GET", route=route) == 3
    assert grew("tracker_http_request_duration_seconds_sum", method="GET", route=route) > 0
    # the scrape before this one was counted too, under its own route
    assert grew("tracker_http_requests_total", method="GET", route="/metrics", status="200") == 1
    # no raw path, id or method a client made up became a label value
    for raw in ("/propositions/p1", "nope", "/no/such", "BREW"):
        assert raw not in after


def test_a_confirm_conflict_and_what_commands_leave_behind(api: Api) -> None:
    register(api.tracker, "p1")
    suggest(api.tracker, "p1", "m1", 0.9)
    before = scrape(api)
    assert sample(before, "tracker_review_queue_depth") == 1
    assert sample(before, "tracker_store_position") == api.head()

    stale = api.client.post("/matches/m1/confirm", json={"stance": "supports"},
                            headers=api.auth("editor", if_match='"1"'))
    assert stale.status_code == 412  # the proposition is at version 2: a conflict, nothing written
    confirmed = api.client.post("/matches/m1/confirm", json={"stance": "supports"},
                                headers=api.auth("editor", if_match='"2"'))
    assert confirmed.status_code == 200, confirmed.text
    again = api.client.post("/matches/m1/confirm", json={"stance": "supports"}, headers=api.auth("editor"))
    assert again.status_code == 409  # refused by the current state: also a conflict
    unknown = api.client.post("/matches/m-none/confirm", json={"stance": "supports"}, headers=api.auth("editor"))
    assert unknown.status_code == 404
    after = scrape(api)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("tracker_commands_total", command="ConfirmMatch", outcome="conflict") == 2
    assert grew("tracker_commands_total", command="ConfirmMatch", outcome="ok") == 1
    assert grew("tracker_events_appended_total", event_type="MatchConfirmed") == 1
    assert grew("tracker_events_appended_total", event_type="StatusChanged") == 1
    assert grew("tracker_suggestions_total") == 0
    assert grew("tracker_http_requests_total", method="POST", route="/matches/{match_id}/confirm",
                status="409") == 1
    assert sample(after, "tracker_store_position") == api.head() == sample(before, "tracker_store_position") + 2
    assert sample(after, "tracker_review_queue_depth") == 0
    assert sample(after, "tracker_scrape_query_up", gauge="tracker_review_queue_depth") == 1


def test_commands_that_fail_count_by_outcome_and_roll_back_nothing_else(api: Api) -> None:
    from tracker.domain import proposition as domain
    from tracker.domain.errors import InvalidCommand, InvalidTransition
    from tracker.repository.unit_of_work import NotFound

    before = scrape(api)
    with pytest.raises(NotFound):
        api.tracker.execute("ghost", domain.WithdrawProposition(reason="x"), actor="system:test")
    register(api.tracker, "p1")
    with pytest.raises(InvalidCommand):
        register(api.tracker, "p2", kind="forecast")
    with pytest.raises(InvalidTransition):  # withdrawn twice: the state refuses it
        for _ in range(2):
            api.tracker.execute("p1", domain.WithdrawProposition(reason="x"), actor="system:test")
    after = scrape(api)

    def grew(command: str, outcome: str) -> float:
        return (sample(after, "tracker_commands_total", command=command, outcome=outcome)
                - sample(before, "tracker_commands_total", command=command, outcome=outcome))

    assert (grew("WithdrawProposition", "invalid"), grew("WithdrawProposition", "ok"),
            grew("WithdrawProposition", "conflict")) == (1, 1, 1)
    assert (grew("RegisterProposition", "ok"), grew("RegisterProposition", "invalid")) == (1, 1)
    assert grew("RegisterProposition", "error") == grew("WithdrawProposition", "error") == 0


# ---- who may scrape ---------------------------------------------------------------------------------

def test_who_may_read_metrics(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    app = api.client.app
    local = TestClient(app, client=("127.0.0.1", 40000))
    local6 = TestClient(app, client=("::1", 40000))
    assert app.state.settings.metrics == "local"  # the default
    assert local.get("/metrics").status_code == 200 and local6.get("/metrics").status_code == 200
    anonymous = api.client.get("/metrics")  # TestClient's address is not a loopback one
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert api.client.get("/metrics", headers={"Authorization": "Bearer pt_wrong"}).status_code == 401
    assert api.client.get("/metrics", headers=api.auth("reader")).status_code == 200

    monkeypatch.setattr(app.state.settings, "metrics", "token")
    assert local.get("/metrics").status_code == 401
    assert local.get("/metrics", headers=api.auth("reader")).status_code == 200
    monkeypatch.setattr(app.state.settings, "metrics", "open")
    assert api.client.get("/metrics").status_code == 200
    monkeypatch.setattr(app.state.settings, "metrics", "off")
    assert api.client.get("/metrics", headers=api.auth("admin")).status_code == 404
    assert local.get("/metrics").status_code == 404
    # not part of the API's contract (OpenAPI, and so the schemathesis run)
    assert "/metrics" not in api.client.get("/openapi.json").json()["paths"]


# ---- feeds ------------------------------------------------------------------------------------------

def test_a_feed_pass_is_counted_and_logged(
    api: Api, server: FeedServer, monkeypatch: pytest.MonkeyPatch, json_logs: None, capsys: pytest.CaptureFixture
) -> None:
    seed(api.tracker, ROOT / "seeds")  # the article's propositions: the energy story is suggested to one
    monkeypatch.setattr(api.client.app.state.settings, "allow_private_feeds", True)
    empty = ("e9", "", "", "https://news.example.org/podcast-episode")  # no title, no summary: skipped
    url = server.route("/wire.xml", Reply(body=rss(ENERGY, empty)))
    assert api.client.post("/feeds", json={"name": "Wire", "url": url}, headers=api.auth("editor")).status_code == 201
    before = scrape(api)
    capsys.readouterr()
    fetched = api.client.post("/feeds/wire/fetch", headers=api.auth("editor"))
    assert fetched.status_code == 200, fetched.text
    outcome = fetched.json()
    assert (outcome["items_new"], outcome["items_skipped"]) == (1, 1)
    err = capsys.readouterr().err
    after = scrape(api)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("tracker_feed_fetches_total", result="fetched") == 1
    assert grew("tracker_feed_fetches_total", result="failed") == 0
    assert grew("tracker_feed_items_total", result="ingested") == 1
    assert grew("tracker_feed_items_total", result="skipped") == 1
    assert grew("tracker_feed_pass_duration_seconds_count") == 1
    assert outcome["matches"] >= 1
    assert grew("tracker_suggestions_total") == outcome["matches"]
    assert grew("tracker_events_appended_total", event_type="EvidenceIngested") == 1

    (line,) = [entry for entry in lines(err) if entry.get("event") == "feed_pass"]
    assert line["logger"] == "tracker.feeds" and line["level"] == "INFO" and line["trigger"] == "request"
    assert (line["feeds"], line["fetched"], line["items_ingested"], line["items_skipped"]) == (["wire"], 1, 1, 1)
    assert line["errors"] == [] and line["suggestions"] == outcome["matches"] and line["duration_ms"] > 0
    (access,) = [entry for entry in lines(err) if entry["logger"] == "tracker.access"]
    assert (access["route"], access["status"], access["actor"]) == ("/feeds/{feed_id}/fetch", 200, "user:editor")


def test_a_failed_scheduled_pass_is_counted_and_logged_as_a_warning(
    api: Api, server: FeedServer, monkeypatch: pytest.MonkeyPatch, json_logs: None, capsys: pytest.CaptureFixture
) -> None:
    from tracker.scheduler import poll_feed

    settings = api.client.app.state.settings
    monkeypatch.setattr(settings, "allow_private_feeds", True)
    url = server.route("/down.xml", Reply(status=500))
    assert api.client.post("/feeds", json={"name": "Down", "url": url}, headers=api.auth("editor")).status_code == 201
    before = scrape(api)
    capsys.readouterr()
    poll_feed(api.tracker, settings, "down")  # the scheduler's job body
    (line,) = [entry for entry in lines(capsys.readouterr().err) if entry.get("event") == "feed_pass"]
    after = scrape(api)
    assert sample(after, "tracker_feed_fetches_total", result="failed") == (
        sample(before, "tracker_feed_fetches_total", result="failed") + 1)
    assert line["level"] == "WARNING" and line["trigger"] == "schedule" and line["failed"] == 1
    assert len(line["errors"]) == 1 and line["errors"][0].startswith("down: ") and "500" in line["errors"][0]


# ---- logs -------------------------------------------------------------------------------------------

def test_one_json_line_per_request_and_existing_log_calls_come_out_as_json(
    api: Api, json_logs: None, capsys: pytest.CaptureFixture
) -> None:
    register(api.tracker, "p1")

    @api.client.app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug the test planted")

    capsys.readouterr()
    api.client.get("/propositions/p1", headers=api.auth("reader", x_request_id="trace-7"))
    api.client.get("/propositions")  # no token: auth's own warning, as JSON
    api.client.get("/unsubscribe?lang=en&token=s3cr3t.t0ken")
    assert api.client.get("/boom").status_code == 500
    err = capsys.readouterr().err
    assert "s3cr3t" not in err
    entries = lines(err)  # every line is JSON
    access = [entry for entry in entries if entry["logger"] == "tracker.access"]
    assert [(a["method"], a["route"], a["status"]) for a in access] == [
        ("GET", "/propositions/{proposition_id}", 200), ("GET", "/propositions", 401),
        ("GET", "/unsubscribe", 400), ("GET", "/boom", 500)]
    first = access[0]
    assert first["request_id"] == "trace-7" and first["actor"] == "user:reader" and first["level"] == "INFO"
    assert first["path"] == "/propositions/p1" and first["message"] == "GET /propositions/p1 200"
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] > 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    assert access[1]["actor"] is None and RID.fullmatch(access[1]["request_id"])
    assert access[2]["path"] == "/unsubscribe?lang=en&token=[redacted]"
    denied = [entry for entry in entries if entry["logger"] == "tracker.api.auth"]
    assert denied and denied[0]["level"] == "WARNING" and denied[0]["message"].startswith("access denied 401")
    (crash,) = [entry for entry in entries if entry["logger"] == "tracker.api" and entry["level"] == "ERROR"]
    assert crash["message"] == "unhandled error on GET /boom"
    assert crash["exc"].startswith("Traceback") and "RuntimeError: a bug the test planted" in crash["exc"]


def test_the_json_formatter_keeps_extra_fields_and_redacts_messages(capsys: pytest.CaptureFixture) -> None:
    handler = StderrHandler()
    record = logging.LogRecord("tracker.x", logging.WARNING, __file__, 1, "link %s: «%s»",
                               ("https://t.example/unsubscribe/abc.def?x=1", "Київ"), None)
    record.feed = "wire"
    handler.handle(record)
    (entry,) = lines(capsys.readouterr().err)
    assert entry["message"] == "link https://t.example/unsubscribe/[redacted]?x=1: «Київ»"
    assert (entry["level"], entry["logger"], entry["feed"]) == ("WARNING", "tracker.x", "wire")


# ---- X-Request-ID -------------------------------------------------------------------------------------

def test_request_id_is_kept_when_sane_and_echoed_on_every_answer(api: Api) -> None:
    @api.client.app.get("/boom")
    def boom() -> None:
        raise RuntimeError("planted")

    given = "0123456789-ABC_def:ghi/jkl+mno=" + "x" * 97  # 128 visible characters
    assert len(given) == 128
    answers = {
        "ok": api.client.get("/health", headers={"X-Request-ID": given}),
        "unmatched": api.client.get("/nowhere", headers={"X-Request-ID": given}),
        "401": api.client.get("/propositions", headers={"X-Request-ID": given}),
        "413": api.client.post("/propositions", content=b"{" + b" " * (1024 * 1024 + 10) + b"}",
                               headers={**api.auth("editor"), "X-Request-ID": given,
                                        "Content-Type": "application/json"}),
        "500": api.client.get("/boom", headers={"X-Request-ID": given}),
    }
    assert {name: (r.status_code, r.headers["x-request-id"]) for name, r in answers.items()} == {
        "ok": (200, given), "unmatched": (404, given), "401": (401, given), "413": (413, given), "500": (500, given)}
    for bad in ("x" * 129, "has spaces", "", "tab\there"):
        echoed = api.client.get("/health", headers={"X-Request-ID": bad}).headers["x-request-id"]
        assert RID.fullmatch(echoed), (bad, echoed)
    assert RID.fullmatch(api.client.get("/health").headers["x-request-id"])
    # a command's events carry it as their correlation id
    created = api.client.post("/propositions", headers=api.auth("editor", x_request_id="trace-created"), json={
        "id": "p9", "kind": "prediction", "statement": "Russia will strike energy sites again",
        "stated_confidence": {"phrase": "likely", "probability": 0.7}})
    assert created.status_code == 201, created.text
    assert created.headers["x-request-id"] == "trace-created"
    assert api.store.read_stream(proposition_stream("p9"))[0].correlation_id == "trace-created"


def test_review_pages_log_the_signed_in_editor_as_actor(
    api: Api, json_logs: None, capsys: pytest.CaptureFixture
) -> None:
    client = TestClient(api.client.app)
    form = client.get("/review/signin")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    signed = client.post("/review/signin", data={"csrf_token": csrf, "token": api.tokens["editor"]},
                         follow_redirects=False)
    assert signed.status_code == 303
    capsys.readouterr()
    assert client.get("/review").status_code == 200
    access = [e for e in lines(capsys.readouterr().err) if e["logger"] == "tracker.access"]
    assert [(a["route"], a["actor"]) for a in access] == [("/review", "user:editor")]
