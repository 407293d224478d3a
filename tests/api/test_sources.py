"""Intake over HTTP: POST /sources finds candidates, an editor accepts one as a proposition with its locator."""

from __future__ import annotations

import hashlib
from typing import Any

from tests.api.conftest import Api
from tracker.extract import MAX_TEXT

# Our own short article, written for these tests (noisy on purpose: a typo, a Spanish word, a stray mark).
TEXT = (
    "Grain corridor: a test article, 02.05.2025\n"
    "On 2 May the Kremlin agreed to a 60-day grain truce in the Black Sea. "
    "Moscow will almost certainly break the truce before it ends.\n"
    "Puntin wants the sanctions on his banks lifted first. Is that a fair price ?\n"
    "Europe should keep the sanctions until the ships sail es safely.\n"
)
BODY = {"title": "Grain corridor test", "outlet": "Example Daily", "author": "A. Tester",
        "published_at": "2025-05-02", "url": "https://daily.example/grain", "text": TEXT}


def post_source(api: Api, role: str = "editor", **changes: Any) -> Any:
    return api.client.post("/sources", json={**BODY, **changes}, headers=api.auth(role))


def candidate(body: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in body["candidates"] if c["kind"] == kind)


def test_register_returns_candidates_with_locators(api: Api) -> None:
    response = post_source(api)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["text_sha256"] == hashlib.sha256(TEXT.encode()).hexdigest()
    assert [e["event_type"] for e in body["events"]] == ["SourceRegistered"]
    kinds = {c["kind"] for c in body["candidates"]}
    assert {"prediction", "claim", "prescription"} <= kinds
    for c in body["candidates"]:
        loc = c["locator"]
        assert TEXT[loc["start"]:loc["end"]] == c["text"]
        assert hashlib.sha256(c["text"].encode()).hexdigest() == loc["sha256"]
        assert loc["paragraph"] == TEXT.count("\n", 0, loc["start"]) + 1
    prediction = candidate(body, "prediction")
    assert prediction["hedge"] == {"phrase": "almost certainly", "probability": 0.95, "scale": None}
    assert prediction["resolve_by"] == "2025-07-01"  # the 60-day truce from 2 May
    assert "Russia" in prediction["actors"]
    typo = next(c for c in body["candidates"] if c["text"].startswith("Puntin"))
    assert typo["kind"] == "claim" and typo["actors"] == ["Putin"]
    assert not any(c["text"].endswith("?") for c in body["candidates"])
    listed = api.client.get(f"/sources/{body['source_id']}/candidates", headers=api.auth("editor")).json()
    assert listed["candidates"] == body["candidates"]


def test_accept_registers_proposition_with_locator(api_any: Api) -> None:
    """On SQLite and PostgreSQL: the candidate rows and the events commit together."""
    api = api_any
    body = post_source(api).json()
    chosen = candidate(body, "prediction")
    url = f"/sources/{body['source_id']}/candidates/{chosen['n']}/accept"
    accepted = api.client.post(url, json={"statement": "Russia will breach the Black Sea grain truce by 1 July 2025.",
                                          "topics": ["grain"]}, headers=api.auth("editor"))
    assert accepted.status_code == 201, accepted.text
    pid = accepted.json()["proposition"]["id"]
    shown = api.client.get(f"/propositions/{pid}", headers=api.auth("reader")).json()
    assert shown["locator"] == chosen["locator"]
    assert shown["source_id"] == body["source_id"]
    assert shown["kind"] == "prediction" and shown["resolve_by"] == "2025-07-01"
    assert shown["stated_confidence"]["phrase"] == "almost certainly"
    assert shown["stated_confidence"]["probability"] == 0.95
    history = api.client.get(f"/propositions/{pid}/history", headers=api.auth("reader")).json()
    assert [(h["event_type"], h["actor"]) for h in history][0] == ("PropositionRegistered", "user:editor")
    listed = api.client.get(f"/sources/{body['source_id']}/candidates", headers=api.auth("editor")).json()
    assert next(c for c in listed["candidates"] if c["n"] == chosen["n"])["accepted_as"] == pid

    head = api.head()
    again = api.client.post(url, json={"statement": "A second wording of the same sentence."},
                            headers=api.auth("editor2"))
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["type"].endswith("/candidate-already-accepted")
    assert api.head() == head


