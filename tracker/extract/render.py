"""Terminal lines for `tracker extract` (pure: formatting only)."""

from __future__ import annotations

from tracker.extract.candidates import Candidate

WIDTH = 72


def shorten(sentence: str, width: int = WIDTH) -> str:
    flat = " ".join(sentence.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


def lines(text: str, candidates: list[Candidate], width: int = WIDTH) -> list[str]:
    """A header, then two lines per candidate: the facts, then the shortened sentence."""
    out = [f"{len(candidates)} candidate(s): n kind score | hedge (p) | actors | ¶paragraph [start:end) | resolve-by"]
    for c in candidates:
        hedge = f"{c.hedge.phrase} ({c.hedge.probability:.2f})" if c.hedge else "-"
        by = f"{c.resolve_by} ({c.resolve_by_basis})" if c.resolve_by else "-"
        out.append(f"{c.n:>3} {c.kind:<12} {c.score:.2f} | {hedge} | {', '.join(c.actors) or '-'} | "
                   f"¶{c.paragraph} [{c.start}:{c.end}) | {by}")
        out.append(f"    {shorten(text[c.start:c.end], width)}")
    return out
