"""JSON logs: one object per line on stderr, through the standard logging module, configured once per process.

Every logger's records (the tracker's, uvicorn's, libraries') go through one handler on the root logger and come
out as {"time", "level", "logger", "message", ...}; fields given with `extra=` (request id, route, status, ...) are
keys of their own, and a traceback is the `exc` field (one line, newlines escaped). Tokens are redacted from every
message and traceback (`token=` in a query, the token segment of /unsubscribe/<token>): the link in a digest is the
credential, and logs are read by more people, and kept longer, than the database.

`tracker serve` hands `dict_config()` to uvicorn (tracker/api/serving.py), which applies it in every worker
process; every other command calls `configure_logging()` through tracker/bootstrap.py. Levels: the tracker's
loggers at INFO when serving and WARNING otherwise, unless `TRACKER_LOG_LEVEL` says; libraries at WARNING;
uvicorn's own messages at INFO. uvicorn's access log is off: the API writes one richer line per request
(logger `tracker.access`, tracker/api/middleware.py).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

# `token=` (and `access_token=` and the like) in a query, and the token segment of /unsubscribe/<token>.
# `?` is excluded from the name part too: otherwise a run of "?" makes every start rescan to the end (quadratic).
_QUERY_TOKEN = re.compile(r"(?i)([?&;][^=&;?]*token=)[^&;#\s]*")
_PATH_TOKEN = re.compile(r"(?i)(/unsubscribe/)[^/?#\s]+")
REDACTED = "[redacted]"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def redact(text: str) -> str:
    lowered = text.lower()
    if "token=" not in lowered and "/unsubscribe/" not in lowered:
        return text  # the common case, without running either expression
    return _PATH_TOKEN.sub(rf"\1{REDACTED}", _QUERY_TOKEN.sub(rf"\1{REDACTED}", text))


class RedactTokens(logging.Filter):
    """Removes tokens from a record's arguments before it is formatted (kept on uvicorn's access logger, for
    whoever turns that log on; the JSON formatter redacts every message anyway)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


# Attributes every LogRecord has; anything else on a record came from `extra=` and becomes a field.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "taskName", "color_message",  # color_message: uvicorn's coloured copy of the message
}


_encode = json.JSONEncoder(default=str).encode  # one encoder, not one per line (json.dumps(default=) builds one)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, milliseconds), level, logger, message, the `extra=` fields, exc."""

    _second: int = -1
    _prefix: str = ""

    def _time(self, created: float, msecs: float) -> str:
        second = int(created)
        if second != self._second:  # the date and time to the second, formatted once per second
            self._prefix, self._second = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)), second
        return f"{self._prefix}.{int(msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self._time(record.created, record.msecs),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key[0] != "_" and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = record.stack_info
        return _encode(entry)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """JSON lines to whatever sys.stderr is when a record is written (a test's capture, a CLI runner's stream),
    never to a stream that was replaced and closed since the handler was made."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


_UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def dict_config(level: str | None = None) -> dict[str, Any]:
    """The serving configuration for logging.config.dictConfig (and uvicorn's `log_config`, which re-applies it
    in each worker process): the tracker at `level` (default INFO), uvicorn's messages at INFO, its access log
    off (the API logs each request itself), every logger through the one JSON handler on the root."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact_tokens": {"()": RedactTokens}},
        "handlers": {"json": {"()": StderrHandler}},
        "loggers": {
            "tracker": {"level": level or "INFO"},
            **{name: {"level": "INFO", "handlers": [], "propagate": True} for name in _UVICORN},
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": True, "filters": ["redact_tokens"]},
        },
        "root": {"level": "WARNING", "handlers": ["json"]},
    }


def configure_logging(level: str | None = None) -> None:
    """JSON lines for this process: the one handler on the root logger, added once (a second call, or one after
    `tracker serve` applied dict_config(), changes nothing but an explicitly given level). Without a level the
    tracker's loggers stay at the root's WARNING: a command's output is its own, its warnings are JSON.
    Other handlers on the root (a test runner's capture) are left in place."""
    root = logging.getLogger()
    if level is not None:
        logging.getLogger("tracker").setLevel(level.upper())
    if any(isinstance(handler, StderrHandler) for handler in root.handlers):
        return
    root.addHandler(StderrHandler())
    for name in _UVICORN:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
