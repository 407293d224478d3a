"""`tracker serve --workers 2` as a real subprocess on a temporary SQLite file: both workers answer, exactly one
leads and runs the scheduled jobs, a killed leader is replaced (as leader and as a process), and SIGTERM or SIGINT
to the parent stops every worker.

Which worker answered is read honestly from what already exists: GET /health says whether the answering process
leads, so seeing both `true` and `false` means both workers answered; the leader's pid is the holder of the
flock on `<database>.leader` in /proc/locks; the workers are the parent's children in /proc.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import ROOT
from tests.digest.smtpserver import free_port
from tests.ingest.feedserver import FeedServer, Reply
from tracker.store.engine import make_engine

pytestmark = pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux /proc")

LEADER_INTERVAL = 0.5  # TRACKER_LEADER_INTERVAL_SECONDS
# "Within an interval or so" on a busy shared 2-core machine: a bound, not a benchmark (the figure is printed).
FAILOVER_SLACK = 4.0
SECRET = "workers-test-secret-0123456789abcdef0123456789abcdef"
ITEMS = 6


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    database: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def health(self) -> dict[str, object] | None:
        """One GET /health on a new connection (so the kernel may hand it to either worker)."""
        try:
            return httpx.get(f"{self.base}/health", timeout=5, headers={"connection": "close"}).json()
        except (httpx.TransportError, ValueError):
            return None

    def workers(self) -> set[int]:
        """The live worker processes: the parent's children started by multiprocessing's spawn."""
        found = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == self.process.pid and fields[0] != "Z" and b"spawn_main" in cmdline:
                found.add(int(entry.name))
        return found

    def leader_pid(self) -> int | None:
        """The process holding the exclusive flock on the lock file next to the database."""
        try:
            inode = os.stat(f"{self.database}.leader").st_ino
        except FileNotFoundError:
            return None
        holders = [int(line.split()[4]) for line in Path("/proc/locks").read_text().splitlines()
                   if " FLOCK " in line and line.split()[5].endswith(f":{inode}")]
        assert len(holders) <= 1, f"two flocks on the leader file: {holders}"
        return holders[0] if holders else None

    def answers(self, count: int) -> list[dict[str, object]]:
        """`count` /health answers, eight at a time on fresh connections."""
        with ThreadPoolExecutor(8) as pool:
            return [a for a in pool.map(lambda _: self.health(), range(count)) if a is not None]


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"timed out waiting for {what}"
        time.sleep(0.05)
    return time.monotonic() - started


def serve_env(tmp: Path, database: Path, feeds_file: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update({
        "PYTHONPATH": str(ROOT), "TRACKER_DATABASE_URL": f"sqlite:///{database}",
        "TRACKER_FEEDS_FILE": str(feeds_file), "TRACKER_ALLOW_PRIVATE_FEEDS": "1",
        "TRACKER_LEADER_INTERVAL_SECONDS": str(LEADER_INTERVAL), "TRACKER_SEEDS_DIR": str(tmp / "no-seeds"),
        "TRACKER_DIGEST_SECRET": SECRET, "TRACKER_AUDIT_KEY_FILE": str(tmp / "audit.pem"),
        "TRACKER_OUTBOX_DIR": str(tmp / "outbox"), "TRACKER_PUBLIC_BASE_URL": "http://127.0.0.1",
    })
    return env


def start(tmp: Path, env: dict[str, str], workers: int = 2, name: str = "serve") -> Served:
    port = free_port()
    log = tmp / f"{name}.log"
    process = subprocess.Popen([sys.executable, "-m", "tracker.cli", "serve", "--workers", str(workers),
                                "--port", str(port)], cwd=tmp, env=env, stdout=log.open("wb"),
                               stderr=subprocess.STDOUT)
    served = Served(process, port, log, Path(env["TRACKER_DATABASE_URL"].removeprefix("sqlite:///")))
    deadline = time.monotonic() + 90
    while served.health() is None:
        assert process.poll() is None, served.text()
        assert time.monotonic() < deadline, f"serve did not answer: {served.text()}"
        time.sleep(0.2)
    wait_for(lambda: len(served.workers()) == workers, 60, f"{workers} workers")
    return served


def stop(served: Served, how: signal.Signals = signal.SIGTERM) -> set[int]:
    """Signal the parent only; returns the workers that were running then."""
    workers = served.workers()
    if served.process.poll() is None:
        served.process.send_signal(how)
    try:
        served.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        served.process.kill()
        served.process.wait()
        raise
    return workers


def admin_token(served: Served) -> str:
    printed = re.findall(r"shown only this once\): (\S+)", served.text())
    assert len(printed) == 1, "the parent creates the first admin once: " + served.text()
    return printed[0]


def rss(items: int) -> bytes:
    body = "".join(f"<item><guid>w-{n}</guid><title>Worker dispatch {n} harbour tally {n * 13}</title>"
                   f"<description>Body {n}.</description><link>https://news.example.org/w/{n}</link>"
                   "<pubDate>Tue, 01 Apr 2025 08:00:00 GMT</pubDate></item>" for n in range(items))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>W</title>'
            f"<link>http://example.org/</link><description>workers</description>{body}</channel></rss>").encode()


def ingested(database: Path) -> int:
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(
                "SELECT count(*) FROM events WHERE event_type = 'EvidenceIngested'")).scalar_one()
    finally:
        engine.dispose()


def metrics_dir(pid: int) -> str | None:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    found = [e.split(b"=", 1)[1].decode() for e in environ if e.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    return found[0] if found else None


def test_two_workers_one_leader_failover_and_shutdown(tmp_path: Path) -> None:
    database = tmp_path / "tracker.db"
    with FeedServer() as feeds:
        url = feeds.route("/w.xml", Reply(body=rss(ITEMS), headers={"Content-Type": "application/rss+xml"}))
        feeds_file = tmp_path / "feeds.toml"
        feeds_file.write_text(f'[[feed]]\nname = "Workers"\nurl = "{url}"\ninterval_minutes = 60\n')
        served = start(tmp_path, serve_env(tmp_path, database, feeds_file))
        metrics: str | None = None
        try:
            metrics = _scenario(served, feeds)
        finally:
            before = stop(served)
    assert served.process.returncode == 0, served.text()
    assert not any(Path(f"/proc/{pid}").exists() for pid in before), "SIGTERM to the parent stopped every worker"
    log = served.text()
    assert log.count("Application shutdown complete") >= 2, "each running worker shut down cleanly: " + log
    assert "Traceback" not in log, log
    assert metrics is not None and not Path(metrics).exists(), "the metrics directory is removed at exit"


def _scenario(served: Served, feeds: FeedServer) -> str:
    """Returns the workers' PROMETHEUS_MULTIPROC_DIR."""
    token = admin_token(served)
    workers = served.workers()
    assert len(workers) == 2

    # Requests are served, and by both workers: one says it leads, the other that it does not.
    seen = {a["leader"] for a in served.answers(64)}
    wait_for(lambda: seen.update(a["leader"] for a in served.answers(16)) or seen == {True, False}, 60,
             "answers from both workers")
    listed = httpx.get(f"{served.base}/propositions", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert listed.status_code == 200, listed.text

    # Exactly one leader: one worker holds the lock (flock is exclusive) and only its scheduler runs jobs.
    wait_for(served.leader_pid, 10, "a leader")
    leader = served.leader_pid()
    assert leader in workers
    # Both schedulers have the feed job due 5 s after their start; only the leader's runs: one fetch, once.
    wait_for(lambda: feeds.received("/w.xml"), 60, "the leader's feed pass")
    wait_for(lambda: ingested(served.database) == ITEMS, 30, "the pass's items in the store")
    time.sleep(8)  # well past the other worker's due time too
    assert len(feeds.received("/w.xml")) == 1, "the feed was fetched by one worker only"
    assert ingested(served.database) == ITEMS

    # Every worker got a fresh PROMETHEUS_MULTIPROC_DIR from the parent (the same one for all).
    dirs = {metrics_dir(pid) for pid in workers}
    assert len(dirs) == 1 and None not in dirs
    (path,) = dirs
    assert path is not None and Path(path).is_dir() and "PROMETHEUS_MULTIPROC_DIR" not in os.environ

    # kill -9 the leader: the other worker takes the lock within about one interval, and the parent starts a
    # replacement worker, which follows.
    os.kill(leader, signal.SIGKILL)
    killed = time.monotonic()
    (survivor,) = workers - {leader}
    wait_for(lambda: served.leader_pid() == survivor, LEADER_INTERVAL + FAILOVER_SLACK + 10, "a new leader")
    failover = time.monotonic() - killed
    print(f"\nfailover after kill -9 of the leader worker: {failover:.2f} s (interval {LEADER_INTERVAL} s)")
    assert failover <= LEADER_INTERVAL + FAILOVER_SLACK
    wait_for(lambda: len(served.workers()) == 2 and leader not in served.workers(), 60, "a replacement worker")
    replacement = (served.workers() - {survivor}).pop()
    assert metrics_dir(replacement) == path
    seen = set()
    wait_for(lambda: seen.update(a["leader"] for a in served.answers(16)) or seen == {True, False}, 60,
             "answers from the survivor (leading) and the replacement (following)")
    assert served.leader_pid() == survivor, "the replacement did not take leadership from a live leader"
    return path


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def _fresh() -> httpx.Client:
    """A client without cookies of its own that opens a new connection for every request."""
    return httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=15, follow_redirects=False)


