"""API throughput with wrk: `tracker serve --workers N` on benchmarks/api.py's store, 32 connections, SQLite and
PostgreSQL.

    .venv/bin/python benchmarks/api_throughput.py --db STORE.db [--pg] [--workers 1,2] [--connections 32]
        [--seconds 15] [--scenarios list,detail,queue,reads,confirm,mix]

STORE.db is a store built by `benchmarks/api.py --db STORE.db` (10,000 propositions, ~1M events). With --pg it is
first copied row for row into the PostgreSQL schema `--pg-schema` (default api_bench) of TRACKER_TEST_PG_URL (once:
an existing schema with events is reused) and served from there. Each scenario runs wrk (`apt-get install wrk`) with
benchmarks/api_wrk.lua, one wrk thread, after a --warmup run that is not counted:
- list / detail / queue: one read endpoint (GET /propositions?status=open&kind=prediction&limit=50,
  GET /propositions/{random id}, GET /matches?state=suggested&limit=50);
- reads: the three in turn;
- confirm: POST /matches/{id}/confirm with If-Match and an Idempotency-Key, each on a suggested match of a
  proposition no other confirm of the run touches (the If-Match is current, so every confirm should succeed);
- mix: reads on connections - --mix-confirm connections and confirms on the rest, at the same time (two wrk).
Reported per run: requests/s, p50/p95/p99 (wrk's), non-2xx answers, the server's CPU per request (the workers'
user+system time from /proc over requests answered) and wrk's own CPU per request, and the load average before and
after. The last line printed is one JSON object. Goals (issue 16): reads >= 800 requests/s with p95 < 50 ms,
confirms p95 < 100 ms, with 2 workers and 32 connections.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from tracker.store.engine import make_engine  # noqa: E402

LUA = ROOT / "benchmarks" / "api_wrk.lua"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (from /proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


class Server:
    def __init__(self, url: str, workers: int, workdir: Path, extra_env: dict[str, str]) -> None:
        self.port = free_port()
        self.env = {**os.environ, "TRACKER_DATABASE_URL": url, "TRACKER_FEEDS_FILE": str(workdir / "none.toml"),
                    **extra_env}
        self.log = workdir / f"serve-{workers}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tracker.cli", "serve", "--port", str(self.port), "--no-scheduler",
             "--workers", str(workers)],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=self.log.open("w"),
        )
        self.workers = workers
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base}/health", timeout=5).status_code == 200 and (
                        workers == 1 or len(children(self.process.pid)) >= workers):
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("serve did not answer within 120 s")
            time.sleep(0.3)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        return [self.process.pid, *children(self.process.pid)]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wrk(base: str, env: dict[str, str], connections: int, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(LUA), base],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def last_json(output: str) -> dict[str, Any]:
    for line in reversed(output.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"wrk printed no figures: {output[-2000:]}")


def confirm_file(url: str, path: Path, seed: int) -> int:
    """One suggested match per proposition with the proposition's current version, shuffled."""
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT min(m.match_id), p.version FROM matches m JOIN propositions p "
            "ON p.proposition_id = m.proposition_id WHERE m.state = 'suggested' "
            "GROUP BY m.proposition_id, p.version")).all()
    engine.dispose()
    random.Random(seed).shuffle(rows)
    path.write_text("".join(f"{m} {v}\n" for m, v in rows))
    return len(rows)


