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
    from playwright.sync_api import Browser, BrowserContext, Page

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


@dataclass
class Contexts:
    """Browser contexts (each its own localStorage) whose pages are checked for uncaught errors."""

    browser: Browser
    opened: list[tuple[BrowserContext, list[str]]]

    def new(self, width: int = 1280, height: int = 900, locale: str = "en-GB", **options: Any) -> BrowserContext:
        context = self.browser.new_context(viewport={"width": width, "height": height}, locale=locale, **options)
        errors: list[str] = []
        context.on("page", lambda page: page.on("pageerror", lambda error: errors.append(str(error))))
        self.opened.append((context, errors))
        return context

    def page(self, width: int = 1280, height: int = 900, locale: str = "en-GB", **options: Any) -> Page:
        page = self.new(width, height, locale, **options).new_page()
        page.set_default_timeout(15_000)
        return page


@pytest.fixture
def contexts(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Contexts]:
    made = Contexts(browser, [])
    try:
        yield made
        # 4xx answers (a cancelled payment, a stale order) are part of the flows; uncaught errors are not.
        for _, errors in made.opened:
            assert errors == [], f"errors in the page: {errors}"
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        for i, (context, _) in enumerate(made.opened):
            for j, page in enumerate(context.pages):
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{i}{j}-last.png"))
            context.close()


@pytest.fixture
def page(contexts: Contexts) -> Page:
    return contexts.page()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


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


def calls_log(page: Page) -> str:
    return page.inner_text("#calls")


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
    shot(page, "result")

    page.click("#to-orders")
    page.wait_for_selector('[data-order-id][data-status="PAID"]')
    assert page.locator("[data-order-id]").count() == 1


def test_virtual_goods_ship_and_the_buyer_confirms_receipt(page: Page, demo: Demo) -> None:
    sign_in(page, demo, "browser-receipt", "Mei")
    page.locator("[data-product-id] .buy").last.click()  # the membership: virtual goods, shipped on payment
    page.wait_for_selector("#pay")
    open_payment_sheet(page)
    page.click("#sheet-pay")
    page.wait_for_selector('#result[data-status="PAID"]')
    for _ in range(100):  # the worker ships it within a pass or two; the page shows what the server says
        if page.locator('#shipment[data-state="SHIPPED"]').count():
            break
        page.reload()
        page.wait_for_selector("#shipment[data-state]:not([data-state=''])")
    assert page.inner_text("#shipment-state") == "Shipped"
    page.click("#confirm-receipt")
    page.wait_for_selector('#shipment[data-state="SETTLED"]')
    assert page.inner_text("#shipment-state") == "Complete: funds settled"
    assert "null" not in page.inner_text("#shipment")
    assert "wx.openBusinessView weappOrderConfirm" in calls_log(page)
    shot(page, "receipt-confirmed")


def test_cancel_on_the_payment_sheet(page: Page, demo: Demo) -> None:
    sign_in(page, demo, "browser-cancel", "Wei")
    out_trade_no = order_first_product(page)
    open_payment_sheet(page)
    page.click("#sheet-cancel")

    page.wait_for_selector('#result[data-status="PAYING"][data-sheet="cancel"]')
    assert page.inner_text("#result-headline") == "Payment cancelled"
    assert page.is_visible("#pay-again")
    assert demo.sim("GET", f"/sim/v1/trades/{out_trade_no}")["trade_state"] == "NOTPAY"

    # Cancelled at once, in WeChat's first 5 minutes too (the service closes it at WeChat later).
    page.click("#cancel-order")
    page.wait_for_selector("#notice")
    assert page.inner_text("#notice") == "Order cancelled."
    assert page.get_attribute("#result", "data-status") == "CLOSED"
    assert page.inner_text("#order-status") == "Closed"
    assert page.locator("#pay-again").count() == 0
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


