"""The browser demo at /demo/ in headless Chromium, against `silverpay demo` run as a process.

The page runs clients/miniprogram/silverpay.js with its browser `wx` adapter; these tests click
through it as a shopper would and check what the page shows against the simulator's own record.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.e2e.processes import free_port, stop

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).parent / "artifacts"
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
DEMO_URL_LINE = re.compile(r"browser demo\s+(http://\S+/demo/)")


def find_chromium() -> str | None:
    """Debian's chromium (never a browser downloaded by `playwright install`)."""
    for candidate in (os.environ.get("SILVERPAY_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass
class Demo:
    url: str
    sim_base: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def sim(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, self.sim_base + path, json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def notifications(self, out_trade_no: str) -> list[dict[str, Any]]:
        return list(self.sim("GET", f"/sim/v1/notifications?out_trade_no={out_trade_no}"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    workdir = tmp_path_factory.mktemp("web-demo")
    log_path = workdir / "demo.log"
    # A wide console keeps rich from wrapping the line the URL is read from.
    env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    args = ["--host", "127.0.0.1", "--port", str(free_port()), "--sim-port", str(free_port())]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "silverpay", "demo", *args],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir,
        )  # fmt: skip
    try:
        # The demo may pick other ports if those are taken: read the URL it prints once it serves.
        deadline = time.monotonic() + 60
        while not (found := DEMO_URL_LINE.search(log_path.read_text(encoding="utf-8", errors="replace"))):
            if proc.poll() is not None:
                raise RuntimeError(f"silverpay demo exited early:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"silverpay demo did not print its URL:\n{log_path.read_text()}")
            time.sleep(0.1)
        url = found.group(1)
        config = httpx.get(url + "config.json", timeout=10).json()
        yield Demo(url=url, sim_base=config["simBase"], log_path=log_path)
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium not found (apt-get install -y chromium, or set SILVERPAY_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright Python package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        # launch() gives every run a fresh temporary user-data-dir.
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser, demo: Demo, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # own localStorage per test
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    # 4xx answers (a cancelled payment, CANCEL_TOO_EARLY) are part of the flows; uncaught ones are not.
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
        assert errors == [], f"errors in the page: {errors}"
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-last.png"))
        context.close()


def sign_in(page: Page, demo: Demo, user: str, nickname: str) -> None:
    page.goto(demo.url)
    page.fill("#nickname", nickname)
    page.fill("#wx-user", user)
    page.click("#login")
    page.wait_for_selector("[data-product-id] .buy")
    assert page.inner_text("#hello-name") == nickname


def order_first_product(page: Page) -> str:
    page.locator("[data-product-id] .buy").first.click()
    page.wait_for_selector("#pay")
    assert page.inner_text("#order-status") == "Not paid"
    return page.inner_text("#out-trade-no")


def open_payment_sheet(page: Page) -> None:
    page.click("#pay")
    page.wait_for_selector("#sheet-pay:enabled")
    assert page.inner_text("#sheet-amount").startswith("¥")


def notification_row(page: Page, out_trade_no: str, outcome: str) -> None:
    page.wait_for_selector(f'#notifications li[data-out-trade-no="{out_trade_no}"][data-outcome="{outcome}"]')


def test_happy_path(page: Page, demo: Demo) -> None:
    sign_in(page, demo, "browser-happy", "Lin")
    out_trade_no = order_first_product(page)
    open_payment_sheet(page)
    page.click("#sheet-pay")

    page.wait_for_selector('#result[data-status="PAID"]')
    assert page.inner_text("#result-headline") == "Payment successful"
    assert page.inner_text("#order-status") == "Paid"
    assert page.is_hidden("#sheet")
    notification_row(page, out_trade_no, "acknowledged")
    assert demo.sim("GET", f"/sim/v1/trades/{out_trade_no}")["trade_state"] == "SUCCESS"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "result.png"))

    page.click("#to-orders")
    page.wait_for_selector('[data-order-id][data-status="PAID"]')
    assert page.locator("[data-order-id]").count() == 1


def test_cancel_on_the_payment_sheet(page: Page, demo: Demo) -> None:
    sign_in(page, demo, "browser-cancel", "Wei")
    out_trade_no = order_first_product(page)
    open_payment_sheet(page)
    page.click("#sheet-cancel")

    page.wait_for_selector('#result[data-status="PAYING"][data-sheet="cancel"]')
    assert page.inner_text("#result-headline") == "Payment cancelled"
    assert page.is_visible("#pay-again")
    assert demo.sim("GET", f"/sim/v1/trades/{out_trade_no}")["trade_state"] == "NOTPAY"

    # WeChat cannot close a trade in its first 5 minutes: the page says so and the order stays open.
    page.click("#cancel-order")
    page.wait_for_selector("#notice")
    assert "5 minutes" in page.inner_text("#notice")
    assert page.inner_text("#result-headline") == "Payment cancelled"
    assert page.inner_text("#order-status") == "Awaiting payment"
    assert demo.notifications(out_trade_no) == []


def test_declined_payment(page: Page, demo: Demo) -> None:
    sign_in(page, demo, "browser-declined", "Hao")
    out_trade_no = order_first_product(page)
    open_payment_sheet(page)
    page.click("#sheet-fail")

    page.wait_for_selector('#result[data-status="PAYING"][data-sheet="fail"]')
    assert page.inner_text("#result-headline") == "Payment failed"
    page.click("#pay-again")
    page.wait_for_selector("#sheet-pay:enabled")
    page.click("#sheet-pay")
    page.wait_for_selector('#result[data-status="PAID"]')
    notification_row(page, out_trade_no, "acknowledged")


def test_payment_with_its_notification_dropped(page: Page, demo: Demo) -> None:
    sign_in(page, demo, "browser-dropped", "Mei")
    out_trade_no = order_first_product(page)
    demo.sim("PUT", "/sim/v1/faults", {"notify_drop_rate": 1.0})
    try:
        page.wait_for_selector("#drop-toggle:checked")  # the panel shows the fault
        open_payment_sheet(page)
        page.click("#sheet-pay")

        page.wait_for_selector('#result[data-status="PAID"]')
        notification_row(page, out_trade_no, "dropped")
        attempts = demo.notifications(out_trade_no)
        assert attempts, "the simulator recorded the dropped notification"
        assert not any(a["acknowledged"] for a in attempts)
        acknowledged = f'#notifications li[data-out-trade-no="{out_trade_no}"][data-outcome="acknowledged"]'
        assert page.locator(acknowledged).count() == 0
    finally:
        demo.sim("DELETE", "/sim/v1/faults")
    page.wait_for_selector("#drop-toggle:not(:checked)")
