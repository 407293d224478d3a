"""Load the article's source record and propositions from `seeds/` (idempotent).

Locators point into the article by character offsets and the SHA-256 of the span; the text itself is
never stored, so the seeds can be checked against the article without copying it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tracker.domain.proposition import KINDS, AmendProposition, RegisterProposition
from tracker.domain.source import RegisterSource
from tracker.repository.unit_of_work import Tracker, proposition_stream, source_stream
from tracker.store.envelope import parse_iso

ACTOR = "system:seed"


class SeedError(ValueError):
    """The seed files are missing or inconsistent."""


@dataclass(frozen=True)
class SeedResult:
    sources_added: int
    propositions_added: int
    propositions_present: int
    added_ids: tuple[str, ...] = ()
    given_examples: tuple[str, ...] = ()  # present propositions whose profile just received the seed's examples
    given_broader: tuple[str, ...] = ()  # and those that just received the seed's declared broader propositions


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_article(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def span_hash(article: str, start: int, end: int) -> str:
    return sha256_text(article[start:end])


def paragraph_of(article: str, offset: int) -> int:
    """1-based paragraph (line) number holding a character offset."""
    return article.count("\n", 0, offset) + 1


def load_seed_files(seeds_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    source_file = seeds_dir / "source.yaml"
    propositions_file = seeds_dir / "propositions.yaml"
    for path in (source_file, propositions_file):
        if not path.is_file():
            raise SeedError(f"seed file not found: {path}")
    try:
        source = yaml.safe_load(source_file.read_text(encoding="utf-8"))
        propositions = yaml.safe_load(propositions_file.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise SeedError(f"seed files are not valid YAML: {error}") from None
    if not isinstance(source, dict) or not isinstance(propositions, list):
        raise SeedError("seeds/source.yaml must be a mapping and seeds/propositions.yaml a list")
    validate(source, propositions)
    attach_examples(propositions, seeds_dir / "examples.yaml")
    return source, propositions


EXAMPLE_STANCES = ("supports", "contradicts", "context")


def attach_examples(propositions: list[dict[str, Any]], path: Path) -> None:
    """Put the written examples of evidence (seeds/examples.yaml, optional) into each proposition's match profile,
    where the matcher reads them and where an editor can amend them like the profile's terms."""
    if not path.is_file():
        return
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise SeedError(f"{path.name} is not valid YAML: {error}") from None
    examples = data.get("examples") if isinstance(data, dict) else None
    if not isinstance(examples, dict):
        raise SeedError(f"{path.name} must be a mapping with 'examples': proposition id -> list of examples")
    known = {item["id"] for item in propositions}
    for key, entries in examples.items():
        if key not in known:
            raise SeedError(f"{path.name}: no proposition {key!r}")
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("text"), str) and e.get("stance") in EXAMPLE_STANCES
            for e in entries
        ):
            raise SeedError(f"{path.name}: {key}: each example needs text and a stance ({', '.join(EXAMPLE_STANCES)})")
    for item in propositions:
        if item["id"] in examples and not (item.get("match_profile") or {}).get("examples"):
            item["match_profile"] = {**(item.get("match_profile") or {}), "examples": [
                {"text": " ".join(e["text"].split()), "stance": e["stance"]} for e in examples[item["id"]]]}


SOURCE_KEYS = ("source_id", "outlet", "author", "title", "published_at", "text_sha256")
ITEM_KEYS = ("id", "kind", "statement")


def validate(source: dict[str, Any], items: list[Any]) -> None:
    """Refuse seed files that would fail half-way through (missing keys, duplicate ids, unknown kinds)."""
    missing = [key for key in SOURCE_KEYS if not source.get(key)]
    if missing:
        raise SeedError(f"seeds/source.yaml lacks {', '.join(missing)}")
    seen: set[str] = set()
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise SeedError(f"proposition #{number} is not a mapping")
        absent = [key for key in ITEM_KEYS if not item.get(key)]
        if absent:
            raise SeedError(f"proposition #{number} lacks {', '.join(absent)}")
        if item["id"] in seen:
            raise SeedError(f"proposition id {item['id']!r} appears twice")
        seen.add(item["id"])
        if item["kind"] not in KINDS:
            raise SeedError(f"proposition {item['id']}: kind must be one of {', '.join(KINDS)}")
    for item in items:
        broader = (item.get("match_profile") or {}).get("broader")
        if broader is None:
            continue
        if not isinstance(broader, list) or not all(isinstance(b, str) and b in seen for b in broader) \
                or item["id"] in broader:
            raise SeedError(f"proposition {item['id']}: match_profile.broader must list ids of other propositions")