def run(server: Server, scenario: str, env: dict[str, str], connections: int, seconds: float,
        mix_confirm: int, url: str, workdir: Path, seed: int) -> dict[str, Any]:
    plans: list[tuple[str, dict[str, str], int]] = []
    if scenario in ("confirm", "mix"):
        env = {**env, "WRK_MATCHES": str(workdir / "matches.txt")}
        confirm_file(url, workdir / "matches.txt", seed)
    if scenario == "mix":
        plans = [("reads", {**env, "WRK_MODE": "reads"}, connections - mix_confirm),
                 ("confirm", {**env, "WRK_MODE": "confirm"}, mix_confirm)]
    else:
        plans = [(scenario, {**env, "WRK_MODE": scenario}, connections)]
    load_before = os.getloadavg()
    server_cpu = cpu_seconds(server.pids())
    client_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    running = [(name, wrk(server.base, e, c, seconds)) for name, e, c in plans]
    outputs = {name: process.communicate()[0] for name, process in running}
    elapsed = time.perf_counter() - started
    server_cpu = cpu_seconds(server.pids()) - server_cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = (after.ru_utime - client_cpu.ru_utime) + (after.ru_stime - client_cpu.ru_stime)
    figures: dict[str, Any] = {name: {**last_json(out), "connections": c}
                               for (name, out), (_, _, c) in zip(outputs.items(), plans, strict=True)}
    requests = sum(f["requests"] for f in figures.values())
    return {
        "scenario": scenario, "workers": server.workers, "runs": figures,
        "server_cpu_ms_per_request": round(server_cpu * 1000 / max(requests, 1), 3),
        "wrk_cpu_ms_per_request": round(client * 1000 / max(requests, 1), 3),
        "elapsed_s": round(elapsed, 1),
        "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True, help="the SQLite store built by benchmarks/api.py")
    parser.add_argument("--pg", action="store_true", help="serve a PostgreSQL copy of the store instead")
    parser.add_argument("--pg-schema", default="api_bench")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--mix-confirm", type=int, default=4, help="connections confirming in the mix")
    parser.add_argument("--scenarios", default="list,detail,queue,reads,confirm,mix")
    parser.add_argument("--label", default="", help="a note kept in the JSON (e.g. the commit)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk)")
    db = args.db.resolve()
    url = f"sqlite:///{db}"
    backend = "sqlite"
    if args.pg:
        from api import copy_to_postgres

        url = copy_to_postgres(db, os.environ.get("TRACKER_TEST_PG_URL", PG_DEFAULT), args.pg_schema)["url"]
        backend = "postgresql"
    workdir = Path(tempfile.mkdtemp(prefix="api-wrk-"))
    results = []
    try:
        subprocess.run([sys.executable, "-m", "tracker.cli", "db", "upgrade"], cwd=ROOT, check=True,
                       env={**os.environ, "TRACKER_DATABASE_URL": url}, capture_output=True)
        token = subprocess.run(
            [sys.executable, "-m", "tracker.cli", "users", "add", f"wrk-{uuid.uuid4().hex[:8]}", "--role", "editor"],
            cwd=ROOT, env={**os.environ, "TRACKER_DATABASE_URL": url}, capture_output=True, text=True, check=True,
        ).stdout.strip().splitlines()[0]
        engine = make_engine(url)
        with engine.connect() as connection:
            ids = list(connection.execute(sa.text("SELECT proposition_id FROM propositions")).scalars())
        engine.dispose()
        (workdir / "ids.txt").write_text("".join(f"{i}\n" for i in ids))
        env = {"WRK_TOKEN": token, "WRK_IDS": str(workdir / "ids.txt")}
        for n, workers in enumerate(int(w) for w in args.workers.split(",")):
            server = Server(url, workers, workdir, {})
            try:
                for k, scenario in enumerate(args.scenarios.split(",")):
                    seed = n * 100 + k
                    if args.warmup > 0:
                        run(server, scenario, env, args.connections, args.warmup, args.mix_confirm, url,
                            workdir, seed + 50)
                    figures = run(server, scenario, env, args.connections, args.seconds, args.mix_confirm, url,
                                  workdir, seed)
                    results.append(figures)
                    runs = " | ".join(f"{name}: {f['per_s']:.0f}/s p95 {f['p95_ms']:.1f} ms p99 {f['p99_ms']:.1f} "
                                      f"non-2xx {f['non_2xx_3xx']}" for name, f in figures["runs"].items())
                    print(f"{backend} workers={workers} {scenario}: {runs}; server CPU "
                          f"{figures['server_cpu_ms_per_request']} ms/req, wrk {figures['wrk_cpu_ms_per_request']} "
                          f"ms/req; load {figures['load_before'][0]} -> {figures['load_after'][0]}", file=sys.stderr)
            finally:
                server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps({"backend": backend, "label": args.label, "connections": args.connections,
                      "seconds": args.seconds, "results": results, "cpus": os.cpu_count()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
