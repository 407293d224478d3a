"""parse_feed: encodings, malformed and hostile documents, empty and non-feed bodies."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest

from tests.ingest.feedserver import FeedServer, Reply
from tracker.ingest.fetch import FetchKind, FetchSettings, fetch_feed
from tracker.ingest.parse import parse_feed


def rss(items: str, *, declaration: str = '<?xml version="1.0" encoding="utf-8"?>', channel: str = "") -> str:
    return f'{declaration}<rss version="2.0"><channel><title>Test feed</title>{channel}{items}</channel></rss>'


ITEM = "<item><title>{title}</title><link>https://example.org/{n}</link><guid>g{n}</guid></item>"


def test_rss_with_ttl_language_and_relative_links() -> None:
    body = rss(
        ITEM.format(title="One", n=1) + "<item><title>Two</title><link>/two</link></item>",
        channel="<language>en-GB</language><ttl>45</ttl>",
    ).encode()
    parsed = parse_feed(body, {"content-type": "application/rss+xml"}, base_url="https://news.example.org/feed")
    assert parsed.ok and parsed.version == "rss20" and parsed.warning is None
    assert [e["title"] for e in parsed.entries] == ["One", "Two"]
    assert parsed.entries[1]["link"] == "https://news.example.org/two"
    assert parsed.ttl_minutes == 45 and parsed.language == "en-GB" and parsed.title == "Test feed"


def test_silly_ttl_is_ignored() -> None:
    assert parse_feed(rss(ITEM.format(title="a", n=1), channel="<ttl>-5</ttl>").encode()).ttl_minutes is None
    assert parse_feed(rss(ITEM.format(title="a", n=1), channel="<ttl>soon</ttl>").encode()).ttl_minutes is None


def test_iso_8859_1_declared_in_the_prolog() -> None:
    body = rss(ITEM.format(title="Café in Kraków, Zürich", n=1),
               declaration='<?xml version="1.0" encoding="ISO-8859-1"?>').encode("iso-8859-1")
    assert b"Caf\xe9" in body
    parsed = parse_feed(body, {"content-type": "application/xml"})
    assert parsed.ok and parsed.entries[0]["title"] == "Café in Kraków, Zürich"


def test_windows_1251_declared_in_the_prolog() -> None:
    body = rss(ITEM.format(title="Переговори в Стамбулі", n=1),
               declaration='<?xml version="1.0" encoding="windows-1251"?>').encode("cp1251")
    parsed = parse_feed(body, {"content-type": "application/rss+xml"})
    assert parsed.ok and parsed.entries[0]["title"] == "Переговори в Стамбулі"


def test_windows_1251_declared_only_in_the_http_header() -> None:
    item = ITEM.format(title="Кремль отверг предложение", n=1)
    body = rss(item, declaration='<?xml version="1.0"?>').encode("cp1251")
    parsed = parse_feed(body, {"content-type": "application/rss+xml; charset=windows-1251"})
    assert parsed.ok and parsed.entries[0]["title"] == "Кремль отверг предложение"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


def test_non_utf8_feed_over_http(server: FeedServer) -> None:
    body = rss(ITEM.format(title="Зеленський і Мерц", n=1), declaration='<?xml version="1.0"?>').encode("cp1251")
    url = server.route("/feed", Reply(headers={"Content-Type": "text/xml; charset=windows-1251"}, body=body))
    fetched = fetch_feed(url, settings=FetchSettings(allow_private=True))
    assert fetched.kind is FetchKind.OK
    parsed = parse_feed(fetched.body, fetched.headers, base_url=fetched.final_url)
    assert parsed.entries[0]["title"] == "Зеленський і Мерц"


def test_malformed_xml_with_entries_is_kept_with_a_warning() -> None:
    body = rss(ITEM.format(title="Fish & chips", n=1) + ITEM.format(title="Second <b>bold", n=2)).encode()
    parsed = parse_feed(body, {"content-type": "application/rss+xml"})
    assert parsed.ok and parsed.error is None
    assert len(parsed.entries) == 2 and parsed.entries[0]["title"].startswith("Fish")
    assert parsed.warning and "SAXParseException" in parsed.warning


def test_truncated_feed_still_yields_its_complete_items() -> None:
    body = rss(ITEM.format(title="Whole", n=1) + ITEM.format(title="Also whole", n=2)).encode()[:-40]
    parsed = parse_feed(body)
    assert [e["title"] for e in parsed.entries] == ["Whole", "Also whole"] and parsed.warning


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>bomb</title><item><title>&lol9;</title></item></channel></rss>"""


