"""Rejecting the ticked suggestions of the review queue (POST /review/reject), in process on SQLite and PostgreSQL:
one MatchRejected per match in one unit of work, the version checked at each proposition's first rejection,
nothing applied on a conflict or an unknown match, and the read models equal to a replay afterwards."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tracker.projections import rebuild
from tracker.store.schema import events


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def _signed_in(api: Any) -> str:
    form = api.client.get("/review/signin")
    done = api.client.post("/review/signin", data={"csrf_token": _csrf(form.text), "token": api.tokens["editor"]},
                           follow_redirects=False)
    assert done.status_code == 303
    return _csrf(api.client.get("/review").text)


def _events(api: Any, after: int) -> list[Any]:
    with api.store.engine.connect() as connection:
        return list(connection.execute(sa.select(events.c.position, events.c.stream_id, events.c.event_type,
                                                 events.c.correlation_id, events.c.payload)
                                       .where(events.c.position > after).order_by(events.c.position)))


def test_the_ticked_suggestions_are_rejected_in_one_unit_and_replay_equals_the_read_models(
        database_url: str, tmp_path: Path) -> None:
    from tests.api.conftest import make_api, register, suggest

    for api in make_api(database_url, tmp_path):
        for pid, ids in (("p-1", ("m-1a", "m-1b", "m-1c")), ("p-2", ("m-2a",)), ("p-3", ("m-3a",))):
            register(api.tracker, pid)
            for n, match_id in enumerate(ids):
                suggest(api.tracker, pid, match_id, 0.9 - n / 10)
        csrf = _signed_in(api)
        versions = {pid: api.tracker.proposition(pid).version for pid in ("p-1", "p-2", "p-3")}
        head = api.head()
        ticked = ["m-1a", "m-2a", "m-1c", "m-3a"]
        done = api.client.post("/review/reject", follow_redirects=False, data={
            "csrf_token": csrf, "reason": "off topic", "feed": "wire",
            "selected": [f"{m}@{versions['p-' + m[2]]}" for m in ticked]})
        assert done.status_code == 303 and done.headers["location"] == "/review?feed=wire&done=bulk"
        written = _events(api, head)
        assert [(e.stream_id, e.event_type) for e in written] == [
            ("proposition-p-1", "MatchRejected"), ("proposition-p-2", "MatchRejected"),
            ("proposition-p-1", "MatchRejected"), ("proposition-p-3", "MatchRejected")]
        assert [e.position for e in written] == list(range(head + 1, head + 5)), "one transaction, contiguous"
        assert len({e.correlation_id for e in written}) == 1 and written[0].correlation_id is not None
        assert [re.search(r'"match_id":"([^"]+)"', e.payload).group(1) for e in written] == ticked  # type: ignore
        assert all('"reason":"off topic"' in e.payload for e in written)
        for pid, ids in (("p-1", {"m-1a": "rejected", "m-1b": "suggested", "m-1c": "rejected"}),
                         ("p-2", {"m-2a": "rejected"}), ("p-3", {"m-3a": "rejected"})):
            state = api.tracker.proposition(pid).state
            assert {m: state.matches[m].state for m in ids} == ids
        page = api.client.get("/review").text
        assert "m-1b" in page and "m-1a" not in page and "m-3a" not in page
        assert rebuild.check(api.store) == []


def test_a_stale_version_or_an_unknown_match_applies_nothing(database_url: str, tmp_path: Path) -> None:
    from tests.api.conftest import make_api, register, suggest

    for api in make_api(database_url, tmp_path):
        register(api.tracker, "p-1")
        register(api.tracker, "p-2")
        suggest(api.tracker, "p-1", "m-1a", 0.9)
        suggest(api.tracker, "p-2", "m-2a", 0.8)
        suggest(api.tracker, "p-2", "m-2b", 0.7)
        csrf = _signed_in(api)
        one, two = api.tracker.proposition("p-1").version, api.tracker.proposition("p-2").version
        suggest(api.tracker, "p-2", "m-2c", 0.6)  # p-2 moves on after the page was shown
        head = api.head()
        stale = api.client.post("/review/reject", data={
            "csrf_token": csrf, "selected": [f"m-1a@{one}", f"m-2a@{two}", f"m-2b@{two}"]})
        assert stale.status_code == 409 and "Another editor changed" in stale.text
        unknown = api.client.post("/review/reject", data={"csrf_token": csrf, "selected": [f"m-1a@{one}", "m-9@1"]})
        assert unknown.status_code == 409 and "Nothing was applied" in unknown.text
        assert api.head() == head
        assert api.tracker.proposition("p-1").state.matches["m-1a"].state == "suggested"
        fresh = api.tracker.proposition("p-2").version
        again = api.client.post("/review/reject", follow_redirects=False, data={
            "csrf_token": csrf, "selected": [f"m-2a@{fresh}", f"m-2b@{fresh}"]})
        assert again.status_code == 303
        assert [e.event_type for e in _events(api, head)] == ["MatchRejected", "MatchRejected"]
        assert rebuild.check(api.store) == []


def test_a_stream_folded_from_its_beginning_equals_evolve_and_leaves_cached_states_alone(sqlite_url: str) -> None:
    """UnitOfWork folds a stream read from its beginning with evolve_owned (in place); the state equals evolve's
    fold, and a state cached from it is not changed by the commands that follow."""
    from tests.api.conftest import register, suggest
    from tracker.domain import proposition as domain
    from tracker.domain.events import Event, fold
    from tracker.repository.unit_of_work import Tracker, proposition_stream
    from tracker.store import EventStore
    from tracker.store.engine import make_engine

    engine = make_engine(sqlite_url)
    tracker = Tracker(EventStore(engine))
    register(tracker, "p-1")
    for n in range(5):
        suggest(tracker, "p-1", f"m-{n}", 0.5 + n / 10)
    stream = proposition_stream("p-1")
    expected = fold(domain.evolve, (Event(e.event_type, e.payload) for e in tracker.store.read_stream(stream)))
    tracker.cache.clear()
    with tracker.unit_of_work(actor="user:ed") as uow:
        assert uow.load(stream).state == expected
        uow.execute(stream, domain.RejectMatch(match_id="m-1", reason="no"))
    cached = tracker.cache.get(stream)
    assert cached is not None and cached[0].matches["m-1"].state == "rejected"
    snapshot = {m: match.state for m, match in cached[0].matches.items()}
    with tracker.unit_of_work(actor="user:ed") as uow:
        uow.execute(stream, domain.RejectMatch(match_id="m-2", reason="no"))
    assert {m: match.state for m, match in cached[0].matches.items()} == snapshot, "the cached state is untouched"
    assert expected.matches["m-1"].state == "suggested"
    engine.dispose()


def test_the_queue_page_warms_the_states_its_actions_need_for_an_editor_only(database_url: str,
                                                                           tmp_path: Path) -> None:
    from tests.api.conftest import make_api, register, suggest

    for api in make_api(database_url, tmp_path):
        for pid in ("p-1", "p-2"):
            register(api.tracker, pid)
            suggest(api.tracker, pid, f"m-{pid}", 0.9)
        app = api.client.app
        cache = app.state.tracker.cache  # type: ignore[attr-defined]
        reader = api.client.get("/review/signin")
        api.client.post("/review/signin", data={"csrf_token": _csrf(reader.text), "token": api.tokens["reader"]})
        cache.clear()
        assert api.client.get("/review").status_code == 200
        assert app.state.warmer.wait_idle(10)  # type: ignore[attr-defined]
        assert cache.get("proposition-p-1") is None, "a reader cannot act: nothing to warm"
        csrf = _signed_in(api)
        assert app.state.warmer.wait_idle(10)  # type: ignore[attr-defined]
        state, version, _ = cache.get("proposition-p-1")
        assert (state, version) == (api.tracker.proposition("p-1").state, api.tracker.proposition("p-1").version)
        assert cache.get("proposition-p-2") is not None
        suggest(api.tracker, "p-1", "m-late", 0.95)  # after the warm-up: the action still sees it
        done = api.client.post("/review/reject", follow_redirects=False, data={
            "csrf_token": csrf, "selected": [f"m-late@{api.tracker.proposition('p-1').version}"]})
        assert done.status_code == 303 and "done=bulk" in done.headers["location"]
        assert api.tracker.proposition("p-1").state.matches["m-late"].state == "rejected"
        assert rebuild.check(api.store) == []
