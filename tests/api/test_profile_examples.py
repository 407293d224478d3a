"""A match profile's written examples over HTTP: accepted with a stance, refused without a valid one, shown back."""

from __future__ import annotations

from tests.api.conftest import Api

BODY = {"id": "grid-strikes", "kind": "prediction", "statement": "Russia will keep striking Ukraine's power grid",
        "match_profile": {"terms": ["power grid"], "examples": [
            {"text": "Substation near Lviv burns after overnight drone raid", "stance": "supports"},
            {"text": "Grid operator reports a week without attacks on its plants", "stance": "contradicts"}]}}


def test_examples_are_kept_in_the_profile(api: Api) -> None:
    created = api.client.post("/propositions", json=BODY, headers=api.auth("editor"))
    assert created.status_code == 201, created.text
    detail = api.client.get("/propositions/grid-strikes", headers=api.auth("reader")).json()
    examples = detail["match_profile"]["examples"]
    assert [e["stance"] for e in examples] == ["supports", "contradicts"]
    assert examples[0]["text"].startswith("Substation near Lviv")


def test_an_example_without_a_valid_stance_or_text_is_refused_and_nothing_written(api: Api) -> None:
    head = api.head()
    for bad in ({"text": "a raid", "stance": "maybe"}, {"stance": "supports"}, {"text": "x" * 2001}):
        body = {**BODY, "match_profile": {"examples": [bad]}}
        refused = api.client.post("/propositions", json=body, headers=api.auth("editor"))
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["type"].endswith("/invalid-request")
    assert api.head() == head
