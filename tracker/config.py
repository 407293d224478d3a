"""Settings from the environment (prefix TRACKER_) or a `.env` file."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_DIGEST_SECRET_BYTES = 32  # HMAC-SHA256 key: shorter than the hash output is guessable sooner


class ConfigFileError(ValueError):
    """A configuration file (feeds.toml, ...) is unusable; the message says where and what, in one line.

    Defined here, at the bottom of the layers, so the command line can report it without importing the code
    that reads the file (the feeds reader brings httpx)."""


class Settings(BaseSettings):
    # Errors never echo the value given: it may be the digest secret or a database password.
    model_config = SettingsConfigDict(env_prefix="TRACKER_", env_file=".env", extra="ignore",
                                      hide_input_in_errors=True)

    database_url: str = "sqlite:///tracker.db"
    feeds_file: str = "feeds/feeds.toml"
    seeds_dir: str = "seeds"
    article_dir: str = "../shared/seed"
    smtp_url: str | None = None
    digest_cron: str = "0 7 * * mon"
    timezone: str = "UTC"
    allow_private_feeds: bool = False
    # Matching: scores are estimated probabilities that an editor confirms. The suggest threshold is the one
    # that reached `match_precision` on the labelled set (stored with the fitted model); `match_suggest`, when
    # set, overrides it. At or above `match_auto` (off when unset) the matcher confirms by itself; auto is
    # never below suggest.
    match_precision: float = Field(0.75, gt=0.0, le=1.0)
    match_suggest: float | None = Field(None, ge=0.0, le=1.0)
    match_auto: float | None = Field(None, ge=0.0, le=1.0)
    feed_max_errors: int = Field(5, ge=1)
    backfill_days: int = Field(120, ge=1)
    audit_key_file: str = "keys/audit-ed25519.pem"
    # Weekly digest: links in mails point under public_base_url; the unsubscribe-token secret is
    # digest_secret (at least 32 bytes) or, when unset, a random one created in digest_secret_file
    # (outside the database). Unsubscribe links work for digest_unsubscribe_weeks after the mail was sent.
    public_base_url: str = "http://127.0.0.1:8000"
    digest_from: str = "Policy Tracker <digest@policy-tracker.invalid>"
    digest_secret: str | None = None
    digest_secret_file: str = "keys/digest-secret"
    digest_unsubscribe_weeks: int = Field(26, ge=1, le=520)
    outbox_dir: str = "outbox"
    # How often each replica of `tracker serve` tries to become (or checks it still is) the scheduler's leader;
    # a dead leader is replaced within one interval.
    leader_interval_seconds: float = Field(5.0, gt=0, le=300)
    # The public, read-only reader pages under /record/ (no token needed); off: every /record/ URL is a 404.
    public_pages: bool = True
    # Who may read GET /metrics (Prometheus): "local" (default) answers clients on the loopback address without a
    # token and anyone else with an API token of any role; "token" always wants a token; "open" answers anyone who
    # reaches the port (a private network only); "off" answers 404.
    metrics: Literal["local", "token", "open", "off"] = "local"
    # Level of the tracker's own loggers (JSON lines on stderr); unset: INFO for `tracker serve`, WARNING for the
    # other commands, whose output is their own.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = None
    # `tracker serve`'s HTTP implementation: "httptools" (default: httptools' C parser on uvloop's event loop) or
    # "h11" (uvicorn's pure-Python parser on asyncio's loop, slower; kept as a fallback). Both enforce the same
    # header deadline and size limit (tracker/api/serving.py).
    http_impl: Literal["httptools", "h11"] = "httptools"

    @field_validator("digest_secret")
    @classmethod
    def _secret_long_enough(cls, value: str | None) -> str | None:
        if not value:
            return None  # TRACKER_DIGEST_SECRET= (empty) means unset: the secret file is used
        if len(value.encode()) < MIN_DIGEST_SECRET_BYTES:
            raise ValueError(f"TRACKER_DIGEST_SECRET must be at least {MIN_DIGEST_SECRET_BYTES} bytes "
                             f"(it has {len(value.encode())}); e.g. `python -c 'import secrets; "
                             "print(secrets.token_hex(32))'`, or leave it unset to use a generated one")
        return value

    @field_validator("metrics", "log_level", "http_impl", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        value = value.strip()
        return value.upper() if value.lower() in ("debug", "info", "warning", "error") else value.lower() or None

    @field_validator("digest_from")
    @classmethod
    def _from_usable(cls, value: str) -> str:
        from tracker.digest.deliver import from_address  # the mail code's own check, no second copy

        from_address(value)  # a ValueError here says what is wrong with it
        return value

    @model_validator(mode="after")
    def _auto_not_below_suggest(self) -> Settings:
        if self.match_auto is not None and self.match_suggest is not None and self.match_auto < self.match_suggest:
            raise ValueError("TRACKER_MATCH_AUTO must not be below TRACKER_MATCH_SUGGEST")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
