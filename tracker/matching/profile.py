"""Compile a proposition's statement and match_profile into a MatchProfile the index and scorer use.

Entities are shared across profiles through an EntityTable: each alias (in any spelling or script) points to
one or more entity ids, so an item's entities are found once and then looked up per profile. Built-in
aliases cover the subject's key actors in English, Spanish, Ukrainian and Russian; profiles add their own.
Typos in names ("Puntin") are resolved by edit distance against single-word aliases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import OSA

from tracker.matching.text import Analysed, analyse, fold, phrase_key

# Canonical name -> aliases. Folded and stemmed like item text, so inflected forms ("Россию") meet too.
BASE_ENTITIES: dict[str, tuple[str, ...]] = {
    "Russia": ("Russia", "Russian", "Russians", "Kremlin", "Moscow", "Rusia", "Russie", "Россия", "Росія",
               "Кремль", "Москва", "российский", "російський", "Russian Federation"),
    "Ukraine": ("Ukraine", "Ukrainian", "Ukrainians", "Kyiv", "Kiev", "Ucrania", "ucraniano", "Україна",
                "Украина", "Київ", "Киев", "український", "украинский"),
    "Putin": ("Putin", "Vladimir Putin", "Poutine", "Путин", "Путін"),
    "Zelensky": ("Zelensky", "Zelenskyy", "Zelenskiy", "Zelenskyi", "Zelenski", "Zelenskij", "Зеленський",
                 "Зеленский"),
    "Trump": ("Trump", "Donald Trump", "Трамп"),
    "NATO": ("NATO", "OTAN", "НАТО", "North Atlantic Treaty Organization", "Atlantic alliance"),
    "Europe": ("Europe", "European", "Europeans", "EU", "European Union", "Europa", "europeo", "Unión Europea",
               "Європа", "Европа", "ЄС", "ЕС"),
    "United States": ("United States", "US", "U.S.", "USA", "Washington", "White House", "Estados Unidos",
                      "EEUU", "США", "American", "Americans"),
    "United Kingdom": ("United Kingdom", "UK", "U.K.", "Britain", "British", "Reino Unido",
                       "Велика Британія", "Великобритания"),
    "Canada": ("Canada", "Canadian", "Canadá", "Канада"),
}

# Words in other languages rewritten to the English stem profiles use, so "alto el fuego" counts as ceasefire.
BASE_SYNONYMS: dict[str, str] = {
    "alto el fuego": "ceasefire", "cese al fuego": "ceasefire", "tregua": "truce", "перемирие": "ceasefire",
    "перемиря": "ceasefire", "прекращение огня": "ceasefire", "припинення вогню": "ceasefire",
    "cease fire": "ceasefire", "energetica": "energy", "энергетика": "energy", "енергетика": "energy",
    "infraestructura": "infrastructure", "инфраструктура": "infrastructure", "інфраструктура": "infrastructure",
    "sanciones": "sanctions", "санкции": "sanctions", "санкції": "sanctions", "negociaciones": "negotiations",
    "переговоры": "negotiations", "переговори": "negotiations", "garantias": "guarantees",
    "гарантии": "guarantees", "гарантії": "guarantees", "mantenimiento de la paz": "peacekeeping",
    "миротворцы": "peacekeepers", "миротворці": "peacekeepers", "мобилизация": "mobilization",
    "мобілізація": "mobilization", "movilizacion": "mobilization", "rearme": "rearmament",
    "мораторий": "moratorium", "мораторій": "moratorium", "подстанция": "substation", "підстанція": "substation",
    "электростанция": "power plant", "електростанція": "power plant",
    "violar": "violate", "violo": "violated", "no respeto": "violated", "порушила": "violated",
    "порушив": "violated", "порушення": "violation", "нарушила": "violated", "нарушил": "violated",
    "нарушение": "violation",
}

_FUZZY_MIN_LEN = 5
COLLAPSED = 0.4


def _max_distance(word: str) -> int:
    return 1 if len(word) < 9 else 2


@dataclass(frozen=True)
class Term:
    key: str  # stems joined by spaces
    text: str
    weight: float
    tokens: frozenset[str]

    @property
    def is_phrase(self) -> bool:
        return len(self.tokens) > 1

    @cached_property
    def cue_parts(self) -> tuple[frozenset[str], frozenset[str]]:
        """As a stance cue: its words other than entities, and the entities it names."""
        words = frozenset(t for t in self.tokens if not t.startswith("@"))
        return words, self.tokens - words


@dataclass
class MatchProfile:
    proposition_id: str
    statement: str
    terms: list[Term]
    entities: dict[str, float]  # entity id -> weight
    entity_names: dict[str, str]  # entity id -> canonical display name
    exclusions: list[Term]
    supports: list[Term]
    contradicts: list[Term]
    document: list[str]  # tokens indexed by BM25 (statement + terms + topics + cues + entity ids)
    not_before: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    examples: list[Exemplar] = field(default_factory=list)  # written examples of evidence, with their stance
    # The broader propositions this one is an instance of (match_profile.broader, declared from the statements: a
    # breached energy pause is one of Moscow's undertakings broken); an item likely for this one pulls them in
    broader: tuple[str, ...] = ()


@dataclass(frozen=True)
class Exemplar:
    """An editor's decision on one item for a proposition: confirmed (with its stance) or rejected."""

    evidence_id: str
    title: str
    summary: str = ""
    stance: str | None = None  # supports | contradicts | context when confirmed; None when rejected

    @property
    def confirmed(self) -> bool:
        return self.stance is not None


