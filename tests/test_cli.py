"""The `tracker` command line, run as a real subprocess against real SQLite files.

User mistakes must end as one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
import httpx
import pytest
import sqlalchemy
import yaml

from tests.conftest import ROOT
from tracker.cli import main

SOURCE_YAML = """\
source_id: test-source
outlet: Test Outlet
author: Test Author
title: A made-up article for the command-line tests
published_at: '2025-03-19'
url: https://example.org/article
text_sha256: '0bb5287bf5d2d9deb74da715b3c4cda1b72b8a96a2b161b801eb483a59b17e8e'
"""

PROPOSITIONS_YAML = """\
- id: cli-one
  kind: prediction
  statement: The made-up truce in this test will hold for a month.
  actors: [Somebody]
  topics: [truce]
  stated_confidence: {phrase: likely, probability: 0.7}
  resolve_by: '2025-04-19'
- id: cli-two
  kind: claim
  statement: The made-up talks in this test took place in a neutral city.
  actors: [Somebody Else]
  topics: [talks]
"""


def run(url: str, *args: str, cwd: Path = ROOT, **settings: str) -> subprocess.CompletedProcess[str]:
    """The command in a subprocess; `settings` are extra TRACKER_* variables (feeds_file="...")."""
    env = {**os.environ, "TRACKER_DATABASE_URL": url, **{f"TRACKER_{k.upper()}": v for k, v in settings.items()}}
    return subprocess.run(
        [sys.executable, "-m", "tracker.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and group, so commands added later are covered too."""
    yield prefix
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _command_paths(command, (*prefix, name))
        else:
            yield (*prefix, name)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


@pytest.fixture
def seeds_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / "source.yaml").write_text(SOURCE_YAML)
    (folder / "propositions.yaml").write_text(PROPOSITIONS_YAML)
    return folder


