"""Pure parts of the digest: ISO weeks in a time zone, the week's snapshot and one subscriber's digest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tracker.digest.compose import compose, everything, follows, snapshot
from tracker.digest.week import BadWeek, IsoWeek
from tracker.domain import proposition
from tracker.domain.subscriber import FILTER_KEYS, Subscriber
from tracker.store.envelope import RecordedEvent, iso

WEEK = IsoWeek.parse("2025-W13")  # Mon 24 Mar .. Sun 30 Mar 2025; Europe changes to summer time on the 30th
_positions = count(1)


def test_week_labels_and_bounds() -> None:
    assert (WEEK.monday.isoformat(), WEEK.sunday.isoformat()) == ("2025-03-24", "2025-03-30")
    assert WEEK.previous().label == "2025-W12" and IsoWeek.parse("2021-W01").previous().label == "2020-W53"
    berlin = ZoneInfo("Europe/Berlin")
    assert WEEK.bounds(berlin) == ("2025-03-23T23:00:00.000000Z", "2025-03-30T22:00:00.000000Z")
    assert WEEK.end(berlin) - WEEK.start(berlin) == timedelta(hours=167)  # one hour lost to summer time
    assert WEEK.bounds(ZoneInfo("UTC")) == ("2025-03-24T00:00:00.000000Z", "2025-03-31T00:00:00.000000Z")
    # Monday 00:30 in Berlin is still Sunday in UTC: the week that has just ended there is W13.
    assert IsoWeek.last_ended(datetime(2025, 3, 30, 22, 30, tzinfo=UTC), berlin).label == "2025-W13"
    assert IsoWeek.last_ended(datetime(2025, 3, 30, 22, 30, tzinfo=UTC), ZoneInfo("UTC")).label == "2025-W12"


@pytest.mark.parametrize("label", ["2025-13", "2025-W54", "2025-W00", "25-W13", "2025-W1", "2025-W13\nX", ""])
def test_bad_week_labels_are_refused(label: str) -> None:
    with pytest.raises(BadWeek):
        IsoWeek.parse(label)


def _event(stream: str, event_type: str, payload: dict[str, Any], at: datetime) -> RecordedEvent:
    return RecordedEvent(next(_positions), "id", stream, 1, event_type, 1, iso(at), iso(at), "system:test", None,
                         None, payload)


def _run(pid: str, command: Any, state: proposition.Proposition | None, at: datetime) -> tuple[
        list[RecordedEvent], proposition.Proposition]:
    """decide + evolve, the way the service does, with the events stamped at `at`."""
    events = proposition.decide(state, command)
    for e in events:
        state = proposition.evolve(state, e)
    assert state is not None
    return [_event(f"proposition-{pid}", e.type, e.data, at) for e in events], state


def _evidence(evidence_id: str, title: str, at: datetime, link: str | None = None) -> RecordedEvent:
    return _event(f"evidence-{evidence_id}", "EvidenceIngested", {
        "evidence_id": evidence_id, "title": title, "link": link or f"https://news.example/{evidence_id}",
        "published_at": iso(at),
    }, at)


def _subscriber(**filters: list[str]) -> Subscriber:
    return Subscriber("s1", "s@example.org", "S", {k: filters.get(k, []) for k in FILTER_KEYS}, "note")


def _log() -> list[RecordedEvent]:
    before = datetime(2025, 3, 20, 12, tzinfo=UTC)  # the week before
    during = datetime(2025, 3, 26, 12, tzinfo=UTC)
    after = datetime(2025, 4, 1, 12, tzinfo=UTC)  # the week after: must not show
    log: list[RecordedEvent] = []
    a, b, c = None, None, None
    e, a = _run("ceasefire", proposition.RegisterProposition(
        "ceasefire", "prediction", "A made-up ceasefire will hold", actors=("Atlantis",), topics=("truce",),
        stated_confidence={"probability": 0.2}, resolve_by="2025-04-15"), a, before)
    log += e
    e, b = _run("summit", proposition.RegisterProposition(
        "summit", "prediction", "A made-up summit happens", actors=("Utopia",), topics=("talks",),
        stated_confidence={"probability": 0.9}, resolve_by="2025-03-01"), b, before)
    log += e
    e, c = _run("old-claim", proposition.RegisterProposition(
        "old-claim", "claim", "A made-up claim about a bridge", actors=("Atlantis",)), c, before)
    log += e
    log.append(_evidence("ev1", "Clashes on the made-up border", before))
    e, a = _run("ceasefire", proposition.SuggestMatch("m1", "ev1", 0.8), a, before)
    log += e
    log.append(_evidence("ev2", "Talks collapse in made-up capital", during))
    e, a = _run("ceasefire", proposition.SuggestMatch("m2", "ev2", 0.7), a, during)
    log += e
    e, a = _run("ceasefire", proposition.ConfirmMatch("m2", "contradicts"), a, during)
    log += e
    log.append(_evidence("ev3", "Leaders meet in made-up Utopia", during))
    e, b = _run("summit", proposition.SuggestMatch("m3", "ev3", 0.9), b, during)
    log += e
    e, b = _run("summit", proposition.ConfirmMatch("m3", "supports", automatic=True), b, during)
    log += e
    e, b = _run("summit", proposition.ResolveProposition("confirmed", evidence_ids=("ev3",)), b, during)
    log += e
    e, c = _run("old-claim", proposition.WithdrawProposition("duplicate"), c, after)
    log += e
    return log


def test_snapshot_and_compose_report_the_week_only() -> None:
    snap = snapshot(WEEK, "UTC", _log())
    digest = compose(snap, everything())
    assert not digest.quiet and not digest.filtered
    changes = {(c.proposition.proposition_id, c.old, c.new): c for c in digest.status_changes}
    assert set(changes) == {("ceasefire", "open", "contradicted"), ("summit", "open", "supported"),
                            ("summit", "supported", "confirmed")}
    cause = changes[("ceasefire", "open", "contradicted")]
    assert cause.because == "MatchConfirmed"
    assert [(e.evidence_id, e.title, e.stance) for e in cause.evidence] == [
        ("ev2", "Talks collapse in made-up capital", "contradicts")]
    assert changes[("summit", "supported", "confirmed")].because == "PropositionResolved"
    assert dict(digest.new_evidence).keys() == {"supports", "contradicts"}
    assert [s for s, _ in digest.new_evidence] == ["supports", "contradicts"]
    (auto,) = dict(digest.new_evidence)["supports"]
    assert auto.evidence.automatic and auto.proposition.proposition_id == "summit"
    assert digest.review.count == 1 and digest.review.oldest_evidence is not None
    assert digest.review.oldest_evidence.evidence_id == "ev1"
    assert [d.proposition.proposition_id for d in digest.due_soon] == ["ceasefire"]
    assert digest.due_soon[0].days == 15  # from Monday 31 March to 15 April
    assert digest.overdue == ()  # summit is resolved, so not overdue
    (resolved,) = digest.resolved
    assert resolved.outcome == "confirmed" and resolved.brier == pytest.approx(0.01)
    # The withdrawal was recorded after the week: the claim is still open in this digest.
    assert snap.propositions["old-claim"].status == "open"


def test_overdue_is_counted_from_the_monday_after_the_week() -> None:
    log = _log()[:2]  # registrations only: ceasefire due 2025-04-15, summit due 2025-03-01
    late = snapshot(IsoWeek.parse("2025-W16"), "UTC", log)  # 14..20 April: digest on Monday 21st
    digest = compose(late, everything())
    assert [(d.proposition.proposition_id, d.days) for d in digest.overdue] == [("summit", -51), ("ceasefire", -6)]
    assert digest.due_soon == ()


def test_filters_by_actor_topic_kind_and_named_propositions() -> None:
    snap = snapshot(WEEK, "UTC", _log())
    only = lambda **f: {c.proposition.proposition_id for c in compose(snap, _subscriber(**f)).status_changes}  # noqa: E731
    assert only(actors=["atlantis"]) == {"ceasefire"}  # case-blind
    assert only(topics=["talks"]) == {"summit"}
    assert only(actors=["Atlantis"], topics=["talks"]) == set()  # every filter given must match
    assert only(kinds=["claim"]) == set()
    assert only(propositions=["summit"]) == {"summit"}
    assert only(actors=["Utopia"], propositions=["ceasefire"]) == {"summit", "ceasefire"}
    filtered = compose(snap, _subscriber(actors=["Atlantis"]))
    assert filtered.filtered and filtered.resolved == () and filtered.review.count == 1


def test_a_week_with_nothing_recorded_is_quiet() -> None:
    digest = compose(snapshot(IsoWeek.parse("2025-W20"), "UTC", _log()), everything())
    assert digest.quiet and digest.status_changes == () and digest.resolved == ()
    assert digest.review.count == 1  # standing items remain


def test_a_confirmation_retracted_in_the_same_week_is_not_new_evidence() -> None:
    log = _log()
    at = datetime(2025, 3, 27, tzinfo=UTC)
    state = None
    for event in log:
        if event.stream_id == "proposition-ceasefire":
            state = proposition.evolve(state, proposition.Event(event.event_type, event.payload))
    e, _ = _run("ceasefire", proposition.RetractMatch("m2", "wrong story"), state, at)
    digest = compose(snapshot(WEEK, "UTC", log + e), everything())
    assert "contradicts" not in dict(digest.new_evidence)
    assert ("contradicted", "open") in {(c.old, c.new) for c in digest.status_changes}


def test_follows_with_no_filters_means_everything() -> None:
    state = proposition.Proposition("p", "claim", "s")
    assert follows({k: [] for k in FILTER_KEYS}, state)
    assert not follows({"propositions": ["other"]}, state)
