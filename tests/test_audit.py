"""Audit against a real store: checkpoints, proofs, tamper detection, as-of reads and the audit API."""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tracker.api.app import create_app
from tracker.audit import merkle
from tracker.audit.checkpoint import (
    CHECKPOINT_STREAM,
    Checkpoint,
    checkpoints,
    latest_checkpoint,
    load_or_create_key,
    merkle_root,
    public_key_hex,
    record_checkpoint,
)
from tracker.audit.checks import verify_log
from tracker.audit.proofs import prove_consistency, prove_inclusion
from tracker.domain import proposition as P
from tracker.domain.events import Event
from tracker.domain.registry import fold
from tracker.projections import asof
from tracker.repository.unit_of_work import Tracker
from tracker.service.users import add_user
from tracker.store import EventStore
from tracker.store.engine import make_engine
from tracker.store.hashing import event_hash


def _register(tracker: Tracker, pid: str) -> None:
    tracker.execute(pid, P.RegisterProposition(
        pid, "prediction", f"Statement number {pid} will come true",
        stated_confidence={"phrase": "likely", "probability": 0.7},
    ), actor="user:ed")


def _populate(tracker: Tracker, propositions: int = 3, matches: int = 3) -> None:
    for p in range(propositions):
        pid = f"p{p}"
        _register(tracker, pid)
        for m in range(matches):
            tracker.execute(pid, P.SuggestMatch(f"{pid}-m{m}", f"e{m}", 0.5 + m / 10), actor="system:matcher")
            if m % 2 == 0:
                tracker.execute(pid, P.ConfirmMatch(f"{pid}-m{m}", "supports" if p % 2 else "contradicts"),
                                actor="user:ed")
            else:
                tracker.execute(pid, P.RejectMatch(f"{pid}-m{m}", "off topic"), actor="user:ed")


