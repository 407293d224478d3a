"""Secrets kept outside the database: created once, readable only by their owner."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def read_or_create(path: str | Path, make: Callable[[], bytes]) -> bytes:
    """The bytes at `path`; when there are none yet, `make()` is written there first (file 0600, folder 0700).

    O_EXCL makes creation race-safe: of two processes creating the file at once, the loser reads the
    winner's bytes.
    """
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        content = make()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            return content
    return path.read_bytes()
