"""feeds.toml loading: the shipped file, and clear errors for each kind of bad entry."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tracker.ingest.feeds_config import FeedConfigError, load_feeds
from tracker.ingest.fetch import FetchKind, FetchSettings, fetch_feed
from tracker.ingest.normalise import normalise_entry
from tracker.ingest.parse import parse_feed

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "feeds" / "feeds.toml"


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "samples").mkdir(exist_ok=True)
    path = tmp_path / "feeds.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, **kwargs: object) -> list[str]:
    with pytest.raises(FeedConfigError) as caught:
        load_feeds(path, **kwargs)  # type: ignore[arg-type]
    assert str(path) in str(caught.value)
    return caught.value.problems


def test_shipped_feeds_file_is_valid_and_covers_the_subject() -> None:
    feeds = load_feeds(SHIPPED)
    remote = [f for f in feeds if not f.is_local]
    samples = [f for f in feeds if f.is_local]
    assert 10 <= len(remote) <= 15
    assert all(f.url and f.url.startswith("https://") for f in remote)
    assert len(samples) == 3 and all(f.sample and f.path and f.path.is_file() for f in samples)
    assert all(f.enabled and 5 <= f.interval_minutes <= 240 and f.tags for f in feeds)
    assert len({f.name.casefold() for f in feeds}) == len(feeds)


def test_shipped_samples_fetch_parse_and_normalise_offline() -> None:
    settings = FetchSettings(samples_dir=ROOT / "feeds" / "samples")
    formats, ids, counts = set(), [], []
    for feed in load_feeds(SHIPPED):
        if not feed.is_local:
            continue
        fetched = fetch_feed(feed.location, settings=settings, allow_local=True)
        assert fetched.kind is FetchKind.OK
        parsed = parse_feed(fetched.body, fetched.headers, base_url=fetched.final_url)
        assert parsed.ok and parsed.warning is None and "SAMPLE" in (parsed.title or "")
        formats.add(parsed.version)
        items = [normalise_entry(e, feed_name=feed.name, fetched_at=datetime.now(UTC)) for e in parsed.entries]
        assert all(item is not None and item.title.startswith("SAMPLE") for item in items)
        assert all(datetime(2025, 3, 20, tzinfo=UTC) <= i.published <= datetime(2025, 11, 30, 23, 59, tzinfo=UTC)
                   for i in items if i)
        assert not any(i.published_is_fetch_time for i in items if i)
        counts.append(len(items))
        ids += [i.evidence_id for i in items if i]
    assert {"rss20", "atom10"} <= formats
    assert all(8 <= n <= 11 for n in counts)
    # one story is cross-posted (different tracking parameters): the same evidence id from two feeds
    assert len(ids) - len(set(ids)) == 1


def test_entries_with_url_and_path(tmp_path: Path) -> None:
    (tmp_path / "samples" / "s.xml").parent.mkdir()
    (tmp_path / "samples" / "s.xml").write_bytes(b"<rss/>")
    path = write(
        tmp_path,
        """
[[feed]]
name = "  News   One "
url = "https://news.example.org/rss"
tags = ["Wire", "wire", "europe"]

[[feed]]
name = "Local sample"
path = "samples/s.xml"
sample = true
interval_minutes = 15
enabled = false
""",
    )
    one, local = load_feeds(path)
    assert one.name == "News One" and one.interval_minutes == 60 and one.enabled and not one.sample
    assert one.tags == ("wire", "europe") and one.location == "https://news.example.org/rss" and not one.is_local
    assert local.is_local and local.path == (tmp_path / "samples" / "s.xml").resolve()
    assert local.location == local.path.as_uri() and local.interval_minutes == 15 and not local.enabled


def test_bad_toml_is_reported(tmp_path: Path) -> None:
    (problem,) = problems_of(write(tmp_path, "[[feed]\nname = 'x'"))
    assert "invalid TOML" in problem


def test_every_problem_is_listed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
colour = "blue"

[[feed]]
url = "https://a.example.org/rss"

[[feed]]
name = "Both"
url = "https://b.example.org/rss"
path = "samples/x.xml"

[[feed]]
name = "Neither"

[[feed]]
name = "Typo"
url = "https://c.example.org/rss"
intervall = 30

[[feed]]
name = "Bad values"
url = "https://d.example.org/rss"
interval_minutes = 1
tags = "wire"
enabled = "yes"

[[feed]]
name = "Dup"
url = "https://e.example.org/rss"

[[feed]]
name = "DUP"
url = "https://f.example.org/rss"

[[feed]]
name = "Same URL"
url = "https://e.example.org/rss"
""",
    )
    problems = "\n".join(problems_of(path))
    assert "unknown top-level keys ['colour']" in problems
    assert "feed #1: 'name' is required" in problems
    assert "feed #2 ('Both'): give exactly one of 'url' or 'path'" in problems
    assert "feed #3 ('Neither'): give exactly one" in problems
    assert "unknown keys ['intervall']" in problems
    assert "'interval_minutes' must be 5..10080" in problems
    assert "'tags' must be a list" in problems and "'enabled' must be true or false" in problems
    assert "feed #7 ('DUP'): duplicate name (also feed #6)" in problems
    assert "feed #8 ('Same URL'): same source as 'Dup'" in problems


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080/rss", "loopback"),
        ("http://localhost/rss", "loopback"),
        ("http://10.1.2.3/rss", "private"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://metadata.google.internal/", "metadata"),
        ("http://[::1]/rss", "loopback"),
        ("file:///etc/passwd", "scheme"),
        ("ftp://example.org/rss", "scheme"),
        ("https://user:pw@example.org/rss", "credentials"),
    ],
)
def test_unsafe_urls_are_refused_at_load(tmp_path: Path, url: str, expected: str) -> None:
    path = write(tmp_path, f'[[feed]]\nname = "x"\nurl = "{url}"\n')
    (problem,) = problems_of(path)
    assert expected in problem


def test_private_urls_allowed_with_allow_private_but_metadata_never(tmp_path: Path) -> None:
    path = write(tmp_path, '[[feed]]\nname = "local"\nurl = "http://127.0.0.1:8080/rss"\n')
    assert load_feeds(path, allow_private=True)[0].url == "http://127.0.0.1:8080/rss"
    meta = write(tmp_path, '[[feed]]\nname = "m"\nurl = "http://169.254.169.254/"\n')
    assert "metadata" in problems_of(meta, allow_private=True)[0]


@pytest.mark.parametrize("target", ["../feeds.toml", "/etc/passwd", "samples/../../outside.xml"])
def test_paths_outside_the_samples_dir_are_refused(tmp_path: Path, target: str) -> None:
    path = write(tmp_path, f'[[feed]]\nname = "x"\npath = "{target}"\n')
    (problem,) = problems_of(path)
    assert "must be inside" in problem


def test_missing_sample_file_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, '[[feed]]\nname = "x"\npath = "samples/missing.xml"\nsample = true\n')
    (problem,) = problems_of(path)
    assert "not found" in problem
