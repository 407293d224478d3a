"""Sending a week's digest to a real SMTP server on 127.0.0.1 and reading back what arrived."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.digest.conftest import World, confirm, make_settings, register, subscribe, this_week
from tests.digest.smtpserver import SmtpServer, free_port
from tracker.config import Settings
from tracker.digest import ledger
from tracker.digest.service import load_ledger, send_week
from tracker.domain import proposition
from tracker.repository.unit_of_work import Tracker
from tracker.store.envelope import utc_now


def _events(tracker: Tracker, week: str) -> list[tuple[str, dict]]:
    return [(e.event_type, e.payload) for e in tracker.store.read_stream(ledger.stream_id(week))]


def test_each_subscriber_gets_one_multipart_message_with_the_right_headers(
    tracker: Tracker, settings: Settings, smtp: SmtpServer, world: World
) -> None:
    report = send_week(tracker, settings, world.week)
    assert sorted(report.sent) == ["ann@example.org", "bob@example.org"]
    received = smtp.recorder.received
    assert sorted(r.rcpt_tos[0] for r in received) == ["ann@example.org", "bob@example.org"]
    assert all(len(r.rcpt_tos) == 1 and r.mail_from == "digest@policy-tracker.invalid" for r in received)

    (ann,) = smtp.recorder.to("ann@example.org")
    assert ann["Message-ID"] == f"<digest-{world.week.label}-{world.ann}@policy-tracker>"
    assert world.week.label in ann["Subject"]
    assert ann["To"].addresses[0].display_name == "Ann Example"
    assert ann["List-Unsubscribe"].startswith("<https://tracker.example/unsubscribe?token=")
    assert ann["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert ann.get_content_type() == "multipart/alternative"
    text = ann.get_body(("plain",)).get_content()
    html = ann.get_body(("html",)).get_content()
    for body in (text, html):
        assert "Shelling resumes along the made-up border" in body
        assert "Delegations arrive in Utopia" in body
        assert "https://tracker.example/record/propositions/truce-holds" in body
    assert "Brier score 0.490" in text  # stated 0.3, confirmed: (0.3 - 1)^2
    assert "open -> contradicted" in text and "FALLING DUE IN THE NEXT 30 DAYS (1)" in text
    assert "<img" not in html and "<link" not in html and "<script" not in html

    (bob,) = smtp.recorder.to("bob@example.org")
    bob_text = bob.get_body(("plain",)).get_content()
    assert "Shelling resumes" in bob_text  # Atlantis: followed
    assert "Delegations arrive" not in bob_text and "talks-happen" not in bob_text  # Utopia: not followed
    assert "only the propositions you follow" in bob_text

    types = [t for t, _ in _events(tracker, world.week.label)]
    assert types == ["DigestStarted", "DigestIntended", "DigestSent", "DigestIntended", "DigestSent"]
    sent = [p for t, p in _events(tracker, world.week.label) if t == "DigestSent"]
    assert {p["message_id"] for p in sent} == {ann["Message-ID"], bob["Message-ID"]}


def test_a_rerun_sends_nothing_to_those_already_served(
    tracker: Tracker, settings: Settings, smtp: SmtpServer, world: World
) -> None:
    send_week(tracker, settings, world.week)
    before = tracker.store.head()
    again = send_week(tracker, settings, world.week)
    assert again.sent == [] and again.already_done == 2
    assert len(smtp.recorder.received) == 2
    assert tracker.store.head() == before, "a rerun of a finished week records nothing"


def test_a_subscriber_added_after_the_first_send_gets_the_week_on_the_next_send_once(
    tracker: Tracker, settings: Settings, smtp: SmtpServer, world: World
) -> None:
    first = send_week(tracker, settings, world.week)
    assert sorted(first.sent) == ["ann@example.org", "bob@example.org"]
    late = subscribe(tracker, "late@example.org")
    second = send_week(tracker, settings, world.week)
    assert second.sent == ["late@example.org"] and second.already_done == 2 and second.recipients == 3
    assert "1 sent" in second.line() and "2 already done (of 3 subscriber(s))" in second.line()
    (message,) = smtp.recorder.to("late@example.org")
    assert message["Message-ID"] == ledger.message_id(world.week.label, late)
    assert "Shelling resumes along the made-up border" in message.get_body(("plain",)).get_content()
    before = tracker.store.head()
    third = send_week(tracker, settings, world.week)
    assert third.sent == [] and third.already_done == 3 and tracker.store.head() == before
    assert len(smtp.recorder.to("late@example.org")) == 1 and len(smtp.recorder.received) == 3


def test_someone_who_got_the_week_and_left_and_came_back_does_not_get_it_again(
    tracker: Tracker, settings: Settings, smtp: SmtpServer, world: World
) -> None:
    from tracker.domain.subscriber import RemoveSubscriber
    from tracker.repository.unit_of_work import subscriber_stream

    send_week(tracker, settings, world.week)
    with tracker.unit_of_work(actor="system:test") as uow:
        uow.execute(subscriber_stream(world.bob), RemoveSubscriber(via="editor"))
    gone = send_week(tracker, settings, world.week)
    assert gone.sent == [] and gone.skipped == [] and gone.already_done == 2, "served, then left: still done"
    subscribe(tracker, "bob@example.org", "Bob again")
    back = send_week(tracker, settings, world.week)
    assert back.sent == [] and back.already_done == 2
    assert len(smtp.recorder.to("bob@example.org")) == 1


def test_a_week_that_has_not_ended_is_refused_and_nothing_is_recorded(
    tracker: Tracker, settings: Settings, smtp: SmtpServer, world: World
) -> None:
    import pytest

    from tracker.digest.week import IsoWeek, WeekNotOver

    current = IsoWeek.containing(utc_now().date())
    future = IsoWeek.containing(utc_now().date() + timedelta(days=70))
    head = tracker.store.head()
    for week in (current, future):
        with pytest.raises(WeekNotOver, match=f"week {week.label} has not ended yet"):
            send_week(tracker, settings, week)
    assert tracker.store.head() == head and smtp.recorder.received == []
    assert load_ledger(tracker.store, current).started is False
    # once it has ended (here: sending as if a week later), it goes out
    later = utc_now() + timedelta(days=7)
    assert sorted(send_week(tracker, settings, current, now=lambda: later).sent) == [
        "ann@example.org", "bob@example.org"]


def test_550_for_one_address_does_not_stop_the_others_and_is_retried_with_back_off(
    tracker: Tracker, settings: Settings, smtp: SmtpServer, world: World
) -> None:
    subscribe(tracker, "carol@example.org")
    smtp.recorder.refuse["bob@example.org"] = "550 5.1.1 No such user here"
    first = send_week(tracker, settings, world.week)
    assert sorted(first.sent) == ["ann@example.org", "carol@example.org"]
    assert [e for e, _ in first.failed] == ["bob@example.org"] and "550" in first.failed[0][1]
    assert first.stopped is None
    failed = [p for t, p in _events(tracker, world.week.label) if t == "DigestFailed"]
    assert len(failed) == 1 and failed[0]["code"] == 550 and failed[0]["permanent"] and failed[0]["failures"] == 1
    assert smtp.recorder.to("bob@example.org") == []

    soon = send_week(tracker, settings, world.week)
    assert soon.sent == [] and [e for e, _ in soon.waiting] == ["bob@example.org"], "back-off not honoured"

    later = utc_now() + ledger.backoff(1) + timedelta(seconds=1)
    second = send_week(tracker, settings, world.week, now=lambda: later)
    assert [e for e, _ in second.failed] == ["bob@example.org"]
    entry = load_ledger(tracker.store, world.week).entry(world.bob)
    assert entry.failures == 2 and entry.attempts == 2
    assert entry.retry_after is not None and entry.retry_after > (later + ledger.backoff(1)).isoformat()[:19]

    del smtp.recorder.refuse["bob@example.org"]
    third = send_week(tracker, settings, world.week, ignore_backoff=True)
    assert third.sent == ["bob@example.org"]
    (bob,) = smtp.recorder.to("bob@example.org")
    assert bob["Message-ID"] == ledger.message_id(world.week.label, world.bob)
    assert len(smtp.recorder.received) == 3


def test_451_is_temporary_and_the_next_run_after_back_off_delivers(
    tracker: Tracker, settings: Settings, smtp: SmtpServer, world: World
) -> None:
    smtp.recorder.refuse["ann@example.org"] = "451 4.3.0 Try again later"
    first = send_week(tracker, settings, world.week)
    assert first.sent == ["bob@example.org"]
    failed = [p for t, p in _events(tracker, world.week.label) if t == "DigestFailed"]
    assert failed[0]["code"] == 451 and not failed[0]["permanent"]
    smtp.recorder.refuse.clear()
    later = utc_now() + timedelta(hours=1)
    assert send_week(tracker, settings, world.week, now=lambda: later).sent == ["ann@example.org"]
    assert len(smtp.recorder.to("ann@example.org")) == 1


def test_a_server_that_is_down_marks_nothing_sent_and_a_later_run_delivers(
    tracker: Tracker, settings: Settings, smtp: SmtpServer, world: World, tmp_path: Path
) -> None:
    down = make_settings(settings.database_url, f"smtp://127.0.0.1:{free_port()}?timeout=2", tmp_path)
    report = send_week(tracker, down, world.week)
    assert report.sent == [] and report.stopped and "cannot reach" in report.stopped
    assert len(report.failed) == 1, "the batch stops at the first unreachable attempt"
    events = _events(tracker, world.week.label)
    assert "DigestSent" not in [t for t, _ in events]
    assert [p["failures"] for t, p in events if t == "DigestFailed"] == [1]

    later = utc_now() + timedelta(hours=1)
    report = send_week(tracker, settings, world.week, now=lambda: later)
    assert sorted(report.sent) == ["ann@example.org", "bob@example.org"]
    assert len(smtp.recorder.received) == 2


def test_crlf_in_titles_and_names_cannot_add_headers_and_html_is_escaped(
    tracker: Tracker, settings: Settings, smtp: SmtpServer
) -> None:
    register(tracker, "evil", "A made-up claim about <b>markup</b> & \"quotes\"", kind="claim",
             actors=["X"], probability=None)
    confirm(tracker, "evil", "ev-evil", "supports",
            "Headline\r\nBcc: victim@example.org\r\nSubject: hijacked <script>alert(1)</script>")
    subscribe(tracker, "dave@example.org", 'Dave "The Reader", Esq.')
    report = send_week(tracker, settings, this_week())
    assert report.sent == ["dave@example.org"]
    (received,) = smtp.recorder.received
    assert received.rcpt_tos == ["dave@example.org"]
    message = received.message
    assert message["Bcc"] is None and len(message.get_all("Subject")) == 1
    assert "hijacked" not in message["Subject"]
    assert message["To"].addresses[0].display_name == 'Dave "The Reader", Esq.'
    assert message["To"].addresses[0].addr_spec == "dave@example.org"
    header_block = received.raw.split(b"\r\n\r\n", 1)[0]
    assert b"victim@example.org" not in header_block
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;markup&lt;/b&gt; &amp; &#34;quotes&#34;" in html
    text = message.get_body(("plain",)).get_content()
    assert "Headline Bcc: victim@example.org Subject: hijacked <script>" in text, "title kept on one line"


def test_quiet_week_sends_a_short_note_or_nothing_as_chosen(
    tracker: Tracker, settings: Settings, smtp: SmtpServer
) -> None:
    subscribe(tracker, "note@example.org", quiet_weeks="note")
    subscribe(tracker, "skip@example.org", quiet_weeks="skip")
    report = send_week(tracker, settings, this_week())
    assert report.sent == ["note@example.org"]
    assert report.skipped and report.skipped[0][0] == "skip@example.org"
    (note,) = smtp.recorder.to("note@example.org")
    assert "no changes" in note["Subject"]
    assert "Nothing new this week" in note.get_body(("plain",)).get_content()
    assert send_week(tracker, settings, this_week()).skipped == [], "the skip is recorded once"


def test_without_smtp_url_messages_go_to_the_outbox(
    tracker: Tracker, database_url: str, world: World, tmp_path: Path
) -> None:
    outbox = make_settings(database_url, None, tmp_path)
    report = send_week(tracker, outbox, world.week)
    assert len(report.sent) == 2
    files = sorted((tmp_path / "outbox" / world.week.label).glob("*.eml"))
    assert [f.stem for f in files] == sorted([world.ann, world.bob])
    from email import message_from_bytes, policy

    parsed = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert parsed["Message-ID"] == ledger.message_id(world.week.label, files[0].stem)
    assert not list((tmp_path / "outbox").rglob("*.tmp"))


def test_a_removed_subscriber_is_skipped_even_if_in_the_batch(
    tracker: Tracker, settings: Settings, smtp: SmtpServer, world: World
) -> None:
    from tracker.domain.subscriber import RemoveSubscriber
    from tracker.repository.unit_of_work import subscriber_stream

    smtp.recorder.refuse["bob@example.org"] = "451 later"
    send_week(tracker, settings, world.week)
    with tracker.unit_of_work(actor="system:test") as uow:
        uow.execute(subscriber_stream(world.bob), RemoveSubscriber(via="editor"))
    smtp.recorder.refuse.clear()
    report = send_week(tracker, settings, world.week, ignore_backoff=True)
    assert report.sent == [] and report.skipped == [("bob@example.org", "unsubscribed")]
    assert smtp.recorder.to("bob@example.org") == []


def test_resolution_of_a_claim_is_listed_without_a_brier_score(
    tracker: Tracker, settings: Settings, smtp: SmtpServer
) -> None:
    register(tracker, "a-claim", "A made-up claim that the bridge was rebuilt.", kind="claim")
    confirm(tracker, "a-claim", "ev-bridge", "supports", "Bridge reopens in made-up town")
    tracker.execute("a-claim", proposition.ResolveProposition("confirmed"), actor="user:editor")
    subscribe(tracker, "eve@example.org", kinds=["claim"])
    send_week(tracker, settings, this_week())
    text = smtp.recorder.to("eve@example.org")[0].get_body(("plain",)).get_content()
    assert "resolved: confirmed" in text and "not scored" in text and "Brier score" not in text


def test_read_models_still_match_a_replay_after_subscribers_and_digests(
    tracker: Tracker, settings: Settings, smtp: SmtpServer, world: World
) -> None:
    from tracker.domain.subscriber import RemoveSubscriber
    from tracker.projections import rebuild
    from tracker.repository.unit_of_work import subscriber_stream

    send_week(tracker, settings, world.week)
    with tracker.unit_of_work(actor="system:test") as uow:
        uow.execute(subscriber_stream(world.bob), RemoveSubscriber(via="editor"))
    # The test's evidence events were appended without read models (see conftest.ingest): leave them out.
    bare = {f"history ({e.position},)" for e in tracker.store.read_all() if e.stream_id.startswith("evidence-")}
    differences = [d for d in rebuild.check(tracker.store)
                   if not d.startswith("evidence ") and d.partition(":")[0] not in bare]
    assert differences == []
    assert any(e.stream_id == f"subscriber-{world.bob}" for e in tracker.store.read_all())
