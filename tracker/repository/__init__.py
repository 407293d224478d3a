"""The one way to load and append: the unit of work (every write, with its read models, in one transaction) and
the plain tables that are records rather than events (API users, Idempotency-Key replies)."""
