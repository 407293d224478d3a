"""The Jinja2 environment of the reader pages (autoescape always on) and the words statuses are given."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined

from tracker.web.urls import public_path

# Status in words: a page never relies on colour alone (WCAG 1.4.1).
STATUS_LABELS = {
    "open": "Open", "supported": "Supported", "contradicted": "Contradicted", "contested": "Contested",
    "confirmed": "Confirmed", "refuted": "Refuted", "annulled": "Annulled", "withdrawn": "Withdrawn",
}
STATUS_MEANINGS = {
    "open": "No confirmed evidence supports or contradicts it yet.",
    "supported": "Confirmed evidence supports it; not yet resolved.",
    "contradicted": "Confirmed evidence contradicts it; not yet resolved.",
    "contested": "Confirmed evidence both supports and contradicts it; not yet resolved.",
    "confirmed": "Resolved: it proved true.",
    "refuted": "Resolved: it proved false.",
    "annulled": "Resolved as undecidable (for example, its condition never held).",
    "withdrawn": "Withdrawn by the editors; it is no longer tracked.",
}
# The meter's three steps and the step each status has reached.
STEPS = ("Recorded", "Evidence", "Resolved")
STATUS_STEP = {"open": 0, "supported": 1, "contradicted": 1, "contested": 1, "confirmed": 2, "refuted": 2,
               "annulled": 2, "withdrawn": 2}
CAUSE_WORDS = {
    "evidence": "confirmed evidence",
    "evidence-withdrawn": "evidence was withdrawn after review",
    "resolved": "the editors resolved it",
    "withdrawn": "the editors withdrew it",
    "reopened": "the editors reopened it",
    "other": "a change to the record",
}
STANCE_HEADINGS = {"supports": "Supports it", "contradicts": "Contradicts it", "context": "Context"}
KIND_LABELS = {"claim": "Claim", "prediction": "Prediction", "prescription": "Prescription"}


def long_date(text: str | None) -> str:
    """`2025-04-17` or a stored timestamp as `17 April 2025`."""
    if not text:
        return ""
    try:
        day = date.fromisoformat(text[:10])
    except ValueError:
        return text
    return f"{day.day} {day:%B %Y}"


def percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.0f}%"


def url(page: str, id: str | None = None, /, **query: Any) -> str:
    path = public_path(page, id)
    kept = {k: v for k, v in query.items() if v not in (None, "", False)}
    return f"{path}?{urlencode(kept)}" if kept else path


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=PackageLoader("tracker.web", "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(long_date=long_date, percent=percent,
                       status_label=lambda s: STATUS_LABELS.get(s, s.title()),
                       kind_label=lambda k: KIND_LABELS.get(k, k.title()))
    env.globals.update(url=url, STATUS_MEANINGS=STATUS_MEANINGS, STEPS=STEPS, STATUS_STEP=STATUS_STEP,
                       CAUSE_WORDS=CAUSE_WORDS, STANCE_HEADINGS=STANCE_HEADINGS)
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
