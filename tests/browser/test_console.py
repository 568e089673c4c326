"""The operator console in headless Chromium, against `silverpay demo` run as a process: sign in,
find the demo's paid order by out_trade_no, read its timeline, refund part of it as finance, see a
viewer refused the same action, resolve a needs-review flag, sign out. Screenshots of the orders
list and the order page at 1280 px and at tablet width are saved to tests/browser/artifacts/."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from silverpay.sim.config import DEMO_ADMIN_TOKEN
from tests.browser.test_web_demo import ARTIFACTS, Contexts, browser, contexts
from tests.e2e.processes import free_port, stop
from tests.notify_bodies import notification
from tests.waiting import until

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["browser", "contexts"]  # the fixtures, shared with the browser demo's tests
pytestmark = pytest.mark.e2e

CONSOLE_LINE = re.compile(r"operator console\s+(http://\S+/console/)")
OWNER_LINE = re.compile(r"console sign-in\s+(\S+)\s+password\s+(\S+)")
PAID_LINE = re.compile(r"Order (\S+) is PAID: (\d+) fen")
PASSWORD = "console test password 1"
TABLET = (820, 1180)


@dataclass
class Demo:
    console: str
    base: str
    owner: tuple[str, str]
    out_trade_no: str
    amount_fen: int

    def operator(self, role: str) -> str:
        email = f"{role}@shop.example"
        body = {"email": email, "role": role, "password": PASSWORD}
        admin = {"Authorization": f"Bearer {DEMO_ADMIN_TOKEN}"}
        response = httpx.post(self.base + "/api/v1/admin/operators", json=body, headers=admin)
        assert response.status_code == 201, response.text
        return email


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    workdir = tmp_path_factory.mktemp("console-demo")
    log_path = workdir / "demo.log"
    env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    args = ["--host", "127.0.0.1", "--port", str(free_port()), "--sim-port", str(free_port())]
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "silverpay", "demo", *args], stdout=log,
                                stderr=subprocess.STDOUT, env=env, cwd=workdir)  # fmt: skip
    try:

        def log_text() -> str:
            return log_path.read_text(encoding="utf-8", errors="replace")

        until(lambda: OWNER_LINE.search(log_text()), 60, unless=lambda: proc.poll() is not None,
              detail=lambda: f"silverpay demo did not print the console's sign-in:\n{log_text()}")  # fmt: skip
        text = log_text()
        console, owner, paid = CONSOLE_LINE.search(text), OWNER_LINE.search(text), PAID_LINE.search(text)
        assert console and owner and paid, text
        yield Demo(console.group(1), console.group(1).removesuffix("/console/"), (owner.group(1), owner.group(2)),
                   paid.group(1), int(paid.group(2)))  # fmt: skip
    finally:
        stop(proc)


def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, demo: Demo, email: str, password: str = PASSWORD) -> None:
    page.goto(demo.console)
    page.wait_for_selector("input[name=email]")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.keyboard.press("Enter")  # keyboard only
    page.wait_for_selector("header.top nav")
    assert email in page.inner_text("header.top .who")


def sign_out(page: Page) -> None:
    page.locator("header.top .who button").click()
    page.wait_for_selector("input[name=password]")
    assert "/console/login" in page.url


def find_order(page: Page, out_trade_no: str, screenshot: str = "") -> None:
    page.click("header.top nav a[href='/console/orders']")
    page.fill("input[name=q]", out_trade_no)
    page.keyboard.press("Enter")  # htmx swaps the results and pushes the search into the address
    page.wait_for_url(f"**q={out_trade_no}**")
    row = page.locator(f"tr[data-out-trade-no='{out_trade_no}']")
    row.wait_for()
    assert page.locator("tbody tr[data-out-trade-no]").count() == 1
    if screenshot:
        shot(page, screenshot)
    row.locator("a").first.click()
    page.wait_for_selector(f"h1:has-text('{out_trade_no}')")


def flag_for_review(demo: Demo) -> None:
    """A genuine (demo-key-signed) notification of a second transaction under the number that paid:
    the service acknowledges it and flags the order for an operator."""
    body = notification(demo.out_trade_no, demo.amount_fen, transaction_id="4200000000202611290000000099")
    response = httpx.post(demo.base + "/api/v1/wechat/notify", content=body, headers={"Content-Type": "text/xml"})
    assert response.status_code == 200 and b"SUCCESS" in response.content


def test_finance_refunds_and_resolves_a_viewer_may_not(demo: Demo, contexts: Contexts) -> None:
    finance, viewer = demo.operator("finance"), demo.operator("viewer")
    flag_for_review(demo)

    page = contexts.page(1280, 900, timezone_id="Asia/Shanghai")
    sign_in(page, demo, finance)
    assert page.locator("html").get_attribute("lang") == "zh-CN"  # Chinese by default
    page.click("header.top .who a[lang=en]")  # the language switch
    page.wait_for_selector("html[lang=en]")
    find_order(page, demo.out_trade_no, screenshot="orders-search-1280")

    # The timeline: the payment's notification, verified, and the status change to PAID; times in
    # the browser's zone, named.
    timeline = page.inner_text(".timeline")
    assert " CST" in timeline and "Asia/Shanghai" in page.inner_text("main")
    assert "wechat.notify" in timeline and "verified" in timeline and "to=PAID" in timeline
    assert page.locator(".badge.s-review").count() == 1
    paid = f"¥{demo.amount_fen // 100:,}.{demo.amount_fen % 100:02d}"
    assert page.inner_text("#refundable") == paid

    # Keyboard: the first Tab reaches the skip link, which moves focus to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"

    # Refund part of it, as finance.
    page.fill("input[name=amount]", "1.00")
    page.fill("input[name=reason]", "damaged cup")
    page.click("form[action$='/refund'] button")
    page.wait_for_selector("#order table:has-text('damaged cup')")
    assert page.inner_text("#order .alert.ok") == "Done."
    rest = demo.amount_fen - 100
    assert page.inner_text("#refundable") == f"¥{rest // 100:,}.{rest % 100:02d}"
    assert "damaged cup" in page.inner_text("#order table")
    assert "operator.refund" in page.inner_text(".timeline")

    # Resolve the review flag with a note.
    page.fill("textarea[name=note]", "duplicate transaction refunded by WeChat")
    page.click("form[action$='/resolve'] button")
    page.wait_for_selector(".timeline:has-text('operator.review_resolve')")
    assert page.locator(".badge.s-review").count() == 0
    assert "operator.review_resolve" in page.inner_text(".timeline")
    shot(page, "order-1280")

    tablet = contexts.page(*TABLET, timezone_id="Europe/Berlin")
    sign_in(tablet, demo, finance)
    find_order(tablet, demo.out_trade_no)
    assert " CET" in tablet.inner_text(".timeline") and "订单详情" in tablet.inner_text("main")
    shot(tablet, "order-tablet")
    tablet.goto(demo.console + "orders")
    tablet.wait_for_selector("tbody tr[data-out-trade-no]")
    shot(tablet, "orders-tablet")
    page.goto(demo.console + "orders")
    page.wait_for_selector("tbody tr[data-out-trade-no]")
    shot(page, "orders-1280")
    sign_out(page)

    # A viewer sees the order but no refund form, and the server refuses the refund all the same.
    seen = contexts.page(1280, 900)
    sign_in(seen, demo, viewer)
    find_order(seen, demo.out_trade_no)
    assert seen.locator("form[action$='/refund']").count() == 0
    assert seen.locator("[data-refused]").count() >= 1
    status = seen.evaluate(
        """async () => {
            const csrf = document.querySelector('meta[name=csrf-token]').content;
            const body = new URLSearchParams({csrf_token: csrf, amount: '1.00', reason: 'try'});
            const url = location.pathname + '/refund';
            return (await fetch(url, {method: 'POST', body})).status;
        }"""
    )
    assert status == 403
    sign_out(seen)
