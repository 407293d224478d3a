"""Walk the hash chain and name the first position where it breaks."""

from __future__ import annotations

import gc
import multiprocessing
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from hashlib import sha256
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tracker.audit import merkle
from tracker.store import EventStore
from tracker.store.engine import make_engine
from tracker.store.hashing import GENESIS_HASH, header_json

# prev_hash "\n" header (hashing.header_json's format) "\n" payload_json: what hashing.chain_hash hashes.
_HASHED_TEXT = "%s\n[%d,%s,%s,%d,%s,%d,%s,%s,%s,%s,%s]\n%s"

# The parallel walk: the log is cut into pages of PAGE_EVENTS positions (a power of two, so a full page is a
# perfect Merkle subtree), each hashed in a worker process; logs shorter than PARALLEL_FROM pages are walked
# in this process. Read at call time, so tests can make them small.
PAGE_EVENTS = 1 << 16
PARALLEL_FROM = 3
_FETCH = 10_000

# On SQLite a worker has SQLite build each event's hashed text: prev_hash "\n" header "\n" payload, the
# header being json_array over the header fields. Fetching 3 columns instead of 14 and formatting nothing in
# Python took the CPU per event at 1M from about 12.3 to 7.6 us (Python 3.11's sqlite3 releases and retakes
# the GIL for every column it reads).
# The text is _HASHED_TEXT's exactly when the two version columns hold integers and prev_hash and payload
# text (else the CASE gives NULL), json_array quotes strings as encode_basestring does (checked on each
# connection, _SQLITE_JSON_PROBE), a NULL string is null in both, and a BLOB string makes json_array fail.
# Anything else, and any break in the chain, sends the page to the field-by-field walk, which names it.
# prev_hash is not fetched apart: it must be 64 bytes, so where it is ASCII the text's first 64 characters are
# prev_hash itself and the link is checked on them; where it is not, those 64 hold the "\n" after it and
# equal no hex digest, so the link fails there too.
_SQLITE_PAGE = (
    "SELECT position, CASE WHEN typeof(stream_version) = 'integer' AND typeof(schema_version) = 'integer'"
    " AND typeof(prev_hash) = 'text' AND length(CAST(prev_hash AS BLOB)) = 64 AND typeof(payload) = 'text'"
    " THEN prev_hash || char(10) || json_array(position, event_id, stream_id, stream_version, event_type,"
    " schema_version, occurred_at, recorded_at, actor, causation_id, correlation_id) || char(10) || payload END,"
    " hash FROM events WHERE position > ? AND position <= ? ORDER BY position"
)
# Every ASCII character (controls, quote and backslash included) and some beyond, a NULL and an integer.
_SQLITE_JSON_PROBE = "".join(map(chr, range(0x80))) + "\x80\x9f\xa0é\u2028\u2029\ufeff\uffff\U0001f600"
_SQLITE_JSON_EXPECTED = f"[{encode_basestring(_SQLITE_JSON_PROBE)},null,-9223372036854775808]"

# An empty SHA-256 to copy per event: OpenSSL's set-up of a new hash object cost more than hashing the
# event's few hundred bytes (sha256(b) 1.2 us against copy() + update() 0.7 us, hexdigest included).
_EMPTY_SHA256 = sha256()


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    head: int
    broken_at: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_store(
    store: EventStore, *, progress: Callable[[int], None] | None = None, workers: int | None = None
) -> VerifyResult:
    """Recompute every hash from the stored bytes; positions must run 1, 2, 3... without a gap."""
    return walk_chain(store, progress=progress, workers=workers)[0]


