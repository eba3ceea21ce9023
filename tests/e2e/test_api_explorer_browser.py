"""The API explorers render in Chromium with no internet: every script, style and icon of
/docs and /redoc comes from the service itself (clinical, admin through nginx, middleware)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Request

from tests.conftest import MedsysCluster
from tests.e2e.conftest import shot

SERVICES = {"clinical": "app1", "admin": "nginx", "middleware": "middleware"}


@pytest.mark.parametrize("service", SERVICES)
def test_swagger_ui_and_redoc_render_offline(
    browser: Browser, cluster: MedsysCluster, service: str
) -> None:
    base = cluster.settings.url(SERVICES[service])
    page = browser.new_page()
    asked: list[str] = []

    def remember(request: Request) -> None:
        asked.append(request.url)

    # Only what really went out: the page's policy stops ReDoc's one foreign image (its
    # maker's logo) before it leaves the browser.
    page.on("requestfinished", remember)
    page.goto(f"{base}/docs")
    # Swagger UI draws one block per operation once it has read /openapi.json.
    page.locator(".opblock").first.wait_for(timeout=20_000)
    assert page.locator(".opblock").count() >= 5
    assert "medsys" in page.locator(".title").first.inner_text()
    # Swagger UI and ReDoc are their makers' viewers, for developers: not held to the
    # accessibility checks our own pages pass.
    shot(page, f"api-docs-{service}", accessible=False)
    page.goto(f"{base}/redoc")
    page.locator("[role=menuitem], .menu-content li").first.wait_for(timeout=20_000)
    assert "medsys" in page.title()
    shot(page, f"api-redoc-{service}", accessible=False)
    page.close()
    own = urlsplit(base).netloc
    strangers = {urlsplit(url).netloc for url in asked if urlsplit(url).scheme in ("http", "https")}
    assert strangers == {own}, f"{service} loaded from elsewhere: {strangers - {own}}"