def _quadratic_bomb() -> bytes:
    # no nesting at all: one 100 kB entity referenced 20,000 times would expand to 2 GB
    refs = "&big;" * 20_000
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY big "{"x" * 100_000}">]>'
        f'<rss version="2.0"><channel><title>q</title><item><title>{refs}</title></item></channel></rss>'
    ).encode()


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        _quadratic_bomb(),
        BILLION_LAUGHS.decode().replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="utf-16"?>')
        .encode("utf-16"),
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<rss version="2.0"><channel><item><title>&xxe;</title></item></channel></rss>',
        b'<!doctype rss [<!entity lol "lol">]><rss><channel><item><title>&lol;</title></item></channel></rss>',
    ],
    ids=["billion-laughs", "quadratic", "utf16-billion-laughs", "external-entity", "lowercase-sgml"],
)
def test_entity_declarations_are_refused_without_expanding(body: bytes) -> None:
    tracemalloc.start()
    try:
        parsed = parse_feed(body, {"content-type": "application/xml"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert parsed.entries == [] and parsed.error and "entities" in parsed.error
    assert peak < 10 * len(body) + 1_000_000


def test_plain_doctype_without_entities_is_fine() -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE rss>' + rss(ITEM.format(title="ok", n=1), declaration="").encode()
    assert parse_feed(body).entries[0]["title"] == "ok"


@pytest.mark.parametrize("body", [b"", b"   \n\t  "])
def test_empty_body_is_an_error(body: bytes) -> None:
    parsed = parse_feed(body, {})
    assert parsed.entries == [] and parsed.error == "empty body" and not parsed.ok


def test_html_page_is_not_a_feed() -> None:
    parsed = parse_feed(b"<html><head><title>Login</title></head><body><p>Sign in</p></body></html>",
                        {"content-type": "text/html"})
    assert parsed.entries == [] and parsed.error and "not a recognisable" in parsed.error


def test_garbage_is_an_error_not_an_exception() -> None:
    parsed = parse_feed(bytes(range(256)) * 10, {"content-type": "application/octet-stream"})
    assert parsed.entries == [] and parsed.error


def test_bytes_naming_a_local_file_are_not_opened() -> None:
    # feedparser.parse(b"/etc/hostname") would read that file; parse_feed hands it the bytes as a stream
    parsed = parse_feed(b"/etc/hostname", {})
    assert parsed.entries == [] and parsed.error


def test_well_formed_feed_without_items_is_empty_not_an_error() -> None:
    parsed = parse_feed(rss("").encode(), {"content-type": "application/rss+xml"})
    assert parsed.ok and parsed.entries == [] and parsed.version == "rss20" and parsed.warning is None


def test_atom_feed_language_from_xml_lang() -> None:
    body = (
        b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="uk">'
        b"<title>A</title><id>urn:a</id><updated>2025-04-01T00:00:00Z</updated>"
        b'<entry><title>x</title><id>urn:a:1</id><link href="https://a.example.org/1"/>'
        b"<updated>2025-04-01T00:00:00Z</updated></entry></feed>"
    )
    parsed = parse_feed(body, {"content-type": "application/atom+xml"})
    assert parsed.version == "atom10" and parsed.language == "uk" and len(parsed.entries) == 1
