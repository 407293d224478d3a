"""Audit figures on SQLite (WAL, synchronous=FULL): verify, replay, checkpoint, proofs, export, as-of reads.

    .venv/bin/python benchmarks/audit.py [--events 1000000] [--db PATH] [--keep]

The log: proposition streams of ~500 events each (register, then match suggestions, each confirmed or
rejected; the events a real review produces), appended 1,000 events per transaction through
EventStore.transaction, plus one proposition with 10,000 events written one command per append (so each
has its own recorded_at) for the as-of reads. With --db pointing at an existing file, generation is skipped.

Every measurement runs in a fresh subprocess, so its peak RSS (ru_maxrss) is its own:
- verify: tracker.audit.checks.verify_log (chain + every checkpoint's signature and Merkle root) and the
  chain walk alone (tracker.audit.verify.verify_store);
- replay: tracker.projections.rebuild.replay over 10% and 100% of the log (flat memory: the two peaks);
- checkpoint: record_checkpoint (Merkle root over every event hash, Ed25519 signature, append);
- proofs: an inclusion proof and a consistency proof at full size; export + offline verification;
- as-of: Tracker.proposition(id, as_of=T) on the 10,000-event stream, cold (no snapshot) and warm
  (snapshots present) at 200 random recorded times.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.domain import proposition as p  # noqa: E402
from tracker.domain.events import Event  # noqa: E402
from tracker.domain.registry import fold  # noqa: E402
from tracker.repository.unit_of_work import Tracker, to_new_events  # noqa: E402
from tracker.store import EventStore  # noqa: E402
from tracker.store.engine import make_engine  # noqa: E402
from tracker.store.migrate import upgrade  # noqa: E402

LONG_ID = "asof-long"
EVENTS_PER_PROPOSITION = 500
EXPLANATION = {"terms": ["ceasefire", "sanctions"], "entities": ["Russia", "Ukraine"], "score_parts": [0.4, 0.3]}


def review_commands(pid: str) -> Any:
    """Register, then endless suggestions, every other one confirmed (alternating stance) or rejected."""
    yield p.RegisterProposition(
        proposition_id=pid, kind="prediction", statement=f"Benchmark statement {pid}", actors=("Russia",),
        topics=("ceasefire",), stated_confidence={"phrase": "likely", "probability": 0.7}, resolve_by="2026-12-31",
    )
    n = 0
    while True:
        yield p.SuggestMatch(f"m{n}", f"ev-{n}", 0.5, EXPLANATION, "supports")
        if n % 2 == 0:
            yield p.ConfirmMatch(f"m{n}", "supports" if n % 4 == 0 else "contradicts", "fits")
        else:
            yield p.RejectMatch(f"m{n}", "off topic")
        n += 1


def command_events(pid: str, count: int) -> list[list[Event]]:
    """The events of each command, until `count` events, by the real decide()."""
    state = None
    out: list[list[Event]] = []
    total = 0
    for command in review_commands(pid):
        events = p.decide(state, command)
        state = fold(p.evolve, events, state)
        out.append(events)
        total += len(events)
        if total >= count:
            return out
    return out


def generate(store: EventStore, total: int) -> dict[str, Any]:
    template = [e for events in command_events("template", EVENTS_PER_PROPOSITION) for e in events]
    started = time.perf_counter()
    written = 0
    pending: list[tuple[str, int, list[Event]]] = []
    n = 0
    while written < total:
        pid = f"bench-{n}"
        register = Event("PropositionRegistered", {**template[0].data, "proposition_id": pid,
                                                   "statement": f"Benchmark statement {pid}"})
        # match ids are global keys in the read model: give each proposition its own
        events = [register, *(
            Event(e.type, {**e.data, "match_id": f"{pid}-{e.data['match_id']}"}) if "match_id" in e.data else e
            for e in template[1: total - written]
        )]
        for start in range(0, len(events), 1000):
            pending.append((f"proposition-{pid}", start, events[start:start + 1000]))
        written += len(events)
        n += 1
    batch: list[tuple[str, int, list[Event]]] = []
    size = 0
    for item in pending:
        batch.append(item)
        size += len(item[2])
        if size >= 1000:
            _append_batch(store, batch)
            batch, size = [], 0
    if batch:
        _append_batch(store, batch)
    bulk_seconds = time.perf_counter() - started

    started = time.perf_counter()
    version = 0
    with store.transaction() as tx:  # one append per command: every command has its own recorded_at
        for events in command_events(LONG_ID, 10_000):
            version += len(tx.append(f"proposition-{LONG_ID}", version, to_new_events(events), actor="user:bench"))
    return {"bulk_events": written, "bulk_seconds": round(bulk_seconds, 1),
            "bulk_events_per_s": round(written / bulk_seconds), "long_stream_events": version,
            "long_stream_seconds": round(time.perf_counter() - started, 1)}


def _append_batch(store: EventStore, batch: list[tuple[str, int, list[Event]]]) -> None:
    with store.transaction() as tx:
        for stream_id, version, events in batch:
            tx.append(stream_id, version, to_new_events(events), actor="system:bench")


# ---- measurements, each in its own process -------------------------------------------------------------

def measure(kind: str, url: str, key_file: str, extra: str) -> dict[str, Any]:
    store = EventStore(make_engine(url))
    started = time.perf_counter()
    out: dict[str, Any] = {}
    if kind == "verify":
        from tracker.audit.checks import verify_log

        report = verify_log(store)
        assert report.ok, report
        out = {"events": report.checked, "checkpoints": report.checkpoints_verified}
    elif kind == "verify_chain":
        from tracker.audit.verify import verify_store

        result = verify_store(store)
        assert result.ok
        out = {"events": result.checked}
    elif kind == "replay":
        from tracker.projections.rebuild import replay

        to = int(extra) if extra else None
        out = {"events": replay(store, to=to)}
    elif kind == "checkpoint":
        from tracker.audit.checkpoint import load_or_create_key, record_checkpoint

        position, checkpoint = record_checkpoint(Tracker(store), load_or_create_key(key_file))
        out = {"size": checkpoint.size, "position": position}
    elif kind == "proofs":
        from tracker.audit.checkpoint import checkpoints
        from tracker.audit.proofs import prove_consistency, prove_inclusion

        recorded = [c for _, c in checkpoints(store)]
        newest = recorded[-1]
        proof = prove_inclusion(store, newest.size // 3, newest)
        inclusion_seconds = time.perf_counter() - started
        consistency = prove_consistency(store, recorded[0], newest)
        assert proof["verified"] and consistency["verified"]
        out = {"inclusion_seconds": round(inclusion_seconds, 2),
               "consistency_seconds": round(time.perf_counter() - started - inclusion_seconds, 2),
               "old_size": recorded[0].size, "new_size": newest.size}
    elif kind == "export":
        from tracker.audit.checkpoint import load_or_create_key
        from tracker.audit.export import write_export

        position, _, _ = write_export(Tracker(store), extra, load_or_create_key(key_file))
        out = {"events": position, "bytes": Path(extra).stat().st_size}
    elif kind == "offline":
        from tracker.audit.offline import verify_file

        report = verify_file(extra)
        assert report.ok, report
        out = {"events": report.events}
    elif kind == "asof":
        out = measure_as_of(store)
    out["seconds"] = round(time.perf_counter() - started, 2)
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def peak_rss_mb() -> float:
    """This process's own high-water RSS (VmHWM). ru_maxrss would carry the forking parent's peak over exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def measure_as_of(store: EventStore) -> dict[str, Any]:
    from tracker.projections import asof

    tracker = Tracker(store)
    stream = f"proposition-{LONG_ID}"
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM snapshots WHERE stream_id = ?", (stream,))
    times = sorted({e.recorded_at for e in store.read_stream(stream)})
    started = time.perf_counter()
    cold = tracker.proposition(LONG_ID, as_of=times[-1])
    cold_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    snapshots = asof.build_snapshots(store, stream)
    build_seconds = time.perf_counter() - started
    rng = random.Random(7)
    latencies = []
    for moment in [times[-1], *rng.sample(times, 200)]:
        started = time.perf_counter()
        loaded = tracker.proposition(LONG_ID, as_of=moment)
        latencies.append((time.perf_counter() - started) * 1000)
    assert loaded.version > 0 and cold.version == len(store.read_stream(stream))
    latencies.sort()
    return {
        "stream_events": cold.version, "matches_in_state": len(cold.state.matches),
        "cold_ms": round(cold_ms, 1), "snapshots": snapshots, "snapshot_every": asof.SNAPSHOT_EVERY,
        "build_snapshots_seconds": round(build_seconds, 2),
        "warm_p50_ms": round(statistics.median(latencies), 1),
        "warm_p95_ms": round(latencies[int(len(latencies) * 0.95)], 1), "warm_max_ms": round(latencies[-1], 1),
        "reads": len(latencies),
    }


