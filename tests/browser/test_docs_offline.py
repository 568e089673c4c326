"""/docs and /redoc of the service and of the simulator in headless Chromium with no internet: every
request that leaves this machine is refused (and recorded), and the pages still render their
operations; the service's /docs has the Authorize button for its two bearer tokens, and `/` leads
to /docs on both servers. Screenshots at 1280 and 360 px wide go to tests/browser/artifacts/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.browser.test_web_demo import ARTIFACTS, CHROMIUM_ARGS, find_chromium
from tests.e2e.processes import Process, silverpay

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

pytestmark = pytest.mark.e2e
LOCAL_HOSTS = ("127.0.0.1", "localhost")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Process]]:
    """`silverpay sim` and `silverpay serve` (demo mode, SQLite) as processes."""
    workdir = tmp_path_factory.mktemp("docs")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SILVERPAY_")} | {
        "SILVERPAY_DEMO_MODE": "1", "SILVERPAY_EMBEDDED_WORKER": "0",
        "SILVERPAY_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'silverpay.db'}"}  # fmt: skip
    with (
        silverpay("sim", ready_path="/sim/v1/clock", log_dir=str(workdir)) as sim,
        silverpay("serve", ready_path="/healthz", log_dir=str(workdir), env=env) as service,
    ):
        yield {"service": service, "sim": sim}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium not found (apt-get install -y chromium, or set SILVERPAY_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def offline(browser: Browser) -> Iterator[tuple[Page, list[str]]]:
    """A page whose requests to anywhere but this machine are refused; the list records them."""
    refused: list[str] = []

    def only_local(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.route("**/*", only_local)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(20_000)
    try:
        yield page, refused
        assert errors == [], f"errors in the page: {errors}"  # e.g. "SwaggerUIBundle is not defined"
    finally:
        context.close()


def shots(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for width, height in ((1280, 900), (360, 780)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(Path(ARTIFACTS) / f"{name}-{width}.png"))


@pytest.mark.parametrize("server", ["service", "sim"])
def test_swagger_ui_renders_offline(offline: tuple[Page, list[str]], servers: dict[str, Process], server: str) -> None:
    page, refused = offline
    base = servers[server].base_url
    page.goto(base + "/")  # the simulator's `/` leads to its docs, the service's to the console
    assert page.url == (base + "/docs" if server == "sim" else base + "/console/login?next=/console/orders")
    page.goto(base + "/docs")
    page.wait_for_selector(".opblock")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    expected = "/api/v1/orders" if server == "service" else "/sim/v1/login"
    assert any(expected in path.replace("\u200b", "") for path in paths), paths  # Swagger UI breaks paths with ZWSPs
    assert len(paths) > 10
    shots(page, f"docs-{server}")
    assert refused == []


def test_the_service_docs_can_be_authorized(offline: tuple[Page, list[str]], servers: dict[str, Process]) -> None:
    page, refused = offline
    page.goto(servers["service"].base_url + "/docs")
    page.click("button.authorize")
    dialog = page.locator(".dialog-ux")
    dialog.wait_for()
    text = dialog.inner_text()
    schemes = ("UserToken", "AdminToken", "OperatorSession", "ApiKey")  # shopper, machine, person, merchant backend
    assert all(name in text for name in schemes) and "Bearer" in text
    assert page.locator(".dialog-ux input[type=text], .dialog-ux input[type=password]").count() == len(schemes)
    assert refused == []


@pytest.mark.parametrize("server", ["service", "sim"])
def test_redoc_renders_offline(offline: tuple[Page, list[str]], servers: dict[str, Process], server: str) -> None:
    page, refused = offline
    page.goto(servers[server].base_url + "/redoc")
    page.wait_for_selector("[data-section-id^='operation/']", state="attached")
    assert page.locator("[data-section-id^='operation/']").count() > 10
    shots(page, f"redoc-{server}")
    assert refused == []