@pytest.fixture
def seeded_db(tmp_path: Path, seeds_dir: Path) -> Path:
    """A migrated SQLite store holding one source and two propositions (positions 1..3)."""
    path = tmp_path / "t.db"
    url = f"sqlite:///{path}"
    assert run(url, "db", "upgrade").returncode == 0
    first = run(url, "seed", str(seeds_dir))
    assert first.returncode == 0, first.stderr
    assert "1 source(s) and 2 proposition(s) added" in first.stdout
    return path


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.mark.parametrize("path", list(_command_paths(main)), ids=lambda p: " ".join(p) or "tracker")
def test_help_for_every_command(path: tuple[str, ...], tmp_path: Path) -> None:
    result = run(_url(tmp_path / "unused.db"), *path, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage:") and "--help" in result.stdout
    assert not (tmp_path / "unused.db").exists(), "--help must not touch the database"


def test_upgrade_is_idempotent_and_seed_adds_nothing_twice(tmp_path: Path, seeds_dir: Path) -> None:
    url = _url(tmp_path / "t.db")
    for _ in range(2):
        result = run(url, "db", "upgrade")
        assert result.returncode == 0, result.stderr
        assert "database at head" in result.stdout
    assert run(url, "seed", str(seeds_dir)).returncode == 0
    again = run(url, "seed", str(seeds_dir))
    assert again.returncode == 0
    assert "0 source(s) and 0 proposition(s) added, 2 already present" in again.stdout
    with sqlite3.connect(tmp_path / "t.db") as connection:
        assert connection.execute("SELECT count(*) FROM events").fetchone() == (3,)


def test_verify_names_the_first_broken_position(seeded_db: Path, tmp_path: Path) -> None:
    clean = run(_url(seeded_db), "audit", "verify")
    assert clean.returncode == 0, clean.stderr
    assert "chain intact: 3 events" in clean.stdout

    broken = tmp_path / "broken.db"
    shutil.copy(seeded_db, broken)
    with sqlite3.connect(broken) as connection:
        connection.execute("DROP TRIGGER events_refuse_update")
        connection.execute("UPDATE events SET payload = replace(payload, 'month', 'year') WHERE position = 2")
        assert connection.total_changes == 1
    connection.close()
    result = run(_url(broken), "audit", "verify")
    assert result.returncode == 1
    assert "chain broken at position 2" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert run(_url(seeded_db), "audit", "verify").returncode == 0  # the original is untouched


def test_replay_check_detects_tampered_read_models_and_replay_repairs(seeded_db: Path) -> None:
    url = _url(seeded_db)
    clean = run(url, "audit", "replay", "--check")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "match" in clean.stdout

    with sqlite3.connect(seeded_db) as connection:
        connection.execute("UPDATE propositions SET status = 'refuted' WHERE proposition_id = 'cli-one'")
    connection.close()
    tampered = run(url, "audit", "replay", "--check")
    assert tampered.returncode == 1
    assert "cli-one" in tampered.stdout and "status is 'refuted', replay gives 'open'" in tampered.stdout
    assert "1 difference(s)" in tampered.stderr

    rebuilt = run(url, "audit", "replay")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt from 3 events" in rebuilt.stdout
    assert run(url, "audit", "replay", "--check").returncode == 0
    with sqlite3.connect(seeded_db) as connection:
        assert connection.execute("SELECT status FROM propositions WHERE proposition_id = 'cli-one'").fetchone() == (
            "open",
        )
    connection.close()


@pytest.mark.parametrize(
    ("url", "args", "expected"),
    [
        ("sqlite:///{tmp}/no/such/dir/t.db", ("db", "upgrade"), ("unable to open database file",)),
        ("sqlite:///{tmp}/no/such/dir/t.db", ("audit", "verify"), ("no database at", "tracker db upgrade")),
        ("sqlite:///{tmp}/fresh.db", ("audit", "verify"), ("no database at", "tracker db upgrade")),
        ("sqlite:///{tmp}/fresh.db", ("audit", "replay", "--check"), ("tracker db upgrade",)),
        ("sqlite:///{tmp}/fresh.db", ("users", "list"), ("no database at", "tracker db upgrade")),
        ("sqlite:///{tmp}/fresh.db", ("feeds", "list"), ("no database at",)),
        ("sqlite:///{tmp}/fresh.db", ("ingest",), ("no database at",)),
        ("sqlite:///{tmp}/fresh.db", ("audit", "replay", "--as-of", "2025-01-01"), ("no database at",)),
        ("sqlite:///{tmp}/fresh.db", ("seed", "/no/such/seeds"), ("no database at",)),
        ("sqlite:///{tmp}/fresh.db", ("subscribers", "list"), ("no database at",)),
        ("sqlite:///{tmp}/fresh.db", ("digest", "preview", "--week", "2025-W13"), ("no database at",)),
        ("nosuchdb://x", ("audit", "verify"), ("TRACKER_DATABASE_URL",)),
        ("mysql://user:s3cret@localhost/tracker", ("users", "list"),
         ("TRACKER_DATABASE_URL", "'mysql' is not supported", "sqlite", "postgresql+psycopg")),
        ("mysql+pymysql://user:s3cret@localhost/tracker", ("db", "upgrade"), ("not supported",)),
        ("postgresql+asyncpg://user@localhost/tracker", ("db", "upgrade"), ("not supported", "postgresql+psycopg")),
    ],
    ids=["missing-dir-upgrade", "missing-dir-verify", "missing-verify", "missing-check", "missing-users-list",
         "missing-feeds-list", "missing-ingest", "missing-as-of", "missing-seed", "missing-subscribers-list",
         "missing-digest-preview", "bad-url", "mysql", "pymysql",
         "asyncpg"],
)
def test_user_mistakes_are_one_line(url: str, args: tuple[str, ...], expected: tuple[str, ...], tmp_path: Path) -> None:
    result = run(url.format(tmp=tmp_path), *args)
    assert_one_line_error(result, *expected)
    assert "s3cret" not in result.stderr + result.stdout
    # Only `db upgrade` (and `serve`) may create a database: a read-only command on a typo creates no file.
    assert not (tmp_path / "fresh.db").exists()


def test_unmigrated_file_and_missing_seeds_are_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    assert_one_line_error(run(_url(empty), "audit", "verify"), "no such table", "tracker db upgrade")
    assert run(_url(empty), "db", "upgrade").returncode == 0
    assert_one_line_error(run(_url(empty), "seed", "/no/such/seeds"), "seed file not found")


BAD_FEEDS = {
    "feeds-table": ('[[feeds]]\nname = "Wire"\nurl = "https://example.org/rss"\n', ("[[feed]]", "'feeds'")),
    "unknown-key": ('[[feed]]\nname = "Wire"\nurl = "https://example.org/rss"\nintervl = 30\n',
                    ("unknown keys ['intervl']", "interval_minutes")),
    "bad-toml": ('[[feed]\nname = "Wire"\n', ("invalid TOML",)),
    "not-utf8": (b"[[feed]]\nname = '\xff'\n".decode("latin-1"), ("not UTF-8",)),
}


@pytest.mark.parametrize(
    ("mistake", "command"),
    [*((mistake, ("ingest",)) for mistake in sorted(BAD_FEEDS)),
     ("feeds-table", ("feeds", "list")), ("unknown-key", ("serve", "--port", "0"))],
    ids=lambda value: value if isinstance(value, str) else " ".join(value[:2]),
)
def test_feeds_file_mistakes_are_one_line(mistake: str, command: tuple[str, ...], tmp_path: Path) -> None:
    text, expected = BAD_FEEDS[mistake]
    feeds_file = tmp_path / "feeds.toml"
    feeds_file.write_bytes(text.encode("latin-1"))
    url = _url(tmp_path / "t.db")
    assert run(url, "db", "upgrade").returncode == 0
    result = run(url, *command, feeds_file=str(feeds_file), seeds_dir=str(tmp_path / "no-seeds"))
    assert_one_line_error(result, str(feeds_file), *expected)


def test_missing_postgresql_database_says_how_to_create_it() -> None:
    base = os.environ.get("TRACKER_TEST_PG_URL")
    if not base:
        pytest.skip("needs TRACKER_TEST_PG_URL")
    missing = sqlalchemy.engine.make_url(base).set(database="tracker_no_such_database")
    for command in (("db", "upgrade"), ("users", "list")):
        result = run(missing.render_as_string(hide_password=False), *command)
        assert_one_line_error(result, '"tracker_no_such_database" does not exist', "createdb", "CREATE DATABASE")


def test_garbage_file_and_bad_setting_are_one_line(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_text("this is not a database\n" * 100)
    assert_one_line_error(run(_url(garbage), "audit", "verify"), "not a database")
    env_file_dir = tmp_path / "project"
    env_file_dir.mkdir()
    (env_file_dir / ".env").write_text("TRACKER_ALLOW_PRIVATE_FEEDS=perhaps\n")
    result = run(_url(tmp_path / "t.db"), "db", "upgrade", cwd=env_file_dir)  # settings read from ./.env
    assert_one_line_error(result, "allow_private_feeds")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _seed_count() -> int | None:
    """How many propositions seeds/ holds, or None while the seed files are not there yet."""
    path = ROOT / "seeds" / "propositions.yaml"
    if not path.is_file() or not (ROOT / "seeds" / "source.yaml").is_file():
        return None
    items = yaml.safe_load(path.read_text(encoding="utf-8"))
    return len(items) if items else None


def test_serve_on_an_empty_store_migrates_seeds_and_answers(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "TRACKER_DATABASE_URL": _url(tmp_path / "t.db")}
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "tracker.cli", "serve", "--port", str(port), "--no-scheduler"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not answer within 30 s"
                time.sleep(0.2)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        # with no users yet, serve creates an admin and prints its token once (before it starts listening)
        printed = re.findall(r"token \(shown only this once\): (\S+)", (tmp_path / "serve.log").read_text())
        assert len(printed) == 1, (tmp_path / "serve.log").read_text()
        anonymous = httpx.get(f"{base}/propositions", timeout=5)
        assert anonymous.status_code == 401
        page = httpx.get(
            f"{base}/propositions", params={"limit": 200}, headers={"Authorization": f"Bearer {printed[0]}"}, timeout=5
        )
        assert page.status_code == 200
        body = page.json()
        assert isinstance(body["items"], list) and "next_cursor" in body
        expected = _seed_count()
        if expected is not None:
            assert len(body["items"]) == expected
            assert health.json()["position"] >= expected + 1  # the source and every proposition
        else:
            assert body["items"] == []
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
