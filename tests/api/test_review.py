"""The review queue: best first, confirm/reject/retract, two editors racing, pagination while events arrive."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from tests.api.conftest import Api, register, suggest
from tracker.store.schema import events


def test_queue_is_best_first_and_commands_move_the_status(api: Api) -> None:
    register(api.tracker, "p1")
    register(api.tracker, "p2", "Kyiv will get more air defence")
    suggest(api.tracker, "p1", "m-low", 0.4)
    suggest(api.tracker, "p1", "m-high", 0.9)
    suggest(api.tracker, "p2", "m-mid", 0.6)
    queue = api.client.get("/matches", headers=api.auth("reader")).json()["items"]
    assert [m["id"] for m in queue] == ["m-high", "m-mid", "m-low"]
    top = queue[0]
    assert top["proposition"] == {"id": "p1", "statement": "Russia will strike energy sites again",
                                  "status": "open", "version": 3}
    assert top["explanation"] == {"terms": ["energy"]} and top["evidence"]["id"] == "ev-m-high"
    only_p2 = api.client.get("/matches", params={"proposition_id": "p2"}, headers=api.auth("reader")).json()
    assert [m["id"] for m in only_p2["items"]] == ["m-mid"]

    confirmed = api.client.post("/matches/m-high/confirm", json={"stance": "supports", "note": "clear"},
                                headers=api.auth("editor", if_match='"3"'))
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["proposition"]["status"] == "supported"
    assert [e["event_type"] for e in confirmed.json()["events"]] == ["MatchConfirmed", "StatusChanged"]
    rejected = api.client.post("/matches/m-low/reject", json={"reason": "off topic"}, headers=api.auth("editor"))
    assert rejected.status_code == 200
    retracted = api.client.post("/matches/m-high/retract", headers=api.auth("editor"))
    assert retracted.json()["proposition"]["status"] == "open"
    assert api.client.post("/matches/m-low/confirm", json={"stance": "supports"},
                           headers=api.auth("editor")).status_code == 409
    states = {m["id"]: m["state"] for s in ("suggested", "confirmed", "rejected", "retracted")
              for m in api.client.get("/matches", params={"state": s}, headers=api.auth("reader")).json()["items"]}
    assert states == {"m-high": "retracted", "m-low": "rejected", "m-mid": "suggested"}
    history = api.client.get("/propositions/p1/history", headers=api.auth("reader")).json()
    assert [(h["event_type"], h["actor"]) for h in history if h["event_type"].startswith("Match")][-3:] == [
        ("MatchConfirmed", "user:editor"), ("MatchRejected", "user:editor"), ("MatchRetracted", "user:editor")]


def _confirmed_events(api: Api) -> int:
    with api.store.engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).where(events.c.event_type == "MatchConfirmed")
        ).scalar_one()


def test_two_editors_confirm_against_the_same_version(api_any: Api) -> None:
    api = api_any
    register(api.tracker, "p1")
    suggest(api.tracker, "p1", "m1", 0.8)
    version = api.client.get("/propositions/p1", headers=api.auth("reader")).headers["etag"]
    barrier = threading.Barrier(2)
    results: dict[str, int] = {}

    def confirm(role: str, stance: str) -> None:
        barrier.wait()
        response = api.client.post("/matches/m1/confirm", json={"stance": stance},
                                   headers=api.auth(role, if_match=version))
        results[role] = response.status_code

    threads = [threading.Thread(target=confirm, args=a) for a in (("editor", "supports"), ("editor2", "contradicts"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results.values()) == [200, 412]
    assert _confirmed_events(api) == 1
    winner = next(role for role, status in results.items() if status == 200)
    history = api.client.get("/propositions/p1/history", headers=api.auth("reader")).json()
    assert [h["actor"] for h in history if h["event_type"] == "MatchConfirmed"] == [f"user:{winner}"]


def test_pages_stay_stable_while_events_arrive(api: Api) -> None:
    for n in range(10):
        register(api.tracker, f"p{n:02d}")
        suggest(api.tracker, f"p{n:02d}", f"m{n:02d}", round(0.3 + n * 0.05, 2))
    seen: list[str] = []
    matches_seen: list[str] = []
    cursors: dict[str, str | None] = {"/propositions": None, "/matches": None}
    done: set[str] = set()
    step = 0
    while len(done) < 2:
        for path, into in (("/propositions", seen), ("/matches", matches_seen)):
            if path in done:
                continue
            params = {"limit": 3, **({"cursor": cursors[path]} if cursors[path] else {})}
            page = api.client.get(path, params=params, headers=api.auth("reader")).json()
            into += [item["id"] for item in page["items"]]
            cursors[path] = page["next_cursor"]
            if page["next_cursor"] is None:
                done.add(path)
        if step < 3:  # events arrive between pages: before and after the cursors
            register(api.tracker, f"a-new-{step}")
            register(api.tracker, f"z-new-{step}")
            suggest(api.tracker, "p00", f"new-{step}", 0.99 - step * 0.01, evidence_id=f"late-{step}")
        step += 1
        assert step < 50
    assert len(seen) == len(set(seen)) and len(matches_seen) == len(set(matches_seen))
    assert {f"p{n:02d}" for n in range(10)} <= set(seen)
    assert {f"m{n:02d}" for n in range(10)} <= set(matches_seen)
    assert not any(p.startswith("a-new") for p in seen)  # behind the cursor: never shown mid-walk
    assert {"z-new-0", "z-new-1", "z-new-2"} <= set(seen)  # ahead of it: shown
