"""The reader pages against a real `tracker serve` (a subprocess on 127.0.0.1) over a seeded store, and a real
browser: Playwright driving Debian's chromium (Playwright's own browser download is never used).

Without playwright or chromium the browser tests skip and say how to enable them; under CI=true they fail.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.digest.smtpserver import free_port
from tests.web.seed import seed
from tracker.store.migrate import upgrade

CHROMIUM = os.environ.get("TRACKER_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "artifacts" / "web"


@dataclass
class Site:
    port: int
    base: str
    log: Path
    tmp: Path

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()


def _env(tmp: Path, url: str, base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update({"TRACKER_DATABASE_URL": url, "PYTHONPATH": str(ROOT), "TRACKER_FEEDS_FILE": str(tmp / "none.toml"),
                "TRACKER_AUDIT_KEY_FILE": str(tmp / "audit.pem"), "TRACKER_OUTBOX_DIR": str(tmp / "outbox"),
                "TRACKER_DIGEST_SECRET_FILE": str(tmp / "secret"), "TRACKER_SEEDS_DIR": str(tmp / "no-seeds"),
                "TRACKER_PUBLIC_BASE_URL": base})
    return env


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """`tracker serve --no-scheduler` over the seeded store (tests/web/seed.py)."""
    tmp = tmp_path_factory.mktemp("site")
    url = f"sqlite:///{tmp / 'tracker.db'}"
    upgrade(url)
    seed(url, tmp / "audit.pem")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp / "server.log"
    process = subprocess.Popen([sys.executable, "-m", "tracker.cli", "serve", "--no-scheduler", "--port", str(port)],
                               cwd=ROOT, env=_env(tmp, url, base), stdout=log.open("wb"), stderr=subprocess.STDOUT)
    found = Site(port, base, log, tmp)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                if found.get("/health")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        yield found
    finally:
        process.terminate()
        process.wait(timeout=20)


def follow(page: Any, target: Any) -> None:
    """Click a link or a form's button and wait until the page it leads to has loaded: Playwright's click
    (1.65) returns without waiting for the navigation it starts, so the old page could still be read."""
    with page.expect_navigation():
        target.click()


def _browser_unavailable(why: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true requires the browser tests to run: {why}", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless chromium (Debian's) driven by Playwright."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        _browser_unavailable("browser tests need playwright: .venv/bin/pip install -e '.[test]'")
    if not Path(CHROMIUM).exists():
        _browser_unavailable(f"browser tests need chromium at {CHROMIUM}: apt-get install -y chromium "
                             "(or point TRACKER_TEST_CHROMIUM at a chromium binary)")
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Error as error:
            _browser_unavailable(f"chromium at {CHROMIUM} did not start: {str(error).splitlines()[0]}")
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    try:
        yield context.new_page()
    finally:
        context.close()