def test_an_order_paid_in_another_tab(contexts: Contexts, demo: Demo) -> None:
    """Item 9: the stale tab's Pay shows the order as paid, not a toast over a page still saying Not paid."""
    context = contexts.new()
    stale = context.new_page()
    sign_in(stale, demo, "browser-two-tabs", "Tao")
    out_trade_no = order_first_product(stale)

    other = context.new_page()  # same browser profile: same session, same WeChat user
    other.goto(stale.url)
    other.wait_for_selector("#pay")
    assert other.inner_text("#out-trade-no") == out_trade_no
    open_payment_sheet(other)
    other.click("#sheet-pay")
    other.wait_for_selector('#result[data-status="PAID"]')

    stale.bring_to_front()
    assert stale.inner_text("#order-status") == "Not paid"
    stale.click("#pay")
    stale.wait_for_selector('#result[data-status="PAID"]')
    assert stale.inner_text("#order-status") == "Paid"
    assert stale.inner_text("#notice") == "This order has already been paid."
    assert stale.locator("#pay, #pay-again, #cancel-order").count() == 0
    assert stale.is_hidden("#sheet"), "the payment sheet never opened"
    assert "ORDER_ALREADY_PAID" in calls_log(stale)
    assert stale.url.endswith(f"#/result/{stale.url.rsplit('/', 1)[-1]}")


def set_faults(demo: Demo, **faults: Any) -> None:
    demo.sim("PUT", "/sim/v1/faults", faults)


@pytest.mark.parametrize(
    ("locale", "busy"),
    [("en-GB", "WeChat is busy right now. Please try again in a moment."), ("zh-CN", "微信服务繁忙，请稍后重试。")],
)
def test_shoppers_read_short_messages_and_the_log_keeps_the_details(
    contexts: Contexts, demo: Demo, locale: str, busy: str
) -> None:
    """Item 10: WeChat's own words (SYSTEMERROR, errcode) go to the log panel, not to the shopper."""
    page = contexts.page(locale=locale)
    sign_in(page, demo, f"browser-words-{locale}", "Yu")
    order_first_product(page)
    set_faults(demo, api_error_rate=1.0)
    try:
        page.click("#pay")
        page.wait_for_selector("#toast:not([hidden])")
        toast = page.inner_text("#toast")
        assert toast == busy
        assert page.is_hidden("#sheet")
        assert "SYSTEMERROR" in calls_log(page), "the technical text is kept for the curious"
        assert page.inner_text("#order-status") == "Not paid"

        set_faults(demo, login_error_rate=1.0)
        page.click("#nav-back")
        page.click("#switch-user")
        page.wait_for_selector("#login")
        page.fill("#wx-user", f"browser-words-{locale}-2")
        page.click("#login")  # jscode2session answers errcode -1 (WeChat busy)
        page.wait_for_function("document.getElementById('calls').textContent.includes('jscode2session')")
        assert page.inner_text("#toast") == busy
        assert page.is_visible("#login"), "still on the sign-in screen, not spinning"
        for raw in ("SYSTEMERROR", "errcode", "jscode2session", "unifiedorder", "http"):
            assert raw not in page.inner_text("#screen") + page.inner_text("#toast")
    finally:
        demo.sim("DELETE", "/sim/v1/faults")


def test_back_forward_and_reload(page: Page, demo: Demo) -> None:
    """Item 14: every screen has an address; Back and Forward move between screens, reload keeps the screen."""
    sign_in(page, demo, "browser-history", "Jun")
    assert page.url.endswith("#/shop")
    out_trade_no = order_first_product(page)
    order_url = page.url
    assert re.search(r"#/order/\d+$", order_url)

    page.go_back()
    page.wait_for_selector('#screen[data-screen="products"]')
    assert page.url.startswith(demo.url), "Back stays in the demo"
    page.go_forward()
    page.wait_for_selector('#screen[data-screen="order"]')
    assert page.inner_text("#out-trade-no") == out_trade_no

    page.reload()  # the unpaid order is shown again, as the server has it
    page.wait_for_selector('#screen[data-screen="order"]')
    assert page.url == order_url
    assert page.inner_text("#out-trade-no") == out_trade_no
    assert page.inner_text("#order-status") == "Not paid"

    open_payment_sheet(page)
    page.click("#sheet-pay")
    page.wait_for_selector('#result[data-status="PAID"]')
    assert page.url == order_url.replace("#/order/", "#/result/"), "the order page became the result page"
    page.reload()
    page.wait_for_selector('#result[data-status="PAID"]')
    page.click("#to-orders")
    page.wait_for_selector('#screen[data-screen="orders"]')
    page.go_back()
    page.wait_for_selector('#result[data-status="PAID"]')
    page.go_back()  # not to the order page: it was replaced by the result
    page.wait_for_selector('#screen[data-screen="products"]')


