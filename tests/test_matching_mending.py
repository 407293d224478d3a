"""Text as every matching stage reads it: markup left in a feed's text taken out, misspelt names mended, so an
item's embedding, TF-IDF and BM25 see "Kremlin" where it says "Kremiln" (before, only the entity lookup did)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tracker.matching.evaluation import propositions_from_seeds
from tracker.matching.exemplars import item_text
from tracker.matching.matcher import ItemInput, Matcher
from tracker.matching.settings import matcher_options
from tracker.seeding import load_seed_files

ROOT = Path(__file__).resolve().parents[1]
WHEN = datetime(2025, 7, 10, tzinfo=UTC)
CLEAN = ItemInput("m1", "Putin tells Zelensky's envoys the Kremlin will not pause strikes on power plants",
                  "Moscow said drone raids on substations would go on while talks about a truce continue.", WHEN)


@pytest.fixture(scope="module")
def product() -> Matcher:
    source, seeds = load_seed_files(ROOT / "seeds")
    return Matcher(propositions_from_seeds(seeds, source), **matcher_options())


def test_markup_and_character_references_are_taken_out() -> None:
    item = ItemInput("m2", "<b>Kyiv&#8217;s</b> grid &amp; the truce", '<p>Strikes <a href="https://x.example/a">resume</a></p>')
    assert item_text(item) == "Kyiv’s grid & the truce. Strikes resume"
    assert item_text(CLEAN) == f"{CLEAN.title}. {CLEAN.summary}"  # plain text is left as it is


def test_misspelt_names_are_mended_and_ordinary_words_are_not(product: Matcher) -> None:
    noisy = replace(CLEAN, title="Putin tells Zelenksy's envoys the Kremiln will not pause strikes on power plants")
    assert product.text_of(noisy) == product.text_of(CLEAN)
    # capitalised ordinary words a letter away from nothing stay as written; short words are never mended
    plain = ItemInput("m3", "Weather delays Kyvi grain convoy", "Farmers wait.", WHEN)
    assert product.text_of(plain) == item_text(plain)


def test_a_noisy_item_scores_as_its_clean_text_and_the_explanation_names_the_typo(product: Matcher) -> None:
    noisy = replace(CLEAN, title="<p>Putin tells Zelenksy&#39;s envoys the Kremiln will not pause strikes on power "
                                 "plants</p>",
                    summary="Moscwo said drone raids on substations would go on while talks about a truce continue.")
    clean, mended = product.match(CLEAN), product.match(noisy)
    assert clean, "the clean item is suggested somewhere"
    assert [(s.proposition_id, s.score, s.suggested_stance) for s in mended] == [
        (s.proposition_id, s.score, s.suggested_stance) for s in clean]
    entities = [e for s in mended for e in s.explanation.get("entities", [])]
    assert any(e["typo"] and e["as"] in {"moscwo", "kremiln"} for e in entities), entities


def test_prepared_items_are_embedded_from_the_mended_text(product: Matcher) -> None:
    noisy = replace(CLEAN, evidence_id="m4", title="Kremiln &amp; Moscwo: <b>strikes on power plants go on</b>")
    alone = [(s.proposition_id, s.score, s.suggested_stance) for s in product.match(noisy)]
    product.prepare([noisy])
    assert product.exemplars._prepared.keys() == {product.text_of(noisy)}
    assert [(s.proposition_id, s.score, s.suggested_stance) for s in product.match_many([noisy])[0]] == alone
