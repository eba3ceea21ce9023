"""What the browser journeys share: Debian's Chromium driven by Playwright (no browser is
downloaded), and screenshots kept under artifacts/screenshots/. Every page a journey
screenshots is also checked by axe-core (its WCAG A/AA and best-practice rules, the
engine bundled by axe-playwright-python, so nothing is fetched): staff and patients
depend on these pages with a keyboard or a screen reader."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
# The network is closed here: without these Chromium tries to reach Google at every start.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(executable).exists(), "Debian's chromium is missing: scripts/test installs it"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


_AXE = Axe()


def shot(page: Page, name: str, *, accessible: bool = True) -> None:
    """Keep a screenshot of the page, and fail when axe-core finds it inaccessible
    (``accessible=False`` only for pages drawn by a third party's viewer)."""
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    if accessible:
        assert_accessible(page, name)


def assert_accessible(page: Page, name: str) -> None:
    violations = _AXE.run(page).response["violations"]
    found = [
        f"{v['id']} ({v['impact']}): {v['help']}; e.g. {v['nodes'][0]['html'][:160]}"
        for v in violations
    ]
    assert not found, f"{name} ({page.url}) fails accessibility checks:\n" + "\n".join(found)