def test_accept_negated_flips_the_hedge(api: Api) -> None:
    body = post_source(api).json()
    chosen = candidate(body, "prediction")
    response = api.client.post(
        f"/sources/{body['source_id']}/candidates/{chosen['n']}/accept",
        json={"statement": "Russia will respect the grain truce to its end.", "negated": True, "kind": "prediction"},
        headers=api.auth("editor"))
    assert response.status_code == 201, response.text
    stated = response.json()["proposition"]["stated_confidence"]
    assert stated["negated"] is True and abs(stated["probability"] - 0.05) < 1e-9


def test_idempotent_accept_replays(api: Api) -> None:
    body = post_source(api).json()
    url = f"/sources/{body['source_id']}/candidates/1/accept"
    headers = api.auth("editor", Idempotency_Key="accept-1")
    first = api.client.post(url, json={"statement": "Moscow agreed to a grain pause in May 2025."}, headers=headers)
    head = api.head()
    second = api.client.post(url, json={"statement": "Moscow agreed to a grain pause in May 2025."}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert second.json() == first.json() and api.head() == head


def test_unknown_source_and_candidate_are_404(api: Api) -> None:
    body = post_source(api).json()
    statement = {"statement": "Some statement in our words."}
    for url in ("/sources/nope/candidates/1/accept", f"/sources/{body['source_id']}/candidates/999/accept"):
        response = api.client.post(url, json=statement, headers=api.auth("editor"))
        assert response.status_code == 404, url
        assert response.headers["content-type"].startswith("application/problem+json")
    assert api.client.get("/sources/nope/candidates", headers=api.auth("editor")).status_code == 404


def test_same_source_twice_is_409_and_writes_nothing(api: Api) -> None:
    assert post_source(api).status_code == 201
    head = api.head()
    response = post_source(api)
    assert response.status_code == 409 and api.head() == head


def test_roles(api: Api) -> None:
    head = api.head()
    assert post_source(api, "reader").status_code == 403
    assert api.client.post("/sources", json=BODY).status_code == 401
    assert api.head() == head
    source_id = post_source(api).json()["source_id"]
    assert api.client.get(f"/sources/{source_id}/candidates", headers=api.auth("reader")).status_code == 403
    response = api.client.post(f"/sources/{source_id}/candidates/1/accept", json={"statement": "Words of ours."},
                               headers=api.auth("reader"))
    assert response.status_code == 403


def test_oversized_and_invalid_bodies(api: Api) -> None:
    head = api.head()
    big = post_source(api, text="word " * (MAX_TEXT // 5 + 1))
    assert big.status_code in (413, 422)
    assert big.headers["content-type"].startswith("application/problem+json")
    for bad in ({"text": ""}, {"text": "   "}, {"published_at": "yesterday"}, {"title": None},
                {"url": "ftp://x"}, {"extra": 1}, {"text": "nul\x00inside"}):
        response = post_source(api, **bad)
        assert response.status_code == 422, bad
        assert response.json()["type"].endswith("/invalid-request")
    assert api.head() == head
    source_id = post_source(api).json()["source_id"]
    head = api.head()
    for bad_accept in ({}, {"statement": ""}, {"statement": "ok words", "kind": "guess"},
                       {"statement": "ok words", "stated_confidence": {"probability": 2}}):
        response = api.client.post(f"/sources/{source_id}/candidates/1/accept", json=bad_accept,
                                   headers=api.auth("editor"))
        assert response.status_code == 422, bad_accept
    assert api.client.post(f"/sources/{source_id}/candidates/0/accept", json={"statement": "ok words"},
                           headers=api.auth("editor")).status_code == 422
    assert api.head() == head