def test_a_double_click_on_buy_makes_one_order(page: Page, demo: Demo) -> None:
    sign_in(page, demo, "browser-double", "Bo")
    page.locator("[data-product-id] .buy").first.dblclick()
    page.wait_for_selector("#pay")
    page.click("#tab-orders") if page.is_visible("#tab-orders") else page.goto(demo.url + "#/orders")
    page.wait_for_selector('#screen[data-screen="orders"]')
    assert page.locator("[data-order-id]").count() == 1


# WCAG 2.1 contrast of every visible text node against what is painted behind it (gradients: their
# worst stop). Decorative (aria-hidden) and disabled or busy (translucent) elements are exempt.
CONTRAST_FAILURES_JS = """
() => {
  const parse = (c) => {
    const m = /rgba?\\(([^)]+)\\)/.exec(c)
    if (!m) return null
    const [r, g, b, a = 1] = m[1].split(/[\\s,/]+/).filter(Boolean).map(Number)
    return [r, g, b, a]
  }
  const lum = ([r, g, b]) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b)
  }
  const ratio = (x, y) => (Math.max(lum(x), lum(y)) + 0.05) / (Math.min(lum(x), lum(y)) + 0.05)
  const over = (top, bottom) => [0, 1, 2].map((i) => top[i] * top[3] + bottom[i] * (1 - top[3])).concat(1)
  function backdrops(el) {
    const layers = []
    for (let e = el; e; e = e.parentElement) {
      const cs = getComputedStyle(e)
      if (cs.backgroundImage !== 'none') {
        const stops = (cs.backgroundImage.match(/rgba?\\([^)]+\\)/g) || []).map(parse)
        layers.push(stops.length ? stops : [[255, 255, 255, 1]])
        break
      }
      const bg = parse(cs.backgroundColor)
      if (bg && bg[3] > 0) {
        layers.push([bg])
        if (bg[3] >= 1) break
      }
    }
    let candidates = [[255, 255, 255, 1]]
    for (const layer of layers.reverse()) candidates = layer.flatMap((top) => candidates.map((c) => over(top, c)))
    return candidates
  }
  const opaque = (el) => {
    for (let e = el; e; e = e.parentElement) if (Number(getComputedStyle(e).opacity) < 1) return false
    return true
  }
  const failures = []
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT)
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement
    if (!node.textContent.trim() || !el.checkVisibility({ visibilityProperty: true })) continue
    if (el.closest('[aria-hidden="true"], :disabled') || !opaque(el)) continue
    const cs = getComputedStyle(el)
    const size = parseFloat(cs.fontSize)
    const large = size >= 24 || (size >= 18.66 && Number(cs.fontWeight) >= 700)
    const fg = parse(cs.color)
    const worst = Math.min(...backdrops(el).map((bg) => ratio(over(fg, bg), bg)))
    const text = node.textContent.trim().slice(0, 40)
    if (worst < (large ? 3 : 4.5)) failures.push(`${text}: ${worst.toFixed(2)} (${cs.color})`)
  }
  return failures
}
"""

DECORATIVE = ["▦", "☰", "▂", "◔", "▮", "✎", "●", "↗", "✓", "•••", "◎", "‹"]


def check_accessibility(page: Page, where: str) -> None:
    failures = page.evaluate(CONTRAST_FAILURES_JS)
    assert failures == [], f"{where}: text below WCAG AA contrast: {failures}"
    tree = page.locator("body").aria_snapshot()
    for glyph in DECORATIVE:
        assert glyph not in tree, f"{where}: decorative {glyph!r} is read out:\n{tree}"


def test_payment_sheet_is_a_modal_dialog(page: Page, demo: Demo) -> None:
    """Item 13: focus moves into the sheet, the page behind is out of reach, Escape cancels, focus comes back."""
    sign_in(page, demo, "browser-a11y-sheet", "An")
    order_first_product(page)
    page.focus("#pay")
    page.keyboard.press("Enter")
    page.wait_for_selector("#sheet-pay:enabled")
    dialog = page.locator("#sheet-dialog")
    assert dialog.get_attribute("role") == "dialog"
    assert dialog.get_attribute("aria-modal") == "true"
    assert page.evaluate("document.getElementById('sheet').contains(document.activeElement)")
    assert page.evaluate("['screen', 'panel', 'navbar'].every((id) => document.getElementById(id).inert)")
    for _ in range(6):  # Tab stays inside the sheet
        page.keyboard.press("Tab")
        assert page.evaluate("document.getElementById('sheet').contains(document.activeElement)")
    check_accessibility(page, "payment sheet")

    page.keyboard.press("Escape")
    page.wait_for_selector('#result[data-status="PAYING"][data-sheet="cancel"]')
    assert page.is_hidden("#sheet")
    assert not page.evaluate("document.getElementById('screen').inert")
    focused = page.evaluate("document.activeElement.id")
    assert focused == "result-headline", f"focus went to {focused!r}, not to the page the sheet left"