def walk_chain(
    store: EventStore, *, progress: Callable[[int], None] | None = None, stops: Iterable[int] = (),
    workers: int | None = None,
) -> tuple[VerifyResult, dict[int, tuple[bytes, str]]]:
    """The chain walk of verify_store; also the Merkle root and last hash at each size in `stops`.

    With more than one CPU (or `workers` > 1) and a log of PARALLEL_FROM pages or more, pages are hashed
    in worker processes (parallel_walk); the result is the same, to the position and the reason.
    """
    stops = list(stops)
    count = _worker_count(workers)
    if count > 1 and _worker_url(store) is not None:
        with store.engine.connect() as connection:
            head = connection.execute(sa.text("SELECT max(position) FROM events")).scalar() or 0
        if head >= PARALLEL_FROM * PAGE_EVENTS:
            return parallel_walk(store, head, count, progress=progress, stops=stops)
    return sequential_walk(store, progress=progress, stops=stops)


def sequential_walk(
    store: EventStore, *, progress: Callable[[int], None] | None = None, stops: Iterable[int] = ()
) -> tuple[VerifyResult, dict[int, tuple[bytes, str]]]:
    """The chain walk in this process, page after page.

    The roots come from the same pass (the leaves are the hashes just recomputed, which equal the stored
    ones wherever the chain holds), so checking checkpoints costs no second read of the log. A stop
    beyond the end of the log gets no entry. The loop inlines hashing.event_hash (same bytes:
    header_json's format string, then the payload text as stored) and merkle.TreeHasher.add_leaf_hash,
    because a function call per event was a large share of the walk.
    """
    pending = sorted(set(stops), reverse=True)
    roots: dict[int, tuple[bytes, str]] = {}
    while pending and pending[-1] <= 0:
        roots[pending.pop()] = (merkle.EMPTY_ROOT, GENESIS_HASH)
    tree = merkle.TreeHasher() if pending else None
    stack: list[bytes] = tree._stack if tree is not None else []  # noqa: SLF001 - the loop below is its add()
    next_stop = pending.pop() if pending else 0
    expected_prev = GENESIS_HASH
    expected_position = 1
    checked = 0
    s = encode_basestring
    for rows in store.tuple_pages(0, page_size=10000):
        for (position, event_id, stream_id, stream_version, event_type, schema_version, occurred_at,
             recorded_at, actor, causation_id, correlation_id, payload, prev_hash, digest) in rows:
            if position != expected_position:
                missing = f"position {expected_position} is missing"
                return VerifyResult(checked, position, expected_position, missing), roots
            if prev_hash != expected_prev:
                return VerifyResult(checked, position, position, "prev_hash does not match the previous event"), roots
            try:
                text = _HASHED_TEXT % (
                    prev_hash, position, s(event_id), s(stream_id), stream_version, s(event_type), schema_version,
                    s(occurred_at), s(recorded_at), s(actor),
                    "null" if causation_id is None else s(causation_id),
                    "null" if correlation_id is None else s(correlation_id), payload,
                )
                if type(position) is not int or type(stream_version) is not int or type(schema_version) is not int:
                    raise TypeError
            except TypeError:  # an unexpected column type: the generic header encoder decides
                header = header_json(position, event_id, stream_id, stream_version, event_type, schema_version,
                                     occurred_at, recorded_at, actor, causation_id, correlation_id)
                text = f"{prev_hash}\n{header}\n{payload}"
            hasher = _EMPTY_SHA256.copy()
            hasher.update(text.encode())
            raw = hasher.digest()  # finalised once: .hex() is cheaper than a second hexdigest()
            if raw.hex() != digest:
                return VerifyResult(checked, position, position, "hash does not match the event's content"), roots
            expected_prev = digest
            expected_position += 1
            checked += 1
            if tree is not None:
                node = sha256(b"\x00" + raw).digest()
                n = checked - 1  # leaves so far
                while n & 1:  # each trailing 1 bit of the size is a perfect subtree to merge with
                    node = sha256(b"\x01" + stack.pop() + node).digest()
                    n >>= 1
                stack.append(node)
                if checked == next_stop:
                    tree.size = checked
                    roots[checked] = (tree.root(), digest)
                    if pending:
                        next_stop = pending.pop()
                    else:
                        tree = None
        if progress:
            progress(len(rows))
    return VerifyResult(checked, expected_position - 1), roots


