"""What a digest says, read back from a real SMTP server: one heading per proposition with its changes in
words beneath, no event type names, the review backlog for editors only, links to the public pages, and a
plain-text part that says what the HTML says."""

from __future__ import annotations

import re
from email.message import EmailMessage

from tests.digest.conftest import confirm, ingest, register, subscribe, this_week
from tests.digest.smtpserver import SmtpServer
from tracker.config import Settings
from tracker.digest.service import send_week
from tracker.domain import proposition
from tracker.repository.unit_of_work import Tracker

STATEMENT = "The made-up armistice between Atlantis and Lemuria will be signed and respected by both capitals."
EVENT_TYPES = (
    "StatusChanged", "PropositionRegistered", "PropositionAmended", "MatchSuggested", "MatchConfirmed",
    "MatchRejected", "MatchRetracted", "PropositionResolved", "PropositionWithdrawn", "PropositionReopened",
    "MatchingMuted", "MatchingUnmuted", "EvidenceWindowSet", "EvidenceIngested", "EvidenceAttached",
)


def _busy_week(tracker: Tracker) -> None:
    """One proposition with five changes in the week (and a suggestion left for review)."""
    register(tracker, "armistice", STATEMENT, actors=["Atlantis"], probability=0.7)
    confirm(tracker, "armistice", "ev-sign", "supports", "Made-up armistice signed in Atlantis")
    confirm(tracker, "armistice", "ev-shell", "contradicts", "Made-up shelling breaks the armistice")
    tracker.execute("armistice", proposition.ResolveProposition("refuted", evidence_ids=("ev-shell",)),
                    actor="user:editor")
    tracker.execute("armistice", proposition.ReopenProposition("resolved too early"), actor="user:editor")
    ingest(tracker, "ev-pending", "Made-up envoys talk about the armistice")
    tracker.execute("armistice", proposition.SuggestMatch("m-pending", "ev-pending", 0.7), actor="system:matcher")


def _parts(message: EmailMessage) -> tuple[str, str]:
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def test_a_busy_proposition_is_one_heading_with_its_changes_in_words(
    tracker: Tracker, settings: Settings, smtp: SmtpServer
) -> None:
    _busy_week(tracker)
    subscribe(tracker, "reader@example.org", "Rea")
    assert send_week(tracker, settings, this_week()).sent == ["reader@example.org"]
    text, html = _parts(smtp.recorder.to("reader@example.org")[0])
    for body in (text, html):
        assert body.count(STATEMENT) == 1, "the statement once, as the heading of its changes"
        for name in EVENT_TYPES:
            assert name not in body, f"{name} shown to a reader"
    expected = ["added to the record", "new evidence supports it", "new evidence contradicts it",
                "resolved: refuted", "reopened by an editor"]
    positions = [text.index(words) for words in expected]
    assert positions == sorted(positions), "changes in the order they happened"
    for words in expected:
        assert words in html
    assert "open &rarr; supported" in html and "refuted &rarr; contested" in html
    assert "status open -> supported" in text and "status supported -> contested" in text
    assert "status contested -> refuted" in text and "status refuted -> contested" in text
    assert "Brier score 0.490" in text and "Brier score 0.490" in html  # stated 0.7, refuted: 0.7^2


def test_the_review_backlog_is_for_editors_only(
    tracker: Tracker, settings: Settings, smtp: SmtpServer
) -> None:
    _busy_week(tracker)
    subscribe(tracker, "reader@example.org")
    editor = subscribe(tracker, "editor@example.org")
    from tracker.domain.subscriber import ChangeSubscriber
    from tracker.repository.unit_of_work import subscriber_stream

    with tracker.unit_of_work(actor="system:test") as uow:
        uow.execute(subscriber_stream(editor), ChangeSubscriber(editor=True))
    send_week(tracker, settings, this_week())
    reader_text, reader_html = _parts(smtp.recorder.to("reader@example.org")[0])
    editor_text, editor_html = _parts(smtp.recorder.to("editor@example.org")[0])
    for body in (reader_text, reader_html):
        assert "review" not in body.lower() and "Made-up envoys" not in body
    assert "FOR EDITORS: 1 SUGGESTION(S) AWAITING REVIEW" in editor_text and "Made-up envoys" in editor_text
    assert "1 suggestion(s) awaiting review" in editor_html and "Made-up envoys" in editor_html


def test_every_tracker_link_points_at_the_public_pages_and_the_text_part_has_them_all(
    tracker: Tracker, settings: Settings, smtp: SmtpServer
) -> None:
    _busy_week(tracker)
    subscribe(tracker, "reader@example.org")
    send_week(tracker, settings, this_week())
    message = smtp.recorder.to("reader@example.org")[0]
    text, html = _parts(message)
    hrefs = re.findall(r'href="([^"]+)"', html)
    ours = [h for h in hrefs if h.startswith("https://tracker.example")]
    assert ours and all(h.startswith(("https://tracker.example/record/", "https://tracker.example/unsubscribe?"))
                        for h in ours), ours
    assert "https://tracker.example/record/propositions/armistice" in ours
    others = {h for h in hrefs if not h.startswith("https://tracker.example")}
    assert others == {"https://news.example/ev-sign", "https://news.example/ev-shell"}
    # the plain-text part carries every link and every fact the HTML does
    text_links = set(re.findall(r"https://\S+", text))
    assert {h.replace("&amp;", "&") for h in hrefs} <= text_links
    for fact in ("Made-up armistice signed in Atlantis", "Made-up shelling breaks the armistice",
                 "stated probability 0.70", "now contested", "Hello there,"):
        assert fact in text and fact in html
    assert "<" not in text.replace("<digest", ""), "no markup in the text part"