@pytest.fixture
def key(tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_or_create_key(tmp_path / "keys" / "audit.pem")


# ---- key and checkpoints -------------------------------------------------------------------------

def test_key_is_created_once_outside_the_database_with_private_mode(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit.pem"
    first = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert public_key_hex(load_or_create_key(path)) == public_key_hex(first)


def test_checkpoint_is_an_event_signing_size_root_and_last_hash(tracker: Tracker, key) -> None:  # type: ignore
    store = tracker.store
    _populate(tracker, 2, 2)
    head = store.head()
    position, checkpoint = record_checkpoint(tracker, key)
    assert position == head + 1 == store.head()
    assert checkpoint.size == head
    hashes = [bytes.fromhex(e.hash) for e in store.read_all(to=head)]
    assert checkpoint.root == merkle.root(hashes).hex()
    assert checkpoint.last_hash == hashes[-1].hex()
    assert checkpoint.signature_ok(public_key_hex(key))
    recorded = store.read_stream(CHECKPOINT_STREAM)
    assert [e.event_type for e in recorded] == ["CheckpointRecorded"]
    assert Checkpoint.from_dict(recorded[0].payload) == checkpoint
    # A second checkpoint covers the first one's event; the log only grew.
    assert tracker.execute("p0", P.AmendProposition({"resolve_by": "2030-01-01"}), actor="user:ed")
    position2, second = record_checkpoint(tracker, key)
    assert second.size == position2 - 1 > checkpoint.size
    assert [c for _, c in checkpoints(store)] == [checkpoint, second]
    assert latest_checkpoint(store) == (position2, second)
    report = verify_log(store, trusted_key=public_key_hex(key))
    assert report.ok and report.checkpoints_verified == 2, report


def test_inclusion_and_consistency_proofs_from_the_store(tracker: Tracker, key) -> None:  # type: ignore
    store = tracker.store
    _populate(tracker, 2, 3)
    _, old = record_checkpoint(tracker, key)
    _register(tracker, "later")
    _, new = record_checkpoint(tracker, key)
    for position in (1, old.size, new.size):
        proof = prove_inclusion(store, position, new)
        assert proof["verified"], position
        assert merkle.verify_inclusion(
            bytes.fromhex(proof["event_hash"]), position - 1, new.size,
            [bytes.fromhex(h) for h in proof["audit_path"]], bytes.fromhex(new.root),
        )
    consistency = prove_consistency(store, old, new)
    assert consistency["verified"]
    # The same proof does not link a different old root.
    forged = Checkpoint(**{**old.to_dict(), "root": "00" * 32})
    assert not prove_consistency(store, forged, new)["verified"]
    with pytest.raises(Exception, match="not covered"):
        prove_inclusion(store, new.size + 1, new)


# ---- tampering (SQLite copy, triggers dropped) -----------------------------------------------------

@pytest.fixture
def signed_copy(tmp_path: Path, sqlite_url: str, key) -> tuple[Path, Checkpoint, str]:  # type: ignore
    """A store with a checkpoint recorded in the middle and events after it; returns a copy's path."""
    store = EventStore(make_engine(sqlite_url))
    tracker = Tracker(store)
    _populate(tracker, 3, 3)
    _, checkpoint = record_checkpoint(tracker, key)
    _register(tracker, "after")
    store.engine.dispose()
    original = Path(sqlite_url.removeprefix("sqlite:///"))
    copy = tmp_path / "copy.db"
    shutil.copy(original, copy)
    with sqlite3.connect(copy) as connection:
        connection.execute("DROP TRIGGER events_refuse_update")
        connection.execute("DROP TRIGGER events_refuse_delete")
    connection.close()
    return copy, checkpoint, public_key_hex(key)


def _report(path: Path, trusted: str, held: Checkpoint | None = None):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{path}")
    try:
        return verify_log(EventStore(engine), trusted_key=trusted, held=held)
    finally:
        engine.dispose()


def _sql(path: Path, *statements: str) -> None:
    connection = sqlite3.connect(path)
    with connection:
        for statement in statements:
            connection.execute(statement)
    connection.close()


def test_untouched_copy_verifies(signed_copy) -> None:  # type: ignore[no-untyped-def]
    path, checkpoint, trusted = signed_copy
    report = _report(path, trusted, held=checkpoint)
    assert report.ok and report.checkpoints_verified == 2


def _first_rejection(path: Path) -> int:
    connection = sqlite3.connect(path)
    position = connection.execute("SELECT min(position) FROM events WHERE payload LIKE '%off topic%'").fetchone()[0]
    connection.close()
    assert position > 1
    return position


def test_changed_payload_is_named(signed_copy) -> None:  # type: ignore[no-untyped-def]
    path, _, trusted = signed_copy
    position = _first_rejection(path)
    _sql(path, f"UPDATE events SET payload = replace(payload, 'off topic', 'on topic') WHERE position = {position}")
    report = _report(path, trusted)
    assert not report.ok and report.broken_at == position


def test_deleted_event_is_named(signed_copy) -> None:  # type: ignore[no-untyped-def]
    path, _, trusted = signed_copy
    _sql(path, "DELETE FROM events WHERE position = 5")
    report = _report(path, trusted)
    assert not report.ok and report.broken_at == 5 and "missing" in (report.reason or "")


def test_swapped_events_are_named(signed_copy) -> None:  # type: ignore[no-untyped-def]
    path, _, trusted = signed_copy
    _sql(path, "UPDATE events SET position = -1 WHERE position = 4",
         "UPDATE events SET position = 4 WHERE position = 6",
         "UPDATE events SET position = 6 WHERE position = -1")
    report = _report(path, trusted)
    assert not report.ok and report.broken_at == 4


def test_truncated_tail_is_caught_only_against_a_held_checkpoint(signed_copy) -> None:  # type: ignore
    path, checkpoint, trusted = signed_copy
    keep = checkpoint.size - 2
    _sql(path, f"DELETE FROM events WHERE position > {keep}")
    assert _report(path, trusted).ok  # what is left is a valid, shorter chain
    report = _report(path, trusted, held=checkpoint)
    assert not report.ok and report.broken_at == keep + 1 and "cut" in (report.reason or "")


def test_swapped_checkpoint_signature_is_named(signed_copy, tmp_path: Path) -> None:  # type: ignore
    path, checkpoint, trusted = signed_copy
    position = checkpoint.size + 1
    other = load_or_create_key(tmp_path / "other.pem")
    forged = checkpoint.to_dict() | {"signature": other.sign(b"something else").hex()}
    _sql(path, f"UPDATE events SET payload = '{json.dumps(forged, sort_keys=True, separators=(',', ':'))}' "
               f"WHERE position = {position}")
    report = _report(path, trusted)
    assert not report.ok and report.broken_at == position  # the chain sees it first
    _rechain(path, position)  # a forger who also rewrites every later hash
    report = _report(path, trusted)
    assert not report.ok and report.broken_at == position and "signature" in (report.reason or "")


def test_rewritten_chain_is_caught_by_the_checkpoint_root(signed_copy) -> None:  # type: ignore
    path, checkpoint, trusted = signed_copy
    position = _first_rejection(path)
    _sql(path, f"UPDATE events SET payload = replace(payload, 'off topic', 'on topic') WHERE position = {position}")
    _rechain(path, position)
    report = _report(path, trusted)
    assert not report.ok and report.broken_at == 1 and f"1..{checkpoint.size}" in (report.reason or "")


def _rechain(path: Path, start: int) -> None:
    """Recompute every hash from `start` on, as someone with write access to the database could."""
    connection = sqlite3.connect(path)
    rows = connection.execute(
        "SELECT position, event_id, stream_id, stream_version, event_type, schema_version, occurred_at, "
        "recorded_at, actor, causation_id, correlation_id, payload, prev_hash FROM events "
        "WHERE position >= ? ORDER BY position", (start,),
    ).fetchall()
    prev = rows[0][12]
    with connection:
        for row in rows:
            names = ("position", "event_id", "stream_id", "stream_version", "event_type", "schema_version",
                     "occurred_at", "recorded_at", "actor", "causation_id", "correlation_id")
            digest = event_hash(prev, payload_json=row[11], **dict(zip(names, row[:11], strict=True)))
            connection.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE position = ?", (prev, digest, row[0]))
            prev = digest
    connection.close()


# ---- as of -------------------------------------------------------------------------------------------

def test_state_as_of_each_recorded_time_is_the_fold_up_to_it(tracker: Tracker, monkeypatch) -> None:  # type: ignore
    monkeypatch.setattr(asof, "SNAPSHOT_EVERY", 4)  # many snapshots in a short stream
    store = tracker.store
    _register(tracker, "long")
    for m in range(12):
        tracker.execute("long", P.SuggestMatch(f"m{m}", f"e{m}", 0.6), actor="system:matcher")
        if m % 3 == 0:
            tracker.execute("long", P.ConfirmMatch(f"m{m}", "supports" if m % 2 else "contradicts"), actor="user:ed")
        if m == 7:
            tracker.execute("long", P.ResolveProposition("confirmed", "came true"), actor="user:ed")
            tracker.execute("long", P.ReopenProposition("new facts"), actor="user:ed")
    recorded = store.read_stream("proposition-long")
    assert len(recorded) > 20
    assert asof.build_snapshots(store, "proposition-long") == len(recorded) // 4
    for i, event in enumerate(recorded):
        # A command's events share one recorded_at: as of that time, all of them are known.
        expected = fold(P.evolve, [Event(e.event_type, e.payload) for e in recorded
                                 if e.recorded_at <= event.recorded_at])
        state, version = asof.load_as_of(store, "proposition-long", event.recorded_at)
        assert state == expected, i
        assert version == max(e.stream_version for e in recorded if e.recorded_at <= event.recorded_at)
        loaded = tracker.proposition("long", as_of=event.recorded_at)
        assert loaded.state == expected
    assert asof.load_as_of(store, "proposition-long", "2000-01-01T00:00:00.000000Z") == (None, 0)
    everything = {s.proposition_id: s for s, _, _ in asof.propositions_as_of(store, recorded[-1].recorded_at)}
    assert everything["long"] == fold(P.evolve, [Event(e.event_type, e.payload) for e in recorded])


def test_a_stale_snapshot_layout_is_ignored(tracker: Tracker, monkeypatch) -> None:  # type: ignore
    monkeypatch.setattr(asof, "SNAPSHOT_EVERY", 2)
    _register(tracker, "x")
    for m in range(3):
        tracker.execute("x", P.SuggestMatch(f"m{m}", f"e{m}", 0.6), actor="system:matcher")
    asof.build_snapshots(tracker.store, "proposition-x")
    truth = tracker.proposition("x").state
    monkeypatch.setattr(asof, "FORMAT", asof.FORMAT + 1)
    assert asof.load_as_of(tracker.store, "proposition-x", "9999-12-31T00:00:00.000000Z")[0] == truth


# ---- HTTP ----------------------------------------------------------------------------------------------

def _auditor_client(store: EventStore, key_file: Path | None = None) -> TestClient:
    app = create_app(store)
    if key_file is not None:
        app.state.audit_key_file = str(key_file)
    token = add_user(store.engine, "audra", "auditor")
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def client(tracker: Tracker, tmp_path: Path) -> TestClient:
    return _auditor_client(tracker.store, tmp_path / "keys" / "audit.pem")


def test_audit_routes_need_the_auditor_role(tracker: Tracker, client: TestClient) -> None:
    anonymous = TestClient(client.app)
    assert anonymous.get("/audit/events").status_code == 401
    reader = add_user(tracker.store.engine, "rita", "reader")
    denied = anonymous.get("/audit/verify", headers={"Authorization": f"Bearer {reader}"})
    assert denied.status_code == 403 and denied.headers["content-type"].startswith("application/problem+json")
    assert client.get("/audit/events").status_code == 200


def test_audit_events_page_by_position(tracker: Tracker, client: TestClient) -> None:
    _populate(tracker, 2, 2)
    head = tracker.store.head()
    seen: list[int] = []
    after = 0
    while True:
        body = client.get("/audit/events", params={"after": after, "limit": 3}).json()
        assert body["head"] == head
        if not body["events"]:
            break
        seen += [e["position"] for e in body["events"]]
        after = body["next_after"]
    assert seen == list(range(1, head + 1))
    first = client.get("/audit/events", params={"limit": 1}).json()["events"][0]
    assert first["prev_hash"] == "0" * 64 and first["actor"] == "user:ed"
    assert json.loads(first["payload_json"]) == first["payload"]
    bad = client.get("/audit/events", params={"limit": 0})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")


def test_audit_stream_verify_key_and_checkpoint(tracker: Tracker, client: TestClient, tmp_path: Path) -> None:
    _populate(tracker, 1, 2)
    stream = client.get("/audit/streams/proposition-p0").json()
    assert [e["stream_version"] for e in stream["events"]] == list(range(1, len(stream["events"]) + 1))
    missing = client.get("/audit/streams/proposition-nope")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    assert client.get("/audit/checkpoints/latest").status_code == 404
    key = client.get("/audit/public-key").json()
    assert key["algorithm"] == "Ed25519" and len(key["public_key"]) == 64 and "PUBLIC KEY" in key["pem"]
    position, checkpoint = record_checkpoint(tracker, load_or_create_key(tmp_path / "keys" / "audit.pem"))
    assert checkpoint.public_key == key["public_key"]
    latest = client.get("/audit/checkpoints/latest").json()
    assert latest == {"recorded_at_position": position, "checkpoint": checkpoint.to_dict()}
    verify = client.get("/audit/verify").json()
    assert verify["ok"] and verify["head"] == position and verify["checkpoints_verified"] == 1
    assert merkle_root(tracker.store, checkpoint.size).hex() == checkpoint.root


def test_audit_verify_endpoint_names_a_broken_position(sqlite_url: str, tmp_path: Path) -> None:
    store = EventStore(make_engine(sqlite_url))
    _populate(Tracker(store), 1, 2)
    _sql(Path(sqlite_url.removeprefix("sqlite:///")), "DROP TRIGGER events_refuse_update",
         "UPDATE events SET actor = 'user:mallory' WHERE position = 3")
    body = _auditor_client(store).get("/audit/verify").json()
    assert body["ok"] is False and body["broken_at"] == 3
    store.engine.dispose()