# ---- the parallel walk ----------------------------------------------------------------------------------


def _worker_count(workers: int | None) -> int:
    if workers is not None:
        return workers
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return min(cpus, 8)


def _worker_url(store: EventStore) -> str | None:
    """The URL a worker process opens its own engine with (None: a database only this process sees)."""
    url = store.engine.url
    if url.get_backend_name() == "sqlite" and (
        not url.database or url.database == ":memory:" or url.database.startswith("file:")
    ):
        return None
    return url.render_as_string(hide_password=False)


def _check_page(task: tuple[str, int, int, tuple[int, ...], bool]) -> dict[str, Any]:
    """One page (after, to] in a worker: the chain checked from the page's own first event on.

    The first event's prev_hash is returned, not checked (the caller links it to the previous page's last
    stored hash); every later one must equal the stored hash before it, as in sequential_walk. Returns the
    first failure in the page (events checked before it, head, position, reason), the page's count, last
    position and hash; with `tree`, the page's Merkle subtree root and, at each stop inside the page, the
    perfect-subtree roots of its leaves from the page's start.
    """
    # The page's rows and strings hold no reference cycles: with the collector on, its passes over every
    # fetched chunk's tuples were pure cost. Put back as found (a spawned worker runs other pages after).
    collecting = gc.isenabled()
    gc.disable()
    try:
        result = _sqlite_page(*task)
        return result if result is not None else _walk_page(*task)
    finally:
        if collecting:
            gc.enable()


def _sqlite_file(target: str) -> Path | None:
    """The SQLite file a worker may open with the sqlite3 module itself (None: not SQLite, or URL options)."""
    url = sa.engine.make_url(target)
    if url.get_backend_name() != "sqlite" or url.query or not url.database:
        return None
    return Path(url.database).resolve()


def _sqlite_page(target: str, after: int, to: int, stops: tuple[int, ...], tree: bool) -> dict[str, Any] | None:
    """_check_page's result for a page that is whole and sound, checked on texts SQLite built (_SQLITE_PAGE).

    None when this path cannot vouch for the page: not a SQLite file, json_array not quoting as Python does,
    a field of another type, no rows, or any break (gap, link, hash). The caller then walks the page field
    by field (_walk_page), so a failure is always named by the same code as before.
    """
    path = _sqlite_file(target)
    if path is None:
        return None
    try:  # mode=rw: never create an empty database where the file has gone
        connection = sqlite3.connect(f"{path.as_uri()}?mode=rw", uri=True, timeout=30)
    except sqlite3.Error:
        return None
    try:
        # Read the file through a memory map: the pages are used in place instead of copied in one read() each
        # (wall 0.87x, less system time; farm-bench, 4 alternated pairs at load 2.6-3.5).
        connection.execute("PRAGMA mmap_size=1073741824")
        (probe,) = connection.execute(
            "SELECT json_array(?, NULL, -9223372036854775808)", (_SQLITE_JSON_PROBE,)).fetchone()
        if probe != _SQLITE_JSON_EXPECTED:
            return None
        return _walk_texts(connection.execute(_SQLITE_PAGE, (after, to)), after, to, stops, tree)
    except sqlite3.Error:  # no JSON functions, a BLOB where a string belongs, text that is not UTF-8
        return None
    finally:
        connection.close()