@dataclass(frozen=True)
class PropositionInput:
    """What the matcher needs to know about one proposition."""

    proposition_id: str
    statement: str
    match_profile: Mapping[str, Any] | None = None
    topics: Sequence[str] = ()
    actors: Sequence[str] = ()
    not_before: date | datetime | None = None  # the source's publication: earlier evidence never counts
    exemplars: Sequence[Exemplar] = ()  # editors' decisions so far, oldest first (from the review events)

    @classmethod
    def from_seed(cls, item: Mapping[str, Any], not_before: date | datetime | str | None = None) -> PropositionInput:
        if isinstance(not_before, str):
            not_before = date.fromisoformat(not_before[:10])
        return cls(
            proposition_id=item["id"], statement=" ".join(str(item["statement"]).split()),
            match_profile=item.get("match_profile"), topics=tuple(item.get("topics") or ()),
            actors=tuple(item.get("actors") or ()), not_before=not_before,
        )


def entity_id(name: str) -> str:
    return "@" + "_".join(fold(name).split())


class EntityTable:
    """Alias key -> entity ids, shared by every profile of one matcher, with cached typo resolution."""

    def __init__(self) -> None:
        self.aliases: dict[str, set[str]] = {}
        self.names: dict[str, str] = {}
        self._single: dict[str, set[str]] = {}  # folded single-word alias -> entity ids (for fuzzy lookups)
        self._fuzzy_cache: dict[str, str | None] = {}
        for canonical, aliases in BASE_ENTITIES.items():
            self.add(canonical, aliases)

    def resolve_id(self, canonical: str, aliases: Iterable[str] = ()) -> str:
        """The id a profile's entity maps to: a built-in entity when its name is a known alias."""
        for name in (canonical, *aliases):
            ids = self.aliases.get(phrase_key(name))
            if ids and len(ids) == 1:
                return next(iter(ids))
        return entity_id(canonical)

    def add(self, canonical: str, aliases: Iterable[str]) -> str:
        """Register an entity's aliases under the id its name resolves to; returns that id."""
        aliases = list(aliases)
        ident = self.resolve_id(canonical, aliases)
        self.names.setdefault(ident, canonical)
        for alias in (canonical, *aliases):
            key = phrase_key(alias)
            if not key:
                continue
            self.aliases.setdefault(key, set()).add(ident)
            folded = fold(alias).replace(".", "")
            if " " not in folded and len(folded) >= _FUZZY_MIN_LEN:
                self._single.setdefault(folded, set()).add(ident)
        self._fuzzy_cache.clear()
        return ident

    def nearest(self, word: str) -> str | None:
        """The single-word alias (folded) within a small edit distance of the folded `word`, if any (cached)."""
        if word in self._fuzzy_cache:
            return self._fuzzy_cache[word]
        found = None
        if len(word) >= _FUZZY_MIN_LEN and self._single:
            best = process.extractOne(
                word, self._single.keys(), scorer=OSA.distance, score_cutoff=_max_distance(word)
            )
            found = None if best is None else best[0]
        self._fuzzy_cache[word] = found
        return found

    def fuzzy(self, word: str) -> frozenset[str]:
        """Entity ids whose single-word alias is within a small edit distance of `word`."""
        alias = self.nearest(word)
        return frozenset() if alias is None else frozenset(self._single[alias])


