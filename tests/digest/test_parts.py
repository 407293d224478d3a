"""Subscriber validation, unsubscribe tokens, rendering and message building: the pieces on their own."""

from __future__ import annotations

import os
import stat
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tracker.digest.compose import Change, EvidenceRef, NewEvidence, PropositionRef, Story, everything
from tracker.digest.compose import Digest as DigestData
from tracker.digest.deliver import BadSmtpUrl, Envelope, build_message, parse_smtp_url
from tracker.digest.render import BadBaseUrl, render, safe_url
from tracker.digest.tokens import BadToken, load_or_create_secret, make_token, read_token
from tracker.domain.errors import InvalidCommand, InvalidTransition
from tracker.domain.events import Event
from tracker.domain.subscriber import (
    AddSubscriber,
    RemoveSubscriber,
    decide,
    evolve,
    normalise_email,
    subscriber_id_for,
)


@pytest.mark.parametrize("email", [
    "a@example.org\r\nBcc: x@example.org", "a@example.org\n", "A <a@example.org>", "a@example.org, b@example.org",
    "a@localhost", "a@@example.org", "@example.org", "a@example", "a b@example.org", "a..b@example.org",
    "\"quoted\"@example.org", "a@[127.0.0.1]", "a@-example.org", "", "x" * 250 + "@example.org", "a@exa mple.org",
])
def test_anything_but_a_plain_address_is_refused(email: str) -> None:
    with pytest.raises(InvalidCommand):
        decide(None, AddSubscriber(email=email))


def test_addresses_are_normalised_and_ids_are_case_blind() -> None:
    assert normalise_email("  Ann.Lee+digest@Example.ORG ") == "Ann.Lee+digest@example.org"
    assert subscriber_id_for("ann@example.org") == subscriber_id_for("ANN@EXAMPLE.ORG")
    assert subscriber_id_for("ann@example.org") != subscriber_id_for("bob@example.org")


def test_add_remove_resubscribe_and_stale_links() -> None:
    (added,) = decide(None, AddSubscriber("ann@example.org", "Ann", {"actors": ["Atlantis", " Atlantis "]}))
    assert added.data["filters"] == {"actors": ["Atlantis"], "topics": [], "kinds": [], "propositions": []}
    state = evolve(None, added)
    with pytest.raises(InvalidTransition):
        decide(state, AddSubscriber("ANN@example.org"))
    assert decide(state, RemoveSubscriber(via="unsubscribe-link", subscription=2)) == [], "not this subscription"
    (removed,) = decide(state, RemoveSubscriber(via="unsubscribe-link", subscription=1))
    state = evolve(state, removed)
    assert not state.active and decide(state, RemoveSubscriber()) == []
    again = evolve(state, decide(state, AddSubscriber("ann@example.org"))[0])
    assert again.active and again.subscription == 2
    assert decide(again, RemoveSubscriber(subscription=1)) == [], "an old link cannot end the new subscription"
    with pytest.raises(InvalidCommand):
        decide(None, AddSubscriber("a@example.org", name="Ann\r\nBcc: x@example.org"))
    with pytest.raises(InvalidCommand):
        decide(None, AddSubscriber("a@example.org", filters={"kinds": ["rumour"]}))
    with pytest.raises(InvalidCommand):
        decide(None, AddSubscriber("a@example.org", filters={"colour": ["red"]}))
    with pytest.raises(InvalidCommand):
        decide(None, AddSubscriber("a@example.org", quiet_weeks="sometimes"))
    assert evolve(None, Event("SubscriberAdded", added.data)).email == "ann@example.org"


def test_tokens_verify_and_refuse_forgery(tmp_path: Path) -> None:
    secret = load_or_create_secret(None, tmp_path / "keys" / "digest-secret")
    assert stat.S_IMODE(os.stat(tmp_path / "keys" / "digest-secret").st_mode) == 0o600
    assert load_or_create_secret(None, tmp_path / "keys" / "digest-secret") == secret, "created once, then reused"
    configured = "configured-secret-0123456789abcdef"
    assert load_or_create_secret(configured, tmp_path / "other") == configured.encode()
    assert not (tmp_path / "other").exists()
    today = date(2027, 1, 4)
    token = make_token(secret, "abc123def456", 2, today)
    read = read_token(secret, token, today=today)
    assert (read.subscriber_id, read.subscription, read.issued) == ("abc123def456", 2, today)
    sid, number, issued, signature = token.split(".")
    for forged in (f"abc123def457.{number}.{issued}.{signature}", f"{sid}.3.{issued}.{signature}",
                   f"{sid}.{number}.{issued}.{'A' * 43}", f"{sid}.{number}.{signature}", token[:-1], token + "A",
                   "", "../../etc", f"{token}\r\n"):
        with pytest.raises(BadToken):
            read_token(secret, forged, today=today)
    with pytest.raises(BadToken):
        read_token(b"another secret that is long enough", token, today=today)


