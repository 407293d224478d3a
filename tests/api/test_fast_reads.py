"""The hot reads answer from the read model and encode once: their bodies must equal what the response models made
from the folded stream (the old path), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tracker.api.propositions import detail_from_state
from tracker.api.schemas import PropositionDetail
from tracker.domain import proposition as domain

from .conftest import Api, register, suggest


def _folded(api: Api, pid: str) -> dict:
    loaded = api.tracker.proposition(pid)
    return detail_from_state(loaded.state, loaded.version, None).model_dump(mode="json")


def test_detail_from_the_read_model_equals_the_folded_stream(api_any: Api) -> None:
    t = api_any.tracker
    register(t, "plain")
    register(t, "bare", kind="claim", statement="Bare claim: no confidence at all")
    t.execute("bare", domain.AmendProposition({"stated_confidence": None}), actor="user:test")
    register(t, "full", statement="Prices will fall «quickly»", actors=("Ukraine", "Russia"), topics=("energy",),
             resolve_by="2020-01-01", condition="if talks resume", resolution_criteria="a signed text",
             locator={"paragraph": 3}, match_profile={"must": ["energy"]}, source_id=None)
    suggest(t, "full", "m1", 0.9)
    suggest(t, "full", "m2", 0.8)
    suggest(t, "full", "m3", 0.7)
    t.execute("full", domain.ConfirmMatch("m1", "supports"), actor="user:test")
    t.execute("full", domain.ConfirmMatch("m2", "contradicts"), actor="user:test")
    t.execute("full", domain.MuteMatching("noisy"), actor="user:test")
    t.execute("full", domain.SetEvidenceWindow("2019-01-01", "2020-06-30"), actor="user:test")
    register(t, "done", resolve_by="2020-01-01")
    suggest(t, "done", "d1", 0.9, evidence_id="ev-d1")
    t.execute("done", domain.ConfirmMatch("d1", "supports"), actor="user:test")
    t.execute("done", domain.ResolveProposition("confirmed", "it happened", ("ev-d1",)), actor="user:test")
    register(t, "unmuted")
    t.execute("unmuted", domain.MuteMatching(), actor="user:test")
    t.execute("unmuted", domain.UnmuteMatching(), actor="user:test")
    t.execute("unmuted", domain.SetEvidenceWindow("2019-01-01", None), actor="user:test")
    t.execute("unmuted", domain.SetEvidenceWindow(None, None), actor="user:test")
    for pid in ("plain", "bare", "full", "done", "unmuted"):
        answer = api_any.client.get(f"/propositions/{pid}", headers=api_any.auth("reader"))
        assert answer.status_code == 200, answer.text
        expected = _folded(api_any, pid)
        assert answer.json() == expected, pid
        assert list(answer.json()) == list(expected)  # the model's field order, too
        assert PropositionDetail.model_validate_json(answer.content).model_dump(mode="json") == expected
        assert answer.headers["etag"] == f'"{expected["version"]}"'
        assert answer.headers["content-type"] == "application/json"
    full = _folded(api_any, "full")
    assert full["muted"] and full["evidence"] == {"supports": 1, "contradicts": 1, "context": 0}
    assert full["awaiting_review"] == 1 and full["overdue"]
    assert _folded(api_any, "done")["resolution"]["outcome"] == "confirmed"


def test_detail_of_an_unknown_proposition_is_a_problem(api_any: Api) -> None:
    answer = api_any.client.get("/propositions/nope", headers=api_any.auth("reader"))
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/not-found")


def _seed_list(api: Api) -> None:
    t = api.tracker
    register(t, "a-plain")
    register(t, "b-quotes", statement='He said "no" \\ twice, «non», 東京 \u2028 </script>', actors=("50%_off", "Zoë"),
             topics=("a/b",), resolve_by="2020-01-01")
    register(t, "c-claim", kind="claim", statement="A claim", actors=("Russia",))
    register(t, "d-late", resolve_by="2000-01-01", actors=("Russia", "Ukraine"))
    register(t, "e-later", resolve_by="2999-01-01")
    for n in range(5):
        register(t, f"f-{n}", actors=("x",))
    suggest(t, "a-plain", "m-a1", 0.5)
    suggest(t, "a-plain", "m-a2", 0.75)
    suggest(t, "b-quotes", "m-b1", 0.75)
    suggest(t, "b-quotes", "m-b2", 1.0)
    suggest(t, "c-claim", "m-c1", 0.25)
    t.execute("c-claim", domain.ConfirmMatch("m-c1", "context"), actor="user:test")
    t.execute("d-late", domain.ResolveProposition("annulled", "void"), actor="user:test")


def _pages(api: Api, path: str, **params: object) -> list[dict]:
    pages, cursor = [], None
    while True:
        query = {k: v for k, v in params.items() if v is not None}
        if cursor:
            query["cursor"] = cursor
        answer = api.client.get(path, params=query, headers=api.auth("reader"))
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/json"
        pages.append(answer.json())
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return pages


def test_list_pages_equal_the_sqlalchemy_query(api_any: Api) -> None:
    from tracker.api.propositions import _summary
    from tracker.api.schemas import PropositionPage
    from tracker.queries import propositions as queries

    _seed_list(api_any)
    engine = api_any.store.engine
    cases = [{}, {"status": "open"}, {"kind": "claim"}, {"actor": "Russia"}, {"actor": "50%_off"}, {"actor": "%"},
             {"actor": "_"}, {"overdue": True}, {"overdue": False}, {"status": "open", "kind": "prediction"},
             {"actor": "Zoë"}]
    for case in cases:
        for limit in (1, 3, 50):
            pages = _pages(api_any, "/propositions", limit=limit, **case)
            expected = _model_pages(
                lambda cursor, case=case, limit=limit: queries.list_propositions(
                    engine, limit=limit, cursor=cursor, **case),
                lambda page: PropositionPage(items=[_summary(r) for r in page.items], next_cursor=page.next_cursor))
            assert pages == expected, (case, limit)
    everything = _pages(api_any, "/propositions", limit=200)[0]["items"]
    assert {p["id"] for p in everything} >= {"a-plain", "b-quotes", "f-4"}
    assert next(p for p in everything if p["id"] == "b-quotes")["statement"].startswith('He said "no"')
    # A text search still answers (through the SQLAlchemy query, in the thread pool).
    found = api_any.client.get("/propositions", params={"q": "claim"}, headers=api_any.auth("reader")).json()
    assert [p["id"] for p in found["items"]] == ["c-claim"]
    bad = api_any.client.get("/propositions", params={"cursor": "bm9wZQ"}, headers=api_any.auth("reader"))
    assert bad.status_code == 422 and bad.json()["type"].endswith("/invalid-cursor")


def _model_pages(fetch: Any, model: Any) -> list[dict[str, Any]]:
    """Every page of a SQLAlchemy query (`fetch(cursor)`) through its response model (`model(page)`), as JSON."""
    cursor, pages = None, []
    while True:
        page = fetch(cursor)
        pages.append(model(page).model_dump(mode="json"))
        cursor = page.next_cursor
        if cursor is None:
            return pages


def test_queue_pages_equal_the_sqlalchemy_query(api_any: Api) -> None:
    from tracker.api.matches import _item
    from tracker.api.schemas import MatchPage
    from tracker.queries.review import review_queue

    _seed_list(api_any)
    engine = api_any.store.engine
    for case in ({"state": "suggested"}, {"state": "confirmed"}, {"state": "rejected"},
                 {"state": "suggested", "proposition_id": "b-quotes"}):
        for limit in (1, 2, 50):
            pages = _pages(api_any, "/matches", limit=limit, **case)
            expected = _model_pages(
                lambda cursor, case=case, limit=limit: review_queue(engine, limit=limit, cursor=cursor, **case),
                lambda page: MatchPage(items=[_item(m) for m in page.items], next_cursor=page.next_cursor))
            assert pages == expected, (case, limit)
    best = _pages(api_any, "/matches", limit=50)[0]["items"]
    assert [m["id"] for m in best][:2] == ["m-b2", "m-a2"] and best[0]["score"] == 1.0
    assert best[0]["proposition"]["statement"].startswith('He said "no"')


def test_a_token_revoked_through_one_app_is_refused_at_once_by_another(api_any: Api, tmp_path: object) -> None:
    """Two apps on one database, as two workers: each keeps its own hot-read connection."""
    from fastapi.testclient import TestClient

    from tracker.api.app import create_app
    from tracker.config import Settings
    from tracker.service.users import add_user
    from tracker.store import EventStore
    from tracker.store.engine import make_engine

    register(api_any.tracker, "p")
    url = api_any.store.engine.url.render_as_string(hide_password=False)
    engine = make_engine(url)
    settings = Settings(database_url=url, audit_key_file=f"{tmp_path}/audit.pem", feeds_file=f"{tmp_path}/none.toml",
                        digest_secret_file=f"{tmp_path}/digest-secret")
    token = add_user(engine, "leaving", "reader")
    try:
        with TestClient(create_app(EventStore(engine), settings)) as other:
            auth = {"Authorization": f"Bearer {token}"}
            for _ in range(3):  # both processes have checked (and would have cached) the token
                assert other.get("/propositions/p", headers=auth).status_code == 200
                assert api_any.client.get("/propositions/p", headers=auth).status_code == 200
            revoked = api_any.client.post("/users/leaving/revoke", headers=api_any.auth("admin"))
            assert revoked.status_code in (200, 204), revoked.text
            for client in (other, api_any.client):
                for path in ("/propositions/p", "/propositions", "/matches"):
                    refused = client.get(path, headers=auth)
                    assert refused.status_code == 401, (path, refused.text)
                    assert refused.headers["content-type"] == "application/problem+json"
            again = add_user(engine, "leaving", "editor")  # re-issued: the new token works, the old one does not
            assert other.get("/propositions/p", headers={"Authorization": f"Bearer {again}"}).status_code == 200
            assert other.get("/propositions/p", headers=auth).status_code == 401
    finally:
        engine.dispose()


def test_a_queue_page_after_a_cursor_seeks_to_it_in_the_index(api: Api) -> None:
    """SQLite's plan: the score bound is part of the index search, so a deep page does not walk what came before."""
    from tracker.queries.hot import queue_statement
    from tracker.queries.paging import encode

    text, params = queue_statement("suggested", None, 50, encode(0.5, "m-x"))
    with api.store.engine.connect() as connection:
        plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {text}",
                                                                           tuple(params)))
    assert "ix_matches_state_score (state=? AND score<?)" in plan, plan


def test_both_shapes_of_the_queue_query_give_the_same_pages(api_any: Api) -> None:
    """PostgreSQL runs the nested shape, SQLite the flat one; on either database both give the same rows."""
    from tracker.queries.hot import queue_statement
    from tracker.queries.paging import encode

    _seed_list(api_any)
    hot = api_any.client.app.state.reads  # type: ignore[attr-defined]
    for case in ({"state": "suggested"}, {"state": "suggested", "proposition_id": "b-quotes"}):
        for limit in (1, 2, 50):
            cursor = None
            while True:
                flat = hot.rows(*queue_statement(case["state"], case.get("proposition_id"), limit, cursor))
                nested = hot.rows(*queue_statement(case["state"], case.get("proposition_id"), limit, cursor,
                                                   nested=True))
                assert [tuple(r) for r in flat] == [tuple(r) for r in nested], (case, limit, cursor)
                if len(flat) <= limit:
                    break
                cursor = encode(flat[limit - 1][4], flat[limit - 1][0])
