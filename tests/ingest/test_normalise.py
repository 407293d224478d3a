"""normalise_entry and the dedupe keys, on entries produced by the real parser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.ingest.normalise import (
    MAX_SUMMARY_CHARS,
    EvidenceItem,
    canonical_link,
    dedupe,
    html_to_text,
    normalise_entry,
    similar_titles,
    title_key,
)
from tracker.ingest.parse import parse_feed

FETCHED = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def items_of(xml: str, feed: str = "Test", base: str | None = None) -> list[EvidenceItem | None]:
    parsed = parse_feed(xml.encode(), {"content-type": "application/rss+xml"}, base_url=base)
    return [normalise_entry(e, feed_name=feed, fetched_at=FETCHED, feed_language=parsed.language)
            for e in parsed.entries]


def channel(items: str, extra: str = "") -> str:
    head = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
    return f"{head}{extra}{items}</channel></rss>"


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("HTTPS://News.Example.ORG/a/b?utm_source=x&utm_medium=rss&id=7#comments",
         "https://news.example.org/a/b?id=7"),
        ("https://example.org/p?z=1&a=2&fbclid=abc&gclid=1&mc_cid=2&mc_eid=3&ref=tw&cmpid=x&at_medium=s",
         "https://example.org/p?a=2&z=1"),
        ("http://example.org:80/x", "http://example.org/x"),
        ("https://example.org:443", "https://example.org/"),
        ("https://example.org:8443/x?", "https://example.org:8443/x"),
        ("  https://example.org/x  ", "https://example.org/x"),
        ("https://example.org/x?UTM_Source=a&Keep=B", "https://example.org/x?Keep=B"),
        ("javascript:alert(1)", None),
        ("mailto:desk@example.org", None),
        ("/relative/path", None),
        ("ftp://example.org/file", None),
        ("https://example.org:99999/x", None),
        ("", None),
    ],
)
def test_canonical_link(raw: str, canonical: str | None) -> None:
    assert canonical_link(raw) == canonical


def test_html_is_stripped_scripts_dropped_entities_decoded() -> None:
    text = html_to_text(
        "<div><p>Talks&nbsp;resume &amp; <b>stall</b></p><script>steal()</script><style>p{}</style>"
        "<p>again&#8212;today</p>\n\n<noscript>enable js</noscript></div>"
    )
    assert text == "Talks resume & stall again—today"


def test_entry_fields_are_normalised() -> None:
    (item,) = items_of(channel(
        "<item><title>  Kremlin &lt;b&gt;rejects&lt;/b&gt;\n  peacekeepers  </title>"
        "<link>https://News.example.org/story?utm_source=rss#top</link><guid isPermaLink='false'>abc-1</guid>"
        "<description>&lt;p&gt;Moscow said &lt;script&gt;x()&lt;/script&gt;no.&lt;/p&gt;</description>"
        "<pubDate>Tue, 25 Mar 2025 10:00:00 +0200</pubDate></item>",
        extra="<language>en-GB</language>",
    ), feed="Wire")
    assert item is not None
    assert item.title == "Kremlin rejects peacekeepers"
    assert item.link == "https://news.example.org/story"
    assert item.summary == "Moscow said no."
    assert item.published == datetime(2025, 3, 25, 8, 0, tzinfo=UTC) and not item.published_is_fetch_time
    assert item.guid == "abc-1" and item.language == "en-gb" and item.feed_name == "Wire"
    assert len(item.evidence_id) == 16 and len(item.content_hash) == 64
    payload = item.to_payload()
    assert payload["published"] == "2025-03-25T08:00:00+00:00" and payload["evidence_id"] == item.evidence_id


def test_summary_is_bounded() -> None:
    long_text = " ".join(["word"] * 3000)
    (item,) = items_of(channel(f"<item><title>t</title><description>{long_text}</description></item>"))
    assert item is not None and len(item.summary) <= MAX_SUMMARY_CHARS and item.summary.endswith("…")


def test_evidence_id_is_stable_across_feeds_and_tracking_params() -> None:
    a = items_of(channel("<item><title>A</title><link>https://e.org/s?utm_source=x</link><guid>1</guid></item>"),
                 feed="One")[0]
    b = items_of(channel("<item><title>A (updated)</title><link>https://E.org/s#x</link><guid>zz</guid></item>"),
                 feed="Two")[0]
    again = items_of(channel("<item><title>A</title><link>https://e.org/s?utm_source=x</link><guid>1</guid></item>"),
                     feed="One")[0]
    assert a and b and again
    assert a.evidence_id == b.evidence_id == again.evidence_id
    other = items_of(channel("<item><title>A</title><link>https://e.org/t</link></item>"))[0]
    assert other and other.evidence_id != a.evidence_id


def test_guid_only_ids_are_scoped_to_the_feed() -> None:
    xml = channel("<item><title>A</title><guid isPermaLink='false'>42</guid></item>")
    one, two = items_of(xml, feed="One")[0], items_of(xml, feed="Two")[0]
    assert one and two and one.link is None and one.guid == "42"
    assert one.evidence_id != two.evidence_id


def test_duplicate_and_missing_guids() -> None:
    items = items_of(channel(
        "<item><title>First</title><link>https://e.org/1</link><guid isPermaLink='false'>same</guid></item>"
        "<item><title>First again</title><link>https://e.org/1?utm_campaign=z</link>"
        "<guid isPermaLink='false'>same</guid></item>"
        "<item><title>No guid, link only</title><link>https://e.org/2</link></item>"
        "<item><title>No guid, no link</title><description>just text</description></item>"
        "<item><title>No guid, no link</title><description>just text</description></item>"
        "<item></item>"
    ))
    assert items[-1] is None  # nothing to keep
    kept = dedupe([i for i in items if i])
    assert [i.title for i in kept] == ["First", "No guid, link only", "No guid, no link"]
    assert kept[1].guid == "https://e.org/2"
    assert kept[2].guid.startswith("sha256:") and kept[2].link is None


def test_entries_without_dates_use_the_fetch_time_flagged() -> None:
    (item,) = items_of(channel("<item><title>Undated</title><link>https://e.org/u</link></item>"))
    assert item and item.published == FETCHED and item.published_is_fetch_time


def test_far_future_dates_are_not_trusted() -> None:
    future = (FETCHED + timedelta(days=30)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    (item,) = items_of(channel(f"<item><title>x</title><pubDate>{future}</pubDate></item>"))
    assert item and item.published == FETCHED and item.published_is_fetch_time


def test_atom_updated_and_content_fallback() -> None:
    body = (
        b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="es">'
        b"<title>A</title><id>urn:a</id><updated>2025-04-01T00:00:00Z</updated>"
        b'<entry><title type="html">Rusia &lt;em&gt;rechaza&lt;/em&gt; tropas</title><id>urn:a:1</id>'
        b'<link href="https://a.example.org/1"/><updated>2025-04-02T09:30:00+02:00</updated>'
        b'<content type="html">&lt;p&gt;Texto &lt;script&gt;x&lt;/script&gt;completo&lt;/p&gt;</content></entry></feed>'
    )
    parsed = parse_feed(body, {"content-type": "application/atom+xml"})
    item = normalise_entry(parsed.entries[0], feed_name="A", fetched_at=FETCHED, feed_language=parsed.language)
    assert item and item.title == "Rusia rechaza tropas" and item.summary == "Texto completo"
    assert item.published == datetime(2025, 4, 2, 7, 30, tzinfo=UTC) and item.language == "es"


def test_naive_fetch_time_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone"):
        normalise_entry({"title": "x"}, feed_name="f", fetched_at=datetime(2025, 1, 1))


def test_title_key_folds_case_accents_punctuation_and_stopwords() -> None:
    assert title_key("The Kremlin SAYS: «No» to peacekeepers!") == "kremlin no peacekeepers"
    assert title_key("Zelenskyy visits Médecins") == title_key("zelenskyy visits medecins")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("Russia rejects European peacekeepers for Ukraine", "Russia Rejects European Peacekeepers in Ukraine", True),
        ("Putin says war aims unchanged, Kremlin confirms", "Kremlin confirms: Putin says war aims unchanged", True),
        ("Russia rejects European peacekeepers", "Russia accepts European peacekeepers", False),
        ("Russia will attack power plants", "Russia will not attack power plants", False),
        ("Live updates", "Live updates: day 2", False),
        ("EU agrees defence fund", "EU agrees defence fund", True),
        ("", "", False),
    ],
)
def test_similar_titles(a: str, b: str, same: bool) -> None:
    assert similar_titles(a, b) is same


@settings(max_examples=300)
@given(st.lists(st.sampled_from([*"<>/!-ab &;\n\t", "script", "p", "b", "<!--"]), max_size=60).map("".join))
def test_html_to_text_never_leaves_tags_or_long_whitespace(markup: str) -> None:
    text = html_to_text(f"<p>{markup}</p><script>{markup}</script>")
    assert "  " not in text and "\n" not in text and "\t" not in text
    if "&" not in markup:  # entities may legitimately decode to "<" in plain text
        assert "<script" not in text.lower() and "<p>" not in text and "<b>" not in text


def test_html_to_text_examples() -> None:
    assert html_to_text("<<b>i>x") == "x"
    assert html_to_text("a < b and c > d") == "a < b and c > d"
    assert "alert" not in html_to_text("<scr<script>ipt>alert(1)</script>after")
    assert html_to_text("<img src=x onerror=alert(1)>ok <!-- note -->done") == "ok done"
    assert html_to_text("<SCRIPT>bad</SCRIPT >good") == "good"


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80))
def test_canonical_link_is_idempotent(path: str) -> None:
    first = canonical_link(f"https://Example.org/{path}?utm_source=x&b=1&a=2#f")
    assert first is not None and canonical_link(first) == first