@pytest.mark.parametrize("url,ok", [
    ("https://news.example/a?b=1", True), ("http://news.example/", True), ("javascript:alert(1)", False),
    ("JaVaScRiPt:alert(1)", False), ("data:text/html,x", False), ("//news.example/x", False),
    ("https://news.example/\"onmouseover=x", False), ("https:///nohost", False), ("ftp://x.example/", False),
    ("https://news.example/a b", False), (None, False),
])
def test_only_http_links_are_kept(url: str | None, ok: bool) -> None:
    assert (safe_url(url) is not None) is ok


def _digest(title: str, link: str | None) -> DigestData:
    base = everything()
    prop = PropositionRef("p-1", "A made-up <i>statement</i>", "claim", "supported")
    found = EvidenceRef("e", title, link, None, "supports")
    item = NewEvidence(prop, found, "Wed 26 Mar 12:00")
    story = Story(prop, (Change("Wed 26 Mar 12:00", "new evidence supports it", "open", "supported", (found,)),))
    return DigestData(
        week="2025-W13", first_day=datetime(2025, 3, 24).date(), last_day=datetime(2025, 3, 30).date(),
        timezone="UTC", subscriber_id=base.subscriber_id, email=base.email, name="<b>Editor</b>",
        quiet_weeks="note", filtered=False, new_evidence=(("supports", (item,)),), stories=(story,),
    )


def test_render_escapes_html_and_drops_unsafe_links() -> None:
    rendered = render(_digest("<img src=https://evil.example/x.png>", "javascript:alert(1)"),
                      public_base_url="https://tracker.example/", unsubscribe_url="https://tracker.example/u?t=1")
    assert "<img" not in rendered.html and "&lt;img src=https://evil.example/x.png&gt;" in rendered.html
    assert "javascript:" not in rendered.html and "javascript:" not in rendered.text
    assert "&lt;b&gt;Editor&lt;/b&gt;" in rendered.html and "<i>" not in rendered.html
    assert 'href="https://tracker.example/record/propositions/p-1"' in rendered.html
    assert "Hello <b>Editor</b>," in rendered.text, "the text part is not HTML-escaped"
    assert "&lt;" not in rendered.text
    with pytest.raises(BadBaseUrl):
        render(_digest("t", None), public_base_url="javascript:alert(1)", unsubscribe_url=None)


def test_message_is_multipart_with_unsubscribe_headers_on_one_line() -> None:
    rendered = render(_digest("A title", "https://news.example/1"), public_base_url="https://tracker.example",
                      unsubscribe_url=None)
    link = "https://tracker.example/unsubscribe?token=" + "a" * 24 + ".1." + "B" * 43
    message = build_message(rendered, Envelope(
        sender="Policy Tracker <digest@tracker.example>", recipient_email="ann@example.org",
        recipient_name="Ann, \"the\" reader", message_id="<digest-2025-W13-abc@policy-tracker>",
        unsubscribe_url=link, date=datetime(2025, 3, 31, 7, tzinfo=UTC),
    ))
    raw = message.as_bytes()
    assert f"List-Unsubscribe: <{link}>".encode() in raw, "the URL must not be RFC 2047-encoded or folded"
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["To"].addresses[0].display_name == 'Ann, "the" reader'
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert all(len(line) <= 998 for line in raw.split(b"\n"))
    with pytest.raises(ValueError):
        build_message(rendered, Envelope("digest@tracker.example", "ann@example.org", "x", "<a\r\nBcc: b@c.d>",
                                         None, datetime(2025, 3, 31, tzinfo=UTC)))


def test_smtp_urls() -> None:
    plain = parse_smtp_url("smtp://127.0.0.1:1025")
    assert (plain.host, plain.port, plain.starttls, plain.implicit_tls, plain.username) == (
        "127.0.0.1", 1025, False, False, None)
    tls = parse_smtp_url("smtps://user%40x:p%3Ass@mail.example")
    assert (tls.port, tls.implicit_tls, tls.username, tls.password) == (465, True, "user@x", "p:ss")
    assert parse_smtp_url("smtp://mail.example:587?starttls=1&timeout=5").starttls
    for bad in ("http://mail.example", "smtp://", "smtp://mail.example:99999", "smtps://m.example?starttls=1",
                "smtp://m.example?tls=1", "smtp://m.example?timeout=soon"):
        with pytest.raises(BadSmtpUrl):
            parse_smtp_url(bad)
