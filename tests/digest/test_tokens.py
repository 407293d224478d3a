"""Unsubscribe tokens that expire, the v1 tokens in mails already sent, and the secret's length.

Tokens are checked with the real HMAC; links are followed over HTTP against a real store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from tests.conftest import ROOT
from tests.digest.conftest import SECRET, make_settings, subscribe
from tracker.api.app import create_app
from tracker.config import Settings
from tracker.digest.service import load_subscribers, unsubscribe_url
from tracker.digest.tokens import (
    DEFAULT_MAX_AGE_WEEKS,
    V1_ISSUED,
    BadToken,
    TokenExpired,
    load_or_create_secret,
    make_token,
    read_token,
)
from tracker.repository.unit_of_work import Tracker
from tracker.store import EventStore
from tracker.store.envelope import utc_now

KEY = SECRET.encode()
SID = "0123456789abcdef01234567"
MONDAY = date(2027, 3, 1)


def v1_token(secret: bytes, subscriber_id: str, subscription: int) -> str:
    """A token as the digest minted it before tokens carried a date (the v1 format, reproduced here
    because make_token no longer writes it)."""
    mac = hmac.new(secret, b"policy-tracker/unsubscribe/v1\x00" + f"{subscriber_id}.{subscription}".encode(),
                   hashlib.sha256).digest()
    return f"{subscriber_id}.{subscription}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


# ---- the token itself -----------------------------------------------------------------------------

def test_a_fresh_token_works_until_the_last_day_and_not_after() -> None:
    token = make_token(KEY, SID, 3, MONDAY)
    assert read_token(KEY, token, today=MONDAY).issued == MONDAY
    last = MONDAY + timedelta(weeks=DEFAULT_MAX_AGE_WEEKS)
    assert read_token(KEY, token, today=last).subscription == 3
    with pytest.raises(TokenExpired, match=f"{DEFAULT_MAX_AGE_WEEKS} weeks"):
        read_token(KEY, token, today=last + timedelta(days=1))


def test_the_number_of_weeks_is_the_callers() -> None:
    token = make_token(KEY, SID, 1, MONDAY)
    assert read_token(KEY, token, today=MONDAY + timedelta(weeks=4), max_age_weeks=4).subscriber_id == SID
    with pytest.raises(TokenExpired):
        read_token(KEY, token, today=MONDAY + timedelta(weeks=4, days=1), max_age_weeks=4)
    assert read_token(KEY, token, today=MONDAY + timedelta(weeks=104), max_age_weeks=104).issued == MONDAY


@pytest.mark.parametrize("issued", ["20270308", "20991231", "20270229", "00000000", "20271301"])
def test_a_tampered_issue_date_is_refused_as_not_valid(issued: str) -> None:
    sid, number, _, signature = make_token(KEY, SID, 1, MONDAY).split(".")
    tampered = f"{sid}.{number}.{issued}.{signature}"
    with pytest.raises(BadToken, match="not valid") as refused:
        read_token(KEY, tampered, today=MONDAY + timedelta(weeks=30))
    assert not isinstance(refused.value, TokenExpired), "a forgery is not reported as merely old"


def test_an_expired_token_is_still_checked_for_forgery_first() -> None:
    old = make_token(KEY, SID, 1, MONDAY)
    later = MONDAY + timedelta(weeks=DEFAULT_MAX_AGE_WEEKS + 1)
    with pytest.raises(TokenExpired):
        read_token(KEY, old, today=later)
    with pytest.raises(BadToken, match="not valid"):
        read_token(b"another secret, also 32 bytes long", old, today=later)


def test_a_token_dated_beyond_clock_skew_is_refused() -> None:
    ahead = make_token(KEY, SID, 1, MONDAY + timedelta(days=10))  # only a holder of the secret could mint it
    with pytest.raises(BadToken, match="not valid"):
        read_token(KEY, ahead, today=MONDAY)
    assert read_token(KEY, make_token(KEY, SID, 1, MONDAY + timedelta(days=1)), today=MONDAY).subscription == 1


def test_v1_tokens_in_mails_already_sent_work_until_the_cutoff_then_expire() -> None:
    token = v1_token(KEY, SID, 2)
    read = read_token(KEY, token, today=V1_ISSUED)
    assert (read.subscriber_id, read.subscription, read.issued) == (SID, 2, V1_ISSUED)
    cutoff = V1_ISSUED + timedelta(weeks=DEFAULT_MAX_AGE_WEEKS)
    assert read_token(KEY, token, today=cutoff).subscription == 2
    with pytest.raises(TokenExpired):
        read_token(KEY, token, today=cutoff + timedelta(days=1))
    sid, number, signature = token.split(".")
    with pytest.raises(BadToken, match="not valid"):  # a v1 signature does not sign a v2 token
        read_token(KEY, f"{sid}.{number}.{V1_ISSUED:%Y%m%d}.{signature}", today=V1_ISSUED)
    with pytest.raises(BadToken, match="not valid"):
        read_token(KEY, f"{sid}.3.{signature}", today=V1_ISSUED)


# ---- following the link ---------------------------------------------------------------------------

@pytest.fixture
def client(store: EventStore, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(store, settings)) as test_client:
        yield test_client


def test_an_expired_link_answers_410_and_unsubscribes_no_one(
    client: TestClient, tracker: Tracker, settings: Settings
) -> None:
    sid = subscribe(tracker, "ann@example.org")
    ann = load_subscribers(tracker.store)[sid]
    today = utc_now().date()
    old = unsubscribe_url(settings, ann, today - timedelta(weeks=settings.digest_unsubscribe_weeks, days=1))
    path = old.removeprefix("https://tracker.example")
    head = tracker.store.head()
    page = client.get(path, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 410 and page.headers["content-type"].startswith("text/html")
    assert "The unsubscribe link has expired" in page.text and "recent digest" in page.text
    one_click = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 410 and one_click.headers["content-type"] == "application/problem+json"
    assert one_click.json()["type"].endswith("expired-unsubscribe-token")
    assert tracker.store.head() == head and load_subscribers(tracker.store)[sid].active

    fresh = unsubscribe_url(settings, ann, today - timedelta(weeks=settings.digest_unsubscribe_weeks))
    confirm = client.get(fresh.removeprefix("https://tracker.example"), headers={"Accept": "text/html"})
    assert confirm.status_code == 200 and "<form" in confirm.text and load_subscribers(tracker.store)[sid].active
    done = client.post(fresh.removeprefix("https://tracker.example"), headers={"Accept": "text/html"})
    assert done.status_code == 200 and "ann@example.org will no longer receive" in done.text
    assert not load_subscribers(tracker.store)[sid].active


def test_a_v1_link_from_an_old_mail_still_unsubscribes(client: TestClient, tracker: Tracker) -> None:
    sid = subscribe(tracker, "bob@example.org")
    response = client.post("/unsubscribe", params={"token": v1_token(KEY, sid, 1)},
                           data={"List-Unsubscribe": "One-Click"})
    expected_ok = utc_now().date() <= V1_ISSUED + timedelta(weeks=DEFAULT_MAX_AGE_WEEKS)
    assert response.status_code == (200 if expected_ok else 410), response.text
    assert load_subscribers(tracker.store)[sid].active is not expected_ok


def test_a_broken_link_in_a_browser_gets_a_page(client: TestClient, tracker: Tracker) -> None:
    page = client.get("/unsubscribe", params={"token": "garbage"}, headers={"Accept": "text/html"})
    assert page.status_code == 400 and "<h1>The unsubscribe link is not valid</h1>" in page.text
    assert "malformed" in page.text


def test_the_expiry_is_a_setting(database_url: str, tmp_path: Path) -> None:
    assert make_settings(database_url, None, tmp_path).digest_unsubscribe_weeks == DEFAULT_MAX_AGE_WEEKS == 26
    assert make_settings(database_url, None, tmp_path, digest_unsubscribe_weeks=52).digest_unsubscribe_weeks == 52
    with pytest.raises(ValidationError, match="digest_unsubscribe_weeks"):
        make_settings(database_url, None, tmp_path, digest_unsubscribe_weeks=0)


# ---- the secret -----------------------------------------------------------------------------------

@pytest.mark.parametrize("secret", ["short", "x" * 31, "é" * 15])  # "é" is 2 bytes: 30 bytes in all
def test_a_short_secret_is_refused_at_settings_load(database_url: str, tmp_path: Path, secret: str) -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes") as refused:
        make_settings(database_url, None, tmp_path, digest_secret=secret)
    assert secret not in str(refused.value), "the error must not echo the secret"
    with pytest.raises(BadToken, match="at least 32 bytes"):
        load_or_create_secret(secret, tmp_path / "unused")


def test_a_32_byte_secret_and_the_generated_one_are_accepted(database_url: str, tmp_path: Path) -> None:
    assert make_settings(database_url, None, tmp_path, digest_secret="y" * 32).digest_secret == "y" * 32
    assert make_settings(database_url, None, tmp_path, digest_secret="").digest_secret is None  # empty = unset
    generated = load_or_create_secret(None, tmp_path / "keys" / "digest-secret")
    assert len(generated) >= 32 and len(generated) == 64 and int(generated, 16) >= 0


def test_a_short_secret_is_one_line_on_the_command_line(sqlite_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update({"PYTHONPATH": str(ROOT), "TRACKER_DATABASE_URL": sqlite_url, "TRACKER_DIGEST_SECRET": "too-short"})
    result = subprocess.run([sys.executable, "-m", "tracker.cli", "subscribers", "list"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1 and "TRACKER_DIGEST_SECRET must be at least 32 bytes" in lines[0], result.stderr
    assert "too-short" not in result.stderr
