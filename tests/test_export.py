"""Export -> offline verification round trip; any one-byte change to the export fails it."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.audit import offline
from tracker.audit.checkpoint import latest_checkpoint, load_or_create_key, public_key_hex, record_checkpoint
from tracker.audit.export import write_export
from tracker.domain import proposition as P
from tracker.repository.unit_of_work import Tracker
from tracker.store.hashing import event_hash

ROOT = Path(__file__).resolve().parents[1]


def _populate(tracker: Tracker) -> None:
    for p in range(3):
        pid = f"p{p}"
        tracker.execute(pid, P.RegisterProposition(
            pid, "claim", f"Claim {p} about the talks — with non-ASCII «text» ✓", actors=("Kyiv", "Moscow"),
        ), actor="user:ed")
        tracker.execute(pid, P.SuggestMatch(f"{pid}-m", "e1", 0.75, {"terms": ["talks"]}), actor="system:matcher")
        tracker.execute(pid, P.ConfirmMatch(f"{pid}-m", "supports", "fits"), actor="user:ed")


@pytest.fixture
def exported(tracker: Tracker, tmp_path: Path) -> tuple[Path, str]:
    _populate(tracker)
    key = load_or_create_key(tmp_path / "keys" / "audit.pem")
    out = tmp_path / "events.ndjson"
    position, checkpoint, created = write_export(tracker, out, key)
    assert created and position == tracker.store.head() == checkpoint.size + 1
    return out, public_key_hex(key)


def test_export_round_trip_verifies_offline(exported: tuple[Path, str], tracker: Tracker) -> None:
    path, public_key = exported
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == tracker.store.head() + 1
    for line, event in zip(lines, tracker.store.read_all(), strict=False):
        row = json.loads(line)
        assert row["hash"] == event.hash and json.loads(row["payload_json"]) == event.payload
    report = offline.verify_file(path, public_key)
    assert report.ok, report
    assert report.events == tracker.store.head() and report.key_pinned
    assert offline.verify_file(path).ok  # with the key carried in the export


def test_export_reuses_a_checkpoint_at_the_head(tracker: Tracker, tmp_path: Path) -> None:
    _populate(tracker)
    key = load_or_create_key(tmp_path / "k.pem")
    position, checkpoint = record_checkpoint(tracker, key)
    again = write_export(tracker, tmp_path / "a.ndjson", key)
    assert again == (position, checkpoint, False)
    assert latest_checkpoint(tracker.store) == (position, checkpoint)


def test_the_wrong_pinned_key_fails(exported: tuple[Path, str], tmp_path: Path) -> None:
    path, _ = exported
    stranger = public_key_hex(load_or_create_key(tmp_path / "stranger.pem"))
    report = offline.verify_file(path, stranger)
    assert not report.ok and report.bad_line == len(path.read_bytes().splitlines())


def test_one_byte_changes_anywhere_fail(exported: tuple[Path, str]) -> None:
    path, public_key = exported
    original = path.read_bytes()
    line_starts = [0] + [i + 1 for i, b in enumerate(original) if b == 0x0A][:-1]
    rng = random.Random(5)
    positions = sorted({*rng.sample(range(len(original)), 60), 0, len(original) - 1, *line_starts})
    for offset in positions:
        for replacement in {original[offset] ^ 0x01, ord("0") if original[offset] != ord("0") else ord("1")}:
            damaged = bytearray(original)
            damaged[offset] = replacement
            path.write_bytes(bytes(damaged))
            report = offline.verify_file(path, public_key)
            assert not report.ok, (offset, replacement, report)
            line = original[:offset].count(b"\n") + 1
            assert report.bad_line is not None and report.bad_line <= line + 1, (offset, report)
    path.write_bytes(original)
    assert offline.verify_file(path, public_key).ok


def test_dropped_reordered_or_truncated_lines_fail(exported: tuple[Path, str]) -> None:
    path, public_key = exported
    lines = path.read_bytes().splitlines(keepends=True)
    cases = {
        "drop an event": lines[:3] + lines[4:],
        "swap two events": lines[:2] + [lines[3], lines[2]] + lines[4:],
        "cut the tail": lines[:5] + lines[-1:],
        "no checkpoint": lines[:-1],
        "half a line": lines[:-1] + [lines[-1][:40]],
    }
    for name, damaged in cases.items():
        path.write_bytes(b"".join(damaged))
        report = offline.verify_file(path, public_key)
        assert not report.ok, name
    path.write_bytes(b"".join(cases["drop an event"]))
    assert offline.verify_file(path, public_key).bad_position == 4
    path.write_bytes(b"".join(cases["cut the tail"]))
    assert offline.verify_file(path, public_key).bad_position == 6


def test_swapped_signature_in_export_fails(exported: tuple[Path, str], tmp_path: Path) -> None:
    path, public_key = exported
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    last = json.loads(lines[-1])
    last["checkpoint"]["signature"] = load_or_create_key(tmp_path / "x.pem").sign(b"other").hex()
    lines[-1] = offline.canonical_json(last) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    report = offline.verify_file(path, public_key)
    assert not report.ok and "signature" in (report.reason or "")


@settings(max_examples=50, deadline=None)
@given(
    st.integers(1, 10**9), st.text(max_size=30), st.integers(1, 1000), st.text(max_size=20),
    st.one_of(st.none(), st.text(max_size=10)), st.text(max_size=50),
)
def test_offline_hash_is_the_store_hash(
    position: int, stream: str, version: int, actor: str, causation: str | None, payload: str
) -> None:
    fields = {
        "position": position, "event_id": "e", "stream_id": stream, "stream_version": version,
        "event_type": "T", "schema_version": 1, "occurred_at": "2025-01-01T00:00:00.000000Z",
        "recorded_at": "2025-01-02T00:00:00.000000Z", "actor": actor, "causation_id": causation,
        "correlation_id": None,
    }
    expected = event_hash("ab" * 32, payload_json=payload, **fields)
    assert offline.event_hash({**fields, "payload_json": payload, "prev_hash": "ab" * 32}) == expected


def test_offline_module_stands_alone(exported: tuple[Path, str], tmp_path: Path) -> None:
    """Copied out of the package, run with a plain interpreter: no tracker or sqlalchemy import needed."""
    source = (ROOT / "tracker" / "audit" / "offline.py").read_text(encoding="utf-8")
    assert "import tracker" not in source and "from tracker" not in source and "sqlalchemy" not in source
    alone = tmp_path / "alone" / "offline.py"
    alone.parent.mkdir()
    alone.write_text(source, encoding="utf-8")
    path, public_key = exported
    good = subprocess.run([sys.executable, str(alone), str(path), "--public-key", public_key],
                          capture_output=True, text=True, cwd=alone.parent)
    assert good.returncode == 0 and "export intact" in good.stdout, good.stderr
    path.write_bytes(path.read_bytes().replace(b'"user:ed"', b'"user:eve"', 1))
    bad = subprocess.run([sys.executable, str(alone), str(path)], capture_output=True, text=True, cwd=alone.parent)
    assert bad.returncode == 1 and "line 1" in bad.stderr


def _cli(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "TRACKER_DATABASE_URL": url,
           "TRACKER_AUDIT_KEY_FILE": str(tmp_path / "keys" / "audit.pem")}
    return subprocess.run([sys.executable, "-m", "tracker.cli", "audit", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def test_cli_checkpoint_prove_consistency_export_verify(sqlite_url: str, tmp_path: Path) -> None:
    from tracker.store import EventStore
    from tracker.store.engine import make_engine

    store = EventStore(make_engine(sqlite_url))
    _populate(Tracker(store))
    first = _cli(tmp_path, sqlite_url, "checkpoint")
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "keys" / "audit.pem").is_file()
    old_size = store.head() - 1
    Tracker(store).execute("p0", P.AmendProposition({"resolve_by": "2031-01-01"}), actor="user:ed")
    assert _cli(tmp_path, sqlite_url, "checkpoint").returncode == 0
    proof = _cli(tmp_path, sqlite_url, "prove", "2")
    assert proof.returncode == 0 and json.loads(proof.stdout)["verified"] is True, proof.stderr
    assert _cli(tmp_path, sqlite_url, "prove", str(store.head() + 5)).returncode != 0
    consistency = _cli(tmp_path, sqlite_url, "consistency", str(old_size))
    assert consistency.returncode == 0 and json.loads(consistency.stdout)["verified"] is True
    unknown = _cli(tmp_path, sqlite_url, "consistency", "3")
    assert unknown.returncode != 0 and "recorded sizes" in unknown.stderr
    out = tmp_path / "export.ndjson"
    exported = _cli(tmp_path, sqlite_url, "export", "--out", str(out))
    assert exported.returncode == 0 and "latest checkpoint" in exported.stdout  # the head is a checkpoint
    public_key = json.loads(out.read_text().splitlines()[-1])["checkpoint"]["public_key"]
    verified = _cli(tmp_path, sqlite_url, "verify", "--file", str(out), "--public-key", public_key)
    assert verified.returncode == 0 and "export intact" in verified.stdout
    store_check = _cli(tmp_path, sqlite_url, "verify")
    assert store_check.returncode == 0 and "2 signed checkpoint(s) verified" in store_check.stdout
    as_of = _cli(tmp_path, sqlite_url, "replay", "--as-of", "2099-01-01", "--json")
    states = [json.loads(line) for line in as_of.stdout.splitlines()]
    assert [s["state"]["proposition_id"] for s in states] == ["p0", "p1", "p2"]
    assert states[0]["state"]["resolve_by"] == "2031-01-01" and states[0]["counts"]["supports"] == 1
    out.write_bytes(out.read_bytes().replace(b"2031-01-01", b"2031-01-02"))
    tampered = _cli(tmp_path, sqlite_url, "verify", "--file", str(out))
    assert tampered.returncode == 1 and "export fails at line" in tampered.stderr
    store.engine.dispose()
