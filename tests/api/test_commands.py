"""Proposition commands over HTTP: happy paths, refusals, If-Match, Idempotency-Key, correlation ids."""

from __future__ import annotations

from tests.api.conftest import Api, register, suggest

PROBLEM = "application/problem+json"


def test_register_amend_resolve_reopen_withdraw(api: Api) -> None:
    body = {"id": "energy-strikes", "kind": "prediction", "statement": "Russia will strike energy sites again",
            "actors": ["Russia"], "topics": ["energy"], "resolve_by": "2025-04-17",
            "stated_confidence": {"phrase": "likely", "probability": 0.7}}
    created = api.client.post("/propositions", json=body, headers=api.auth("editor", x_request_id="req-1"))
    assert created.status_code == 201, created.text
    assert created.headers["etag"] == '"1"' and created.headers["x-request-id"] == "req-1"
    assert created.json()["proposition"]["status"] == "open"

    amended = api.client.post("/propositions/energy-strikes/amend", json={"resolve_by": "2025-05-01", "reason": "x"},
                              headers=api.auth("editor", if_match='"1"'))
    assert amended.status_code == 200, amended.text
    assert amended.json()["proposition"]["resolve_by"] == "2025-05-01" and amended.headers["etag"] == '"2"'

    resolved = api.client.post("/propositions/energy-strikes/resolve", json={"outcome": "confirmed", "note": "n"},
                               headers=api.auth("editor", if_match='"2"'))
    assert resolved.status_code == 200, resolved.text
    detail = resolved.json()["proposition"]
    assert detail["status"] == "confirmed" and detail["resolution"]["brier"] == 0.09

    refused = api.client.post("/propositions/energy-strikes/withdraw", json={}, headers=api.auth("editor"))
    assert refused.status_code == 409 and refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"].endswith("/invalid-transition")

    reopened = api.client.post("/propositions/energy-strikes/reopen", headers=api.auth("editor2"))
    assert reopened.status_code == 200 and reopened.json()["proposition"]["status"] == "open"
    withdrawn = api.client.post("/propositions/energy-strikes/withdraw", json={"reason": "dup"},
                                headers=api.auth("editor"))
    assert withdrawn.json()["proposition"]["status"] == "withdrawn"
    again = api.client.post("/propositions/energy-strikes/resolve", json={"outcome": "refuted"},
                            headers=api.auth("editor"))
    assert again.status_code == 409

    history = api.client.get("/propositions/energy-strikes/history", headers=api.auth("reader")).json()
    actors = [(h["event_type"], h["actor"]) for h in history]
    assert ("PropositionRegistered", "user:editor") in actors
    assert ("PropositionReopened", "user:editor2") in actors
    first = api.store.read_stream("proposition-energy-strikes")[0]
    assert first.correlation_id == "req-1"


def test_refusals_are_problems_and_write_nothing(api: Api) -> None:
    register(api.tracker, "p1")
    head = api.head()
    cases = [
        ("/propositions/nope/resolve", {"outcome": "confirmed"}, {}, 404, "/not-found"),
        ("/propositions/p1/resolve", {"outcome": "maybe"}, {}, 422, "/invalid-request"),
        ("/propositions/p1/resolve", {"outcome": "confirmed", "evidence_ids": ["zz"]}, {}, 422, "/invalid-command"),
        ("/propositions/p1/amend", {"reason": "nothing"}, {}, 422, "/invalid-command"),
        ("/propositions/p1/amend", {"bogus": 1}, {}, 422, "/invalid-request"),
        ("/propositions/p1/resolve", {"outcome": "confirmed"}, {"if_match": '"7"'}, 412, "/precondition-failed"),
        ("/propositions/p1/resolve", {"outcome": "confirmed"}, {"if_match": "garbage"}, 412, "/precondition-failed"),
        ("/propositions/p1/reopen", {}, {}, 409, "/invalid-transition"),
        ("/propositions", {"kind": "prediction", "statement": "   "}, {}, 422, "/invalid-request"),
        ("/propositions", {"id": "p1", "kind": "claim", "statement": "again"}, {}, 409, "/invalid-transition"),
        ("/propositions", {"kind": "claim", "statement": "x", "source_id": "nope"}, {}, 422, "/unknown-source"),
        ("/matches/nope/confirm", {"stance": "supports"}, {}, 404, "/not-found"),
        ("/feeds", {"name": "local", "url": "http://127.0.0.1/feed"}, {}, 422, "/unsafe-url"),
        ("/feeds", {"name": "file", "url": "file:///etc/passwd"}, {}, 422, "/invalid-request"),
        ("/feeds/nope/fetch", {}, {}, 404, "/not-found"),
    ]
    for path, body, headers, status, kind in cases:
        response = api.client.post(path, json=body, headers=api.auth("editor", **headers))
        assert response.status_code == status, (path, body, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["type"].endswith(kind), (path, response.json())
    assert api.head() == head


def test_idempotency_key_replays_the_first_response(api: Api) -> None:
    body = {"kind": "claim", "statement": "Moscow keeps its demands unchanged"}
    first = api.client.post("/propositions", json=body, headers=api.auth("editor", idempotency_key="k-1"))
    head = api.head()
    retry = api.client.post("/propositions", json=body, headers=api.auth("editor", idempotency_key="k-1"))
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json() and retry.headers["etag"] == first.headers["etag"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert api.head() == head
    other = api.client.post("/propositions", json={**body, "kind": "prediction"},
                            headers=api.auth("editor", idempotency_key="k-1"))
    assert other.status_code == 422 and other.json()["type"].endswith("/idempotency-key-reused")
    # Keys are per user: another editor's k-1 is a new request (refused here, as the id exists).
    theirs = api.client.post("/propositions", json=body, headers=api.auth("editor2", idempotency_key="k-1"))
    assert theirs.status_code == 409
    assert api.head() == head


def test_a_refused_command_does_not_burn_its_key(api: Api) -> None:
    register(api.tracker, "p1")
    refused = api.client.post("/propositions/p1/reopen", json={}, headers=api.auth("editor", idempotency_key="r"))
    assert refused.status_code == 409
    api.client.post("/propositions/p1/withdraw", json={}, headers=api.auth("editor"))
    allowed = api.client.post("/propositions/p1/reopen", json={}, headers=api.auth("editor", idempotency_key="r"))
    assert allowed.status_code == 200


def test_get_has_etag_and_list_searches_evidence_titles_too(api: Api) -> None:
    register(api.tracker, "p1", "Kyiv will receive air defence systems")
    register(api.tracker, "p2", "Moscow will not respect the pause")
    suggest(api.tracker, "p2", "m1", 0.9)
    response = api.client.get("/propositions/p1", headers=api.auth("reader"))
    assert response.headers["etag"] == '"1"'
    found = api.client.get("/propositions", params={"q": "air defence"}, headers=api.auth("reader")).json()
    assert [p["id"] for p in found["items"]] == ["p1"]
    assert api.client.get("/propositions", params={"cursor": "!!"}, headers=api.auth("reader")).status_code == 422