def test_names_labels_glyphs_and_contrast(page: Page, demo: Demo) -> None:
    """Item 13: readable names everywhere a screen reader looks, and AA contrast on every screen."""
    page.goto(demo.url)
    page.wait_for_selector("#login")
    assert 'textbox "Nickname"' in page.locator("#nickname").aria_snapshot()
    assert 'textbox "Simulated WeChat user"' in page.locator("#wx-user").aria_snapshot()
    check_accessibility(page, "sign-in")

    sign_in(page, demo, "browser-a11y", "Ning")
    check_accessibility(page, "shop")
    out_trade_no = order_first_product(page)
    check_accessibility(page, "order")
    open_payment_sheet(page)
    page.click("#sheet-pay")
    page.wait_for_selector('#result[data-status="PAID"]')
    notification_row(page, out_trade_no, "acknowledged")
    check_accessibility(page, "result")
    row = page.locator(f'#notifications li[data-out-trade-no="{out_trade_no}"][data-outcome="acknowledged"]')
    for name in (row.get_attribute("aria-label") or "", row.get_attribute("title") or ""):
        assert name.startswith(f"Notification for order {out_trade_no}, attempt "), name
        assert "acknowledged" in name
        assert "<" not in name, f"raw XML in a row's name: {name}"
    page.click("#to-orders")
    page.wait_for_selector('#screen[data-screen="orders"]')
    check_accessibility(page, "my orders")


def fonts_used(page: Page, selector: str) -> list[str]:
    """The platform fonts Chromium drew the element's text with (DevTools protocol)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    return [font["familyName"] for font in cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]]


def cjk_fonts_installed() -> bool:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    listed = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True, check=False).stdout
    return bool(listed.strip())


def test_chinese_messages_use_a_cjk_font(contexts: Contexts, demo: Demo) -> None:
    """Item 13: the font list names CJK faces, so Chinese text is drawn with one, never as boxes."""
    page = contexts.page(locale="zh-CN")
    sign_in(page, demo, "browser-cjk", "Qing")
    page.goto(demo.url + "#/order/999999999")  # someone else's or no order: a message in Chinese
    page.wait_for_selector("#toast:not([hidden])")
    assert page.inner_text("#toast") == "未找到该订单。"
    family = page.evaluate("getComputedStyle(document.getElementById('toast')).fontFamily")
    for face in ("PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", "WenQuanYi Micro Hei"):
        assert face in family, f"{face} missing from {family}"
    if not cjk_fonts_installed():
        pytest.skip("no CJK font on this machine (apt-get install fonts-noto-cjk): the glyph check needs one")
    used = fonts_used(page, "#toast")
    cjk = [name for name in used if re.search(r"CJK|WenQuanYi|Hei|Han Sans|PingFang|YaHei|文泉", name)]
    assert cjk, f"the Chinese message was drawn with {used} only"
    shot(page, "chinese-message")


@pytest.mark.parametrize(("width", "height"), [(360, 640), (1280, 900)])
def test_screen_sizes(contexts: Contexts, demo: Demo, width: int, height: int) -> None:
    """Item 12: on a phone-sized window the shop fills it and the payment sheet's Pay button is on screen."""
    page = contexts.page(width, height)
    sign_in(page, demo, f"browser-size-{width}", "Xin")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{overflow}px wider than the {width}px window"
    shot(page, f"shop-{width}")
    order_first_product(page)
    open_payment_sheet(page)
    box = page.locator("#sheet-pay").bounding_box()
    assert box is not None
    assert box["y"] >= 0 and box["y"] + box["height"] <= height, f"Pay button at {box} in a {width}x{height} window"
    phone = page.locator(".phone").bounding_box()
    assert phone is not None
    if width <= 480:
        assert phone["width"] == width, "no drawn phone frame on a phone"
        assert phone["height"] == height
    else:
        assert phone["width"] < width / 2, "the drawn phone beside the simulator panel"
    shot(page, f"sheet-{width}")
    page.click("#sheet-pay")
    page.wait_for_selector('#result[data-status="PAID"]')
    check_accessibility(page, f"result at {width}px")
    shot(page, f"result-{width}")
