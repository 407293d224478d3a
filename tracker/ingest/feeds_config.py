"""Load and validate feeds/feeds.toml.

Format: one `[[feed]]` table per feed::

    [[feed]]
    name = "BBC News: World"              # required, unique (case-insensitive)
    url = "https://feeds.bbci.co.uk/news/world/rss.xml"   # http(s); or instead:
    # path = "samples/sample-wire-energy.rss.xml"          # a local sample, relative to this file's directory
    interval_minutes = 60                 # optional, 5 .. 10080, default 60
    tags = ["wire", "europe"]             # optional
    enabled = true                        # optional, default true
    sample = false                        # optional: marks an offline sample feed

A `path` entry is the only way a local file becomes a feed, and it must lie inside the samples directory
(`<dir of feeds.toml>/samples`). URLs get the static SSRF check (no DNS, so loading works offline); the full
check, with resolution, happens on every fetch.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracker.config import ConfigFileError
from tracker.ingest import netguard
from tracker.ingest.netguard import IPAddress

DEFAULT_INTERVAL_MINUTES = 60
MIN_INTERVAL_MINUTES = 5
MAX_INTERVAL_MINUTES = 7 * 24 * 60
MAX_NAME_LENGTH = 100
KNOWN_KEYS = frozenset({"name", "url", "path", "interval_minutes", "tags", "enabled", "sample"})


class FeedConfigError(ConfigFileError):
    """feeds.toml is unusable; `problems` lists every problem found (all are reported at once)."""

    def __init__(self, source: Path, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


@dataclass(frozen=True)
class FeedConfig:
    name: str
    url: str | None = None
    path: Path | None = None  # absolute, resolved
    interval_minutes: int = DEFAULT_INTERVAL_MINUTES
    tags: tuple[str, ...] = ()
    enabled: bool = True
    sample: bool = False

    @property
    def is_local(self) -> bool:
        """True for `path =` entries: fetch with `fetch_feed(..., allow_local=True)`."""
        return self.path is not None

    @property
    def location(self) -> str:
        """What to pass to `fetch_feed`: the URL, or a file: URI for a local sample."""
        if self.path is not None:
            return self.path.as_uri()
        assert self.url is not None
        return self.url


def load_feeds(
    path: str | Path,
    *,
    allow_private: bool = False,
    allow_addresses: Collection[IPAddress] = frozenset(),
    samples_dir: Path | None = None,
) -> list[FeedConfig]:
    """Parse and validate a feeds file. Raises FeedConfigError listing every problem, or OSError if unreadable."""
    source = Path(path)
    try:
        document = tomllib.loads(source.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise FeedConfigError(source, [f"invalid TOML: {error}"]) from None
    except UnicodeDecodeError as error:
        raise FeedConfigError(source, [f"not UTF-8: {error}"]) from None
    return parse_feeds(
        document,
        source=source,
        allow_private=allow_private,
        allow_addresses=allow_addresses,
        samples_dir=samples_dir or source.resolve().parent / "samples",
    )


def parse_feeds(
    document: dict[str, Any],
    *,
    source: Path,
    allow_private: bool,
    samples_dir: Path,
    allow_addresses: Collection[IPAddress] = frozenset(),
) -> list[FeedConfig]:
    """Validate an already-parsed TOML document (see `load_feeds`)."""
    problems: list[str] = []
    unknown_top = sorted(set(document) - {"feed"})
    if unknown_top:
        problems.append(f"unknown top-level keys {unknown_top} (each feed is a [[feed]] table)")
    entries = document.get("feed", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise FeedConfigError(source, [*problems, "'feed' must be an array of tables ([[feed]])"])
    feeds: list[FeedConfig] = []
    names: dict[str, int] = {}
    locations: dict[str, str] = {}
    for index, entry in enumerate(entries, start=1):
        label = f"feed #{index}" + (f" ({entry['name']!r})" if isinstance(entry.get("name"), str) else "")
        before = len(problems)
        feed = _parse_entry(entry, label, problems, source.resolve().parent, samples_dir.resolve(),
                            allow_private=allow_private, allow_addresses=allow_addresses)
        if feed is None or len(problems) > before:
            continue
        key = feed.name.casefold()
        if key in names:
            problems.append(f"{label}: duplicate name (also feed #{names[key]})")
            continue
        names[key] = index
        if feed.location in locations:
            problems.append(f"{label}: same source as {locations[feed.location]!r}")
            continue
        locations[feed.location] = feed.name
        feeds.append(feed)
    if problems:
        raise FeedConfigError(source, problems)
    return feeds


def _parse_entry(
    entry: dict[str, Any],
    label: str,
    problems: list[str],
    base_dir: Path,
    samples_dir: Path,
    *,
    allow_private: bool,
    allow_addresses: Collection[IPAddress],
) -> FeedConfig | None:
    unknown = sorted(set(entry) - KNOWN_KEYS)
    if unknown:
        hints = [f"{key!r} -> {close[0]!r}" for key in unknown
                 if (close := difflib.get_close_matches(key, sorted(KNOWN_KEYS), n=1, cutoff=0.6))]
        problems.append(f"{label}: unknown keys {unknown}" + (f" (did you mean {', '.join(hints)}?)" if hints else ""))
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{label}: 'name' is required and must be a non-empty string")
        return None
    name = " ".join(name.split())
    if len(name) > MAX_NAME_LENGTH:
        problems.append(f"{label}: name longer than {MAX_NAME_LENGTH} characters")
    url, path = entry.get("url"), entry.get("path")
    if (url is None) == (path is None):
        problems.append(f"{label}: give exactly one of 'url' or 'path'")
        return None
    resolved: Path | None = None
    if url is not None:
        if not isinstance(url, str):
            problems.append(f"{label}: 'url' must be a string")
            return None
        url = url.strip()
        try:
            netguard.check_url_static(url, allow_private=allow_private, allow_addresses=allow_addresses)
        except netguard.UnsafeURL as error:
            problems.append(f"{label}: {error}")
    else:
        if not isinstance(path, str) or not path.strip():
            problems.append(f"{label}: 'path' must be a non-empty string")
            return None
        resolved = (base_dir / path).resolve()
        if not resolved.is_relative_to(samples_dir):
            problems.append(f"{label}: local feeds must be inside {samples_dir}")
        elif not resolved.is_file():
            problems.append(f"{label}: sample file {resolved} not found")
    interval = entry.get("interval_minutes", DEFAULT_INTERVAL_MINUTES)
    if isinstance(interval, bool) or not isinstance(interval, int):
        problems.append(f"{label}: 'interval_minutes' must be an integer")
        interval = DEFAULT_INTERVAL_MINUTES
    elif not MIN_INTERVAL_MINUTES <= interval <= MAX_INTERVAL_MINUTES:
        problems.append(f"{label}: 'interval_minutes' must be {MIN_INTERVAL_MINUTES}..{MAX_INTERVAL_MINUTES}")
    tags = entry.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        problems.append(f"{label}: 'tags' must be a list of non-empty strings")
        tags = []
    flags = {}
    for flag, default in (("enabled", True), ("sample", False)):
        value = entry.get(flag, default)
        if not isinstance(value, bool):
            problems.append(f"{label}: '{flag}' must be true or false")
            value = default
        flags[flag] = value
    return FeedConfig(
        name=name,
        url=url,
        path=resolved,
        interval_minutes=interval,
        tags=tuple(dict.fromkeys(t.strip().lower() for t in tags)),
        **flags,
    )
