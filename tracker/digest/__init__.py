"""The weekly digest: compose (pure), render (Jinja2), deliver (SMTP or outbox), exactly once per week."""