def run_child(kind: str, url: str, key_file: str, extra: str = "") -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, "--measure", kind, "--url", url, "--key-file", key_file, "--extra", extra],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{kind} failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="bulk events to generate")
    parser.add_argument("--db", type=Path, help="SQLite file to use (generated if missing)")
    parser.add_argument("--keep", action="store_true", help="keep the generated database")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--key-file", help=argparse.SUPPRESS)
    parser.add_argument("--extra", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.url, args.key_file, args.extra)))
        return 0

    workdir = Path(tempfile.mkdtemp(prefix="audit-bench-"))
    db = args.db or workdir / "audit.db"
    url = f"sqlite:///{db}"
    key_file = str(workdir / "audit-key.pem")
    generated: dict[str, Any] = {"reused": str(db)}
    if not db.exists():
        upgrade(url)
        store = EventStore(make_engine(url))
        generated = generate(store, args.events)
        store.engine.dispose()
        print(f"generated: {generated}", file=sys.stderr)

    results: dict[str, Any] = {"generation": generated}
    steps = [
        ("checkpoint_first", "checkpoint", ""),
        ("verify", "verify", ""),
        ("verify_chain_only", "verify_chain", ""),
        ("checkpoint", "checkpoint", ""),
        ("proofs", "proofs", ""),
        ("replay_10pct", "replay", str((args.events + 10_000) // 10)),
        ("replay", "replay", ""),
        ("as_of", "asof", ""),
        ("export", "export", str(workdir / "export.ndjson")),
        ("offline_verify", "offline", str(workdir / "export.ndjson")),
    ]
    for name, kind, extra in steps:
        results[name] = run_child(kind, url, key_file, extra)
        print(f"{name}: {results[name]}", file=sys.stderr)
    verify = results["verify"]
    summary = {
        "log_events": verify["events"],
        "verify_events_per_s": round(verify["events"] / verify["seconds"]),
        "verify_chain_only_events_per_s": round(results["verify_chain_only"]["events"]
                                                / results["verify_chain_only"]["seconds"]),
        "replay_events_per_s": round(results["replay"]["events"] / results["replay"]["seconds"]),
        "replay_peak_rss_mb": {"10%": results["replay_10pct"]["peak_rss_mb"], "100%": results["replay"]["peak_rss_mb"]},
        "checkpoint_seconds": results["checkpoint"]["seconds"],
        "as_of_warm_p95_ms": results["as_of"]["warm_p95_ms"],
        "as_of_cold_ms": results["as_of"]["cold_ms"],
        "offline_verify_events_per_s": round(
            results["offline_verify"]["events"] / results["offline_verify"]["seconds"]
        ),
    }
    if not args.keep and not args.db:
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()
    print(json.dumps({"summary": summary, "details": results, "python": sys.version.split()[0]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
