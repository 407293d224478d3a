"""Static word embeddings (WordLlama l2_supercat, 256 dimensions) loaded from the installed wheel, never the network.

The `wordllama` wheel ships its weights (weights/l2_supercat_256.safetensors) and tokenizer
(tokenizers/l2_supercat_tokenizer_config.json) inside the package, but its own loader looks for the tokenizer under
another folder name and then falls back to a hub download. So we never call its loader (nor import the package,
whose inference module reconfigures the root logger): the two files are found next to the package and read with
`safetensors` and `tokenizers`. A text's vector is the mean of its token vectors, unit length: no torch, ~1 ms to
load, a few tens of microseconds per short text.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS = "weights/l2_supercat_256.safetensors"
TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"
MODEL_NAME = "wordllama l2_supercat_256"


def package_dir() -> Path | None:
    """The installed wordllama folder, found without importing the package."""
    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


class StaticEmbedder:
    """Mean-pooled static token embeddings; `embed` returns unit-length float32 rows."""

    name = MODEL_NAME

    def __init__(self, table: np.ndarray, tokenizer: Any) -> None:
        self.table = np.ascontiguousarray(table, dtype=np.float32)
        self.dim = int(self.table.shape[1])
        self.tokenizer = tokenizer
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()

    @classmethod
    def from_dir(cls, folder: Path) -> StaticEmbedder:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        table = load_file(str(folder / WEIGHTS))["embedding.weight"]
        return cls(table, Tokenizer.from_file(str(folder / TOKENIZER)))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        for row, encoding in enumerate(self.tokenizer.encode_batch(list(texts), add_special_tokens=False)):
            if encoding.ids:
                out[row] = self.table[encoding.ids].mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)

    def embed_one(self, text: str) -> np.ndarray:
        ids = self.tokenizer.encode(text, add_special_tokens=False).ids
        if not ids:
            return np.zeros(self.dim, dtype=np.float32)
        vector = self.table[ids].mean(axis=0)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector


_lock = threading.Lock()
_loaded: list[StaticEmbedder | None] = []


def load_embedder() -> StaticEmbedder | None:
    """The process-wide embedder (loaded once, lazily), or None when wordllama is not installed or unreadable."""
    with _lock:
        if not _loaded:
            folder = package_dir()
            embedder = None
            if folder is not None:
                try:
                    embedder = StaticEmbedder.from_dir(folder)
                except (OSError, KeyError, ValueError, ImportError, Exception):  # a broken install: lexical only
                    embedder = None
            _loaded.append(embedder)
        return _loaded[0]
