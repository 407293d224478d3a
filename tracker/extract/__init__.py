"""Intake of new articles: candidate propositions found in a text (pure functions, no I/O)."""

from tracker.extract.candidates import MAX_TEXT, Candidate, extract, span_sha256

__all__ = ["MAX_TEXT", "Candidate", "extract", "span_sha256"]
