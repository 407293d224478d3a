"""Is a sentence a prediction, a claim, a prescription, or none of these? (pure, no I/O)

Weighted cue phrases vote for each kind over the sentence's matching form. Modal cues inside reported
speech ("Putin demanded that NATO should ...", "a fear that X will ...") vote for a claim instead: the
sentence reports what someone wants or fears, it does not itself predict or prescribe. Questions, short
fragments and lines without a verb (bylines, headings) are none.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass

KINDS = ("prediction", "claim", "prescription")

PREDICTION: tuple[tuple[str, float], ...] = (
    (r"will(?! need to| have to| have \w+ed\b| have been)", 1.0), (r"would(?! need to| have to)", 0.5),
    (r"(?:is|are) going to", 0.9),
    (r"(?:is|are|seems?) (?:likely|unlikely|set|bound|expected|poised) to", 1.0), (r"almost certainly", 0.7),
    (r"very likely|probably|likely|unlikely", 0.6), (r"effectively nil", 1.2), (r"no prospect", 1.1),
    (r"(?:no|little|small|slim) chance", 1.0), (r"chances? of", 0.5), (r"ensures?", 0.6), (r"buy time", 0.5),
    (r"invitation to", 0.6), (r"could|might|(?<!\d )(?<!in )may(?! \d)", 0.4), (r"one day|sooner or later|soon", 0.3),
    (r"future", 0.3), (r"lead to|result in", 0.5), (r"risk(?:s)? of", 0.3),
)
CLAIM: tuple[tuple[str, float], ...] = (
    (r"(?:is|are|was|were|been) (?:all |really |mainly )?about", 0.9), (r"no evidence", 1.0), (r"no basis", 0.9),
    (r"demonstrates?|shows?|proves?|reveals?", 0.9), (r"according to", 0.8),
    (r"demands?|demanded|wants?|wanted|prefers?|seeks?|sought", 0.8),
    (r"believes?|belief|sees|thinks|view|fears?|intends?", 0.5), (r"counting on|relies on|rely on", 0.7),
    (r"(?:has|have|had) been", 0.5), (r"(?:is|are) not based|based on", 0.6),
    (r"the (?:first|second|third|main|central) (?:is|one)", 0.7), (r"there (?:is|are|was|were)", 0.4),
    (r"not (?:entirely )?clear", 0.5), (r"applied|pressure|mistakes?", 0.3), (r"amounts? to", 0.6),
    (r"will have (?:\w+ed|been)", 0.8), (r"(?:do|does|did) not|means?|meant", 0.4), (r"has|have|had", 0.3),
    (r"is|are|was|were", 0.3), (r"\w{3,}ed", 0.3),
)
PRESCRIPTION: tuple[tuple[str, float], ...] = (
    (r"should|must|ought to", 1.0), (r"(?:will |would )?needs? to", 1.0), (r"(?:has|have) to", 0.7),
    (r"it is (?:essential|vital|imperative|crucial|necessary|urgent)", 1.0), (r"no one should", 0.4),
    (r"the choice is", 0.5), (r"(?:is|are) the heart of", 0.4), (r"therefore", 0.2), (r"let us|let's", 0.6),
)
# A modal after one of these (and "that") is reported, not asserted by the author. As one regex:
#   \b(?:demand(?:s|ed)?|demanding|insist(?:s|ed)?|said|says|argue[sd]?|idea of .*? is|idea .*? is
#   |quid pro quo(?: is)?|(?:response|answer|reply|position) .*?(?:was|is)|fear|belief|claim(?:s|ed)?
#   |proposal|warn(?:s|ed)?|hope[sd]?|thinks?|believes?|wants?|view)\b[^.;:]*?\bthat\b
# which `reported_from` computes without the regex: searched, that is cubic on sentences an API caller
# writes ("idea of is is is ..."), as each `.*?` and `[^.;:]*?` is retried from every place.
REPORTING_WORDS = frozenset(
    """demand demands demanded demanding insist insists insisted said says argue argues argued fear belief claim
    claims claimed proposal warn warns warned hope hopes hoped think thinks believe believes want wants view""".split()
)
ANSWER_WORDS = frozenset({"response", "answer", "reply", "position"})  # "<word> ... was|is ... that"
_HEAD = re.compile(r"\b(?:" + "|".join(sorted(REPORTING_WORDS | ANSWER_WORDS | {"idea", "quid"})) + r")\b")
_THAT = re.compile(r"\bthat\b")
_CLAUSE_END = re.compile(r"[.;:]")
_NEWLINE = re.compile(r"\n")
_IS = re.compile(r" is\b")  # after "idea (of) ..."
_WAS_OR_IS = re.compile(r"(?=(was|is)\b)")  # after "response ...": any word ending so ("this" too)
VERBS = re.compile(r"\b(?:is|are|was|were|be|been|being|has|have|had|do|does|did|will|would|can|could|should|must|"
                   r"may|might|shall|\w+(?:ed|es))\b")
MIN_WORDS = 5


def _compiled(cues: tuple[tuple[str, float], ...]) -> list[tuple[re.Pattern[str], float]]:
    return [(re.compile(rf"(?<![\w'-])(?:{pattern})(?![\w'])"), weight) for pattern, weight in cues]


_CUES = {"prediction": _compiled(PREDICTION), "claim": _compiled(CLAIM), "prescription": _compiled(PRESCRIPTION)}
CUE_WORDS = frozenset(
    word for cues in (PREDICTION, CLAIM, PRESCRIPTION) for pattern, _ in cues
    for word in re.findall(r"[a-z]{5,}", pattern)
)


@dataclass(frozen=True)
class Verdict:
    kind: str  # prediction | claim | prescription | none
    score: float  # 0..1: strength of the winning cues and their margin over the others
    votes: dict[str, float]
    why: str = ""


class _Clauses:
    """The "that" which ends a reported head in one sentence, found by bisection in linear-time indexes."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.thats = [hit.start() for hit in _THAT.finditer(text)]
        self.ends = [hit.start() for hit in _CLAUSE_END.finditer(text)]
        self.newlines = [hit.start() for hit in _NEWLINE.finditer(text)]
        self._after: dict[str, tuple[list[int], list[int]]] = {}

    def that_after(self, position: int) -> int | None:
        """`[^.;:]*?\\bthat\\b` from `position`: the first "that" with no clause end before it."""
        i = bisect_left(self.thats, position)
        if i == len(self.thats):
            return None
        that = self.thats[i]
        j = bisect_left(self.ends, position)
        return that if j == len(self.ends) or self.ends[j] > that else None

    def that_after_word(self, pattern: re.Pattern[str], position: int) -> int | None:
        """`.*?<word>\\b[^.;:]*?\\bthat\\b` from `position`: the first place matching `pattern` (not past a
        newline, as `.` stops there) that has a "that" after it."""
        if pattern.pattern not in self._after:
            # Only the places whose "that" exists are kept, so the first one at or after `position` is the one.
            places, thats = [], []
            for hit in pattern.finditer(self.text):
                that = self.that_after(hit.start() + len(hit.group(hit.lastindex or 0)))
                if that is not None:
                    places.append(hit.start())
                    thats.append(that)
            self._after[pattern.pattern] = (places, thats)
        places, thats = self._after[pattern.pattern]
        i = bisect_left(places, position)
        if i == len(places):
            return None
        newline = bisect_left(self.newlines, position)
        if newline < len(self.newlines) and self.newlines[newline] < places[i]:
            return None
        return thats[i]

    def reported_end(self, word: str, start: int) -> int | None:
        """Where the reported clause headed by `word` at `start` ends (after its "that"), if it has one."""
        text = self.text
        that: int | None = None
        if word in REPORTING_WORDS:
            that = self.that_after(start + len(word))
        elif word == "idea":
            if text.startswith("idea of ", start):
                that = self.that_after_word(_IS, start + 8)
            if that is None and text.startswith("idea ", start):
                that = self.that_after_word(_IS, start + 5)
        elif word == "quid":
            for head in ("quid pro quo is", "quid pro quo"):
                end = start + len(head)
                if that is None and text.startswith(head, start) and not _is_word_char(text, end):
                    that = self.that_after(end)
        elif text.startswith(" ", start + len(word)):  # response, answer, reply, position
            that = self.that_after_word(_WAS_OR_IS, start + len(word) + 1)
        return None if that is None else that + len("that")