def article_problems(article: str, source: dict[str, Any], items: list[dict[str, Any]]) -> list[str]:
    """Where the seeds disagree with the article text: its hash, or a locator's span, hash or paragraph."""
    problems = []
    if sha256_text(article) != source.get("text_sha256"):
        problems.append("source text_sha256 does not match the article")
    for item in items:
        locator = item.get("locator") or {}
        start, end = locator.get("start"), locator.get("end")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(article)):
            problems.append(f"{item['id']}: locator span {start}..{end} is not inside the article")
            continue
        if span_hash(article, start, end) != locator.get("sha256"):
            problems.append(f"{item['id']}: locator sha256 does not match article[{start}:{end}]")
        if locator.get("paragraph") != paragraph_of(article, start):
            problems.append(f"{item['id']}: locator paragraph is not the one holding offset {start}")
        if "\n" in article[start:end]:
            problems.append(f"{item['id']}: locator span crosses a paragraph break")
    return problems


def register_command(source_id: str, item: dict[str, Any]) -> RegisterProposition:
    return RegisterProposition(
        proposition_id=item["id"],
        kind=item["kind"],
        statement=" ".join(item["statement"].split()),
        source_id=source_id,
        actors=tuple(item.get("actors", ())),
        topics=tuple(item.get("topics", ())),
        locator=item.get("locator"),
        stated_confidence=item.get("stated_confidence"),
        condition=item.get("condition"),
        resolve_by=str(item["resolve_by"]) if item.get("resolve_by") else None,
        resolution_criteria=item.get("resolution_criteria"),
        match_profile=item.get("match_profile"),
    )


def seed(
    tracker: Tracker,
    seeds_dir: Path,
    *,
    article_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> SeedResult:
    """Register the source and every proposition not yet in the store; a rerun appends nothing.

    With `article_dir` holding the article, seeds whose hashes or locators disagree with it are refused
    before anything is written.
    """
    source, items = load_seed_files(seeds_dir)
    article_file = article_dir / source.get("article_file", "") if article_dir else None
    if article_file is not None and article_file.is_file():
        problems = article_problems(read_article(article_file), source, items)
        if problems:
            raise SeedError("seeds disagree with the article: " + "; ".join(problems))
    source_id = source["source_id"]
    published = str(source["published_at"])
    sources_added = 0
    if tracker.load(source_stream(source_id)).version == 0:
        tracker.register_source(
            RegisterSource(
                source_id=source_id, outlet=source["outlet"], author=source["author"],
                title=source["title"], published_at=published, url=source.get("url"),
                text_sha256=source["text_sha256"],
            ),
            actor=ACTOR, correlation_id=f"seed:{source_id}",
        )
        sources_added = 1
    present = 0
    added_ids: list[str] = []
    occurred = parse_iso(published if "T" in published else f"{published}T00:00:00Z")
    given: dict[str, list[str]] = {"examples": [], "broader": []}
    for item in items:
        loaded = tracker.load(proposition_stream(item["id"]))
        if loaded.version:
            present += 1
            for key in _give_profile(tracker, loaded, item):
                given[key].append(item["id"])
            continue
        tracker.execute(
            item["id"], register_command(source_id, item), actor=ACTOR, expected_version=0,
            occurred_at=occurred, correlation_id=f"seed:{source_id}",
        )
        added_ids.append(item["id"])
        if progress:
            progress(item["id"])
    return SeedResult(sources_added, len(added_ids), present, tuple(added_ids), tuple(given["examples"]),
                      tuple(given["broader"]))


GIVEN_LATER = {  # profile keys the seeds gained after stores were first seeded, and why an amendment adds them
    "examples": "written examples of evidence from seeds/examples.yaml",
    "broader": "broader propositions declared in seeds/propositions.yaml",
}


def _give_profile(tracker: Tracker, loaded: Any, item: dict[str, Any]) -> list[str]:
    """A proposition seeded before profiles had written examples (or declared broader propositions) gets the
    seed's, once, by one amendment (an open proposition whose stored profile lacks the key; an editor's own are
    never replaced). Returns the keys given."""
    state = loaded.state
    profile = item.get("match_profile") or {}
    stored = dict(getattr(state, "match_profile", None) or {})
    if getattr(state, "resolution", None) is not None:
        return []
    keys = [key for key in GIVEN_LATER if profile.get(key) and key not in stored]
    if not keys:
        return []
    tracker.execute(
        item["id"], AmendProposition(changes={"match_profile": {**stored, **{k: profile[k] for k in keys}}},
                                     reason="; ".join(GIVEN_LATER[k] for k in keys)),
        actor=ACTOR, expected_version=loaded.version,
        correlation_id=f"seed:{'+'.join(keys)}:{item['id']}",
    )
    return keys