_SYNONYM_KEYS: dict[str, str] = {}


def concept_key(key: str) -> str:
    """The English key a foreign-language term stands for, so its translations count once, not once each."""
    if not _SYNONYM_KEYS:
        _SYNONYM_KEYS.update({phrase_key(k): phrase_key(v) for k, v in BASE_SYNONYMS.items()})
    return _SYNONYM_KEYS.get(key, key)


def _terms(items: Iterable[Any], default_weight: float) -> list[Term]:
    """Terms from strings or {term|text, weight} mappings; duplicates keep their highest weight."""
    best: dict[str, Term] = {}
    for item in items or ():
        if isinstance(item, Mapping):
            text = str(item.get("term") or item.get("text") or "")
            weight = float(item.get("weight", default_weight))
        else:
            text, weight = str(item), default_weight
        key = concept_key(phrase_key(text))
        if not key:
            continue
        if " " in text.strip() and " " not in key:
            weight *= COLLAPSED  # "over the heads" is only "head" once stopwords go: a much weaker signal
        if key not in best or best[key].weight < weight:
            best[key] = Term(key, text, weight, frozenset(key.split()))
    return list(best.values())


def _entity_aware(term: Term, entities: EntityTable) -> Term:
    """A cue's words that name an entity become the entity's id, so "Kremlin rejects" meets "Russia rejects"."""
    tokens = set()
    for token in term.tokens:
        ids = entities.aliases.get(token)
        tokens.add(next(iter(ids)) if ids and len(ids) == 1 else token)
    return Term(term.key, term.text, term.weight, frozenset(tokens))


def _as_datetime(value: date | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day)


def compile_profile(proposition: PropositionInput, entities: EntityTable) -> MatchProfile:
    profile = dict(proposition.match_profile or {})
    terms = _terms(profile.get("terms", ()), 1.0)
    known = {t.key for t in terms}
    topic_terms = [t for t in _terms((x.replace("-", " ") for x in proposition.topics), 0.5) if t.key not in known]
    terms += topic_terms
    entity_weights: dict[str, float] = {}
    raw_entities = profile.get("entities") or {}
    if isinstance(raw_entities, Mapping):
        pairs = [(str(name), [str(a) for a in (aliases or ())]) for name, aliases in raw_entities.items()]
    else:  # a plain list of names
        pairs = [(str(name), []) for name in raw_entities]
    for actor in proposition.actors:
        if not any(fold(actor) == fold(name) for name, _ in pairs):
            pairs.append((str(actor), []))
    for name, aliases in pairs:
        entity_weights[entities.add(name, aliases)] = 1.0
    cues = profile.get("stance_cues") or {}
    supports = [_entity_aware(t, entities) for t in _terms(cues.get("supports", ()), 1.0)]
    contradicts = [_entity_aware(t, entities) for t in _terms(cues.get("contradicts", ()), 1.0)]
    statement: Analysed = analyse(proposition.statement)
    document = list(statement.stems)
    for term in (*terms, *supports, *contradicts):
        document.extend(term.key.split())
    document.extend(entity_weights)
    return MatchProfile(
        proposition_id=proposition.proposition_id,
        statement=proposition.statement,
        terms=terms,
        entities=entity_weights,
        entity_names={ident: entities.names.get(ident, ident) for ident in entity_weights},
        exclusions=_terms(profile.get("exclusions", ()), 1.0),
        supports=supports,
        contradicts=contradicts,
        document=document,
        not_before=_as_datetime(proposition.not_before),
        examples=_examples(proposition.proposition_id, profile.get("examples") or ()),
        broader=tuple(dict.fromkeys(str(b) for b in profile.get("broader") or ()
                                    if str(b) != proposition.proposition_id)),
    )


def _examples(proposition_id: str, raw: Iterable[Any]) -> list[Exemplar]:
    """The profile's examples as exemplars with ids of their own (never an evidence id)."""
    found = []
    for n, example in enumerate(raw):
        if isinstance(example, Mapping) and str(example.get("text") or "").strip():
            stance = example.get("stance")
            found.append(Exemplar(f"example:{proposition_id}:{n}", " ".join(str(example["text"]).split()),
                                  stance=stance if stance in ("supports", "contradicts", "context") else "context"))
    return found