def _walk_texts(
    cursor: sqlite3.Cursor, after: int, to: int, stops: tuple[int, ...], tree: bool
) -> dict[str, Any] | None:
    """_sqlite_page's loop over (position, hashed text, hash) rows; None at the first doubt."""
    expected_position = after + 1
    expected_prev: str | None = None
    first_prev: str | None = None
    checked = 0
    stack: list[bytes] = []
    at_stop: dict[int, tuple[list[bytes], str]] = {}
    wanted = set(stops)
    copy_empty = _EMPTY_SHA256.copy
    while rows := cursor.fetchmany(_FETCH):
        if expected_prev is None:
            if rows[0][1] is None:
                return None
            first_prev = expected_prev = rows[0][1][:64]  # linked by the caller, as in _walk_page
        for position, text, digest in rows:
            # every expected_prev after the first is a stored hash that matched a SHA-256 hex digest
            if position != expected_position or text is None or not text.startswith(expected_prev):
                return None
            hasher = copy_empty()
            hasher.update(text.encode())
            if not tree:
                if hasher.hexdigest() != digest:
                    return None
            else:  # as in _walk_page
                raw = hasher.digest()
                if raw.hex() != digest:
                    return None
                node = sha256(b"\x00" + raw).digest()
                n = checked
                while n & 1:
                    node = sha256(b"\x01" + stack.pop() + node).digest()
                    n >>= 1
                stack.append(node)
                if position in wanted:
                    at_stop[position] = (list(stack), digest)
            expected_prev = digest
            expected_position += 1
            checked += 1
    if not checked:
        return None
    return {
        "first_position": after + 1, "first_prev": first_prev, "failure": None, "checked": checked,
        "last_position": expected_position - 1, "last_hash": expected_prev,
        "root": stack[0] if tree and len(stack) == 1 and checked == to - after else None, "stops": at_stop,
    }


def _walk_page(target: str, after: int, to: int, stops: tuple[int, ...], tree: bool) -> dict[str, Any]:
    """_check_page's walk, with the collector off."""
    store = EventStore(make_engine(target, poolclass=sa.pool.NullPool))
    expected_position = after + 1
    expected_prev: str | None = None
    first_prev: str | None = None
    first_position: int | None = None
    checked = 0
    digest = ""
    stack: list[bytes] = []
    at_stop: dict[int, tuple[list[bytes], str]] = {}
    wanted = set(stops)
    failure: tuple[int, int, int, str] | None = None
    s = encode_basestring
    copy_empty = _EMPTY_SHA256.copy
    try:
        for rows in store.tuple_pages(after, to=to, page_size=_FETCH):
            for (position, event_id, stream_id, stream_version, event_type, schema_version, occurred_at,
                 recorded_at, actor, causation_id, correlation_id, payload, prev_hash, digest) in rows:
                if first_position is None:
                    first_position, first_prev, expected_prev = position, prev_hash, prev_hash
                if position != expected_position:
                    failure = (checked, position, expected_position, f"position {expected_position} is missing")
                    break
                if prev_hash != expected_prev:
                    failure = (checked, position, position, "prev_hash does not match the previous event")
                    break
                try:
                    text = _HASHED_TEXT % (
                        prev_hash, position, s(event_id), s(stream_id), stream_version, s(event_type),
                        schema_version, s(occurred_at), s(recorded_at), s(actor),
                        "null" if causation_id is None else s(causation_id),
                        "null" if correlation_id is None else s(correlation_id), payload,
                    )
                    if type(position) is not int or type(stream_version) is not int or type(schema_version) is not int:
                        raise TypeError
                except TypeError:
                    header = header_json(position, event_id, stream_id, stream_version, event_type, schema_version,
                                         occurred_at, recorded_at, actor, causation_id, correlation_id)
                    text = f"{prev_hash}\n{header}\n{payload}"
                hasher = copy_empty()
                hasher.update(text.encode())
                if tree:
                    raw = hasher.digest()  # the Merkle leaf needs the bytes: finalised once
                    matches = raw.hex() == digest
                else:
                    matches = hasher.hexdigest() == digest
                if not matches:
                    failure = (checked, position, position, "hash does not match the event's content")
                    break
                expected_prev = digest
                expected_position += 1
                checked += 1
                if tree:
                    node = sha256(b"\x00" + raw).digest()
                    n = checked - 1
                    while n & 1:
                        node = sha256(b"\x01" + stack.pop() + node).digest()
                        n >>= 1
                    stack.append(node)
                    if position in wanted:
                        at_stop[position] = (list(stack), digest)
            if failure:
                break
    finally:
        store.engine.dispose()
    return {
        "first_position": first_position, "first_prev": first_prev, "failure": failure, "checked": checked,
        "last_position": expected_position - 1, "last_hash": expected_prev,
        "root": stack[0] if tree and len(stack) == 1 and checked == to - after else None, "stops": at_stop,
    }