def _review(served: Served, cookie: str, count: int) -> list[int]:
    """GET /review `count` times with the session cookie, each on a new connection, four at a time."""
    def one(_: int) -> int:
        with _fresh() as client:
            return client.get(f"{served.base}/review", headers={"cookie": f"tracker_review={cookie}"}).status_code

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(count)))


def test_a_review_session_works_on_every_worker_and_across_restarts(tmp_path: Path) -> None:
    """Sign in once, then the cookie works whichever worker answers, and after SIGHUP has replaced every worker
    (no process that saw the sign-in is left); sign-out ends it everywhere; altered and expired cookies are refused.
    """
    from tracker.domain.user import token_hash
    from tracker.web import sessions

    env = serve_env(tmp_path, tmp_path / "tracker.db", tmp_path / "no-feeds.toml")
    served = start(tmp_path, env)
    try:
        token = admin_token(served)
        with _fresh() as client:
            form = client.get(f"{served.base}/review/signin")
            nonce = form.cookies["tracker_review_signin"]
            done = client.post(f"{served.base}/review/signin", data={"csrf_token": _csrf(form.text), "token": token},
                               headers={"cookie": f"tracker_review_signin={nonce}"})
        assert done.status_code == 303, done.text
        cookie = done.cookies["tracker_review"]

        seen: set[object] = set()
        for _ in range(30):  # while both workers answer (GET /health says which kind answered) ...
            seen.update(a["leader"] for a in served.answers(8))
            assert set(_review(served, cookie, 8)) == {200}, "... every request of the session is served"
            if seen == {True, False}:
                break
        assert seen == {True, False}, "both workers answered during the session"

        before = served.workers()
        served.process.send_signal(signal.SIGHUP)  # uvicorn replaces every worker, one by one
        wait_for(lambda: not (served.workers() & before) and len(served.workers()) == 2, 120, "new workers")
        assert set(_review(served, cookie, 16)) == {200}, "the session outlives the processes that saw it"

        key = sessions.session_key(type("S", (), {"digest_secret": SECRET, "digest_secret_file": ""})())
        expired, _ = sessions.issue(key, token_hash(token), now=time.time() - sessions.SESSION_TTL - 60)
        assert set(_review(served, expired, 8)) == {303}, "a genuine but expired cookie is refused"
        parts = cookie.split(".")
        parts[2] = token_hash("pt_someone-else")  # another user's token hash, old signature
        assert set(_review(served, ".".join(parts), 8)) == {303}, "an altered cookie is refused"
        forged, _ = sessions.issue(b"\0" * 32, token_hash(token))
        assert set(_review(served, forged, 8)) == {303}, "a cookie signed with another key is refused"

        with _fresh() as client:
            page = client.get(f"{served.base}/review", headers={"cookie": f"tracker_review={cookie}"})
            out = client.post(f"{served.base}/review/signout", data={"csrf_token": _csrf(page.text)},
                              headers={"cookie": f"tracker_review={cookie}"})
        assert out.status_code == 303
        assert set(_review(served, cookie, 16)) == {303}, "signed out on every worker at once"
    finally:
        before = stop(served, signal.SIGINT)
    assert served.process.returncode == 0, served.text()
    assert not any(Path(f"/proc/{pid}").exists() for pid in before), "SIGINT to the parent stopped every worker"
    assert "Traceback" not in served.text(), served.text()


def test_a_worker_that_cannot_start_stops_the_parent_with_a_failure(tmp_path: Path) -> None:
    """The same failure would repeat in every replacement, so the supervisor stops and run_workers says so."""
    script = ("import sys; from tracker.api.serving import run_workers; "
              f"sys.exit(0 if run_workers('tracker.no_such_module:app', host='127.0.0.1', port={free_port()}, "
              "workers=2) is False else 1)")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "failed to start" in done.stderr
