"""Public, read-only pages for readers under /record/ (server-rendered HTML, Atom feeds).

Kept empty on purpose: `tracker.web.urls` is imported by the digest (a lower layer) to build links, and
importing it must not pull in FastAPI routes or templates.
"""