def _is_word_char(text: str, position: int) -> bool:
    return position < len(text) and (text[position].isalnum() or text[position] == "_")  # `\w`


def reported_from(matching: str) -> int:
    """Offset after which modals are reported speech (len(matching) when there is none): the end of the
    first match of the regex above, in linear time (up to a logarithm)."""
    if "that" not in matching:
        return len(matching)
    clauses = _Clauses(matching)
    for head in _HEAD.finditer(matching):
        end = clauses.reported_end(head.group(), head.start())
        if end is not None:
            return end
    return len(matching)


def classify(original: str, matching: str) -> Verdict:
    words = len(matching.split())
    stripped = original.rstrip(" \"'”’»)")
    if stripped.endswith("?") or stripped.endswith("¿"):
        return Verdict("none", 0.9, {}, "question")
    if words < MIN_WORDS:
        return Verdict("none", 0.8, {}, "too short")
    reported = reported_from(matching)
    votes = dict.fromkeys(KINDS, 0.0)
    for kind, cues in _CUES.items():
        for pattern, weight in cues:
            for hit in pattern.finditer(matching):
                # Reported modals count as evidence that someone demands or fears something: a claim.
                target = "claim" if kind != "claim" and hit.start() >= reported else kind
                votes[target] += weight * (0.6 if target != kind else 1.0)
    if not VERBS.search(matching) and max(votes.values()) < 0.5:
        return Verdict("none", 0.7, {}, "no verb")  # a byline or a heading
    best = max(KINDS, key=lambda k: votes[k])
    total = sum(votes.values())
    if votes[best] < 0.3:
        return Verdict("none", round(1 - votes[best], 2), votes, "no cue")
    # Strength saturates at 1.5 (two solid cues); the share of the winner gives the margin.
    score = min(1.0, votes[best] / 1.5) * (votes[best] / total)
    return Verdict(best, round(max(0.05, score), 2), {k: round(v, 2) for k, v in votes.items()}, "cues")