def _pool_context() -> Any:
    """fork where it is safe (no other threads: nothing to inherit half-held), else spawn."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


@contextmanager
def _page_pool(size: int) -> Iterator[Any]:
    """A pool of page workers, closed and joined when the walk ends, even early at a failure: Pool.terminate() with
    pages still queued can hang for ever (seen in CI: its task feeder blocked on a queue no live worker reads), so
    the pages already queued are finished instead. Only an exception (an interrupt) terminates the workers."""
    pool = _pool_context().Pool(size)
    try:
        yield pool
    except BaseException:
        pool.terminate()
        raise
    pool.close()
    pool.join()


def parallel_walk(
    store: EventStore, head: int, workers: int, *, progress: Callable[[int], None] | None = None,
    stops: Iterable[int] = (),
) -> tuple[VerifyResult, dict[int, tuple[bytes, str]]]:
    """sequential_walk's result from pages hashed in `workers` processes.

    Pages are taken in position order. Each page's chain is checked in its worker from its own first event;
    here its first event is linked to the previous page's last stored hash and its first position to the
    one expected, so the first failure found, page by page, is the one sequential_walk would report.
    Merkle roots at the stops are put together from whole pages' subtree roots and the in-page stacks.
    """
    page = PAGE_EVENTS
    assert page & (page - 1) == 0, "PAGE_EVENTS must be a power of two"
    target = _worker_url(store)
    assert target is not None
    pending = sorted(set(stops))
    roots: dict[int, tuple[bytes, str]] = {}
    for stop in pending:
        if stop <= 0:
            roots[stop] = (merkle.EMPTY_ROOT, GENESIS_HASH)
    pending = [stop for stop in pending if 0 < stop <= head]
    tree = bool(pending)
    last_stop = pending[-1] if pending else 0
    tasks = []
    for after in range(0, head, page):
        to = min(after + page, head)
        tasks.append((target, after, to, tuple(x for x in pending if after < x <= to), tree and after < last_stop))
    expected_position = 1
    expected_prev = GENESIS_HASH
    checked = 0
    stack: list[bytes] = []  # Merkle stack over whole pages: roots of perfect subtrees of >= PAGE_EVENTS leaves
    pages_done = 0
    with _page_pool(min(workers, len(tasks))) as pool:
        for result in pool.imap(_check_page, tasks):
            first = result["first_position"]
            if first is None:
                continue  # nothing in this page: a gap, reported at the next row found (or the end)
            if first != expected_position:
                return VerifyResult(checked, first, expected_position,
                                    f"position {expected_position} is missing"), roots
            if result["first_prev"] != expected_prev:
                return VerifyResult(checked, first, first, "prev_hash does not match the previous event"), roots
            for stop, (in_page, digest) in result["stops"].items():
                roots[stop] = (_fold(stack + in_page), digest)
            if result["failure"] is not None:
                in_page_checked, at, broken, reason = result["failure"]
                return VerifyResult(checked + in_page_checked, at, broken, reason), roots
            checked += result["checked"]
            expected_position = result["last_position"] + 1
            expected_prev = result["last_hash"]
            if result["root"] is not None:
                node = result["root"]
                n = pages_done
                while n & 1:
                    node = sha256(b"\x01" + stack.pop() + node).digest()
                    n >>= 1
                stack.append(node)
                pages_done += 1
            if progress:
                progress(result["checked"])
    return VerifyResult(checked, expected_position - 1), roots


def _fold(stack: list[bytes]) -> bytes:
    """merkle.TreeHasher.root over a stack of perfect-subtree roots, largest first."""
    digest = stack[-1]
    for left in reversed(stack[:-1]):
        digest = sha256(b"\x01" + left + digest).digest()
    return digest
