"""The console's pure helpers: yuan from integer fen, local times with their zone, and the
Chinese text of every label the templates use."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from silverpay.console import format as fmt
from silverpay.console.i18n import ZH, choose, translator
from silverpay.domain.money import parse_yuan


@pytest.mark.parametrize(
    ("fen", "text"),
    [(0, "¥0.00"), (1, "¥0.01"), (10, "¥0.10"), (100, "¥1.00"), (123456, "¥1,234.56"), (-5, "-¥0.05"),
     (100_000_000_000, "¥1,000,000,000.00"), (2**63 - 1, "¥92,233,720,368,547,758.07"), (None, "—")],
)  # fmt: skip
def test_yuan(fen: int | None, text: str) -> None:
    assert fmt.yuan(fen) == text


def test_yuan_refuses_floats_and_bools() -> None:
    with pytest.raises(TypeError):
        fmt.yuan(12.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fmt.yuan(True)


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_yuan_round_trips_exactly(fen: int) -> None:
    assert parse_yuan(fmt.yuan(fen, symbol=False).replace(",", "")) == fen


def test_local_time_names_the_zone() -> None:
    instant = datetime(2026, 11, 29, 10, 5, 9, 123456, tzinfo=UTC)
    assert fmt.local_time(instant, fmt.zone("Asia/Shanghai")) == "2026-11-29 18:05:09 CST"
    assert fmt.local_time(instant.isoformat(), fmt.zone("Europe/Berlin")) == "2026-11-29 11:05:09 CET"
    summer = "2026-07-01T10:00:00+00:00"
    assert fmt.local_time(summer, fmt.zone("Europe/Berlin"), seconds=False) == "2026-07-01 12:00 CEST"
    assert fmt.local_time(instant, fmt.zone("America/Sao_Paulo")) == "2026-11-29 07:05:09 UTC-03:00"
    assert fmt.local_time("2026-11-29T10:05:09", fmt.zone("UTC")) == "2026-11-29 10:05:09 UTC"  # naive means UTC
    assert fmt.local_time(None, fmt.zone("UTC")) == "—"


def test_unknown_zones_fall_back() -> None:
    assert fmt.zone("Mars/Olympus").key == "Asia/Shanghai"
    assert fmt.zone("../../etc/passwd").key == "Asia/Shanghai"
    assert fmt.zone(None, "UTC").key == "UTC"


TEMPLATES = Path(fmt.__file__).parent / "templates"
_TEXT = re.compile(r"""_\(\s*(["'])(.+?)\1\s*\)""")


def test_every_template_text_has_chinese() -> None:
    used = {m.group(2) for path in TEMPLATES.glob("*.html") for m in _TEXT.finditer(path.read_text())}
    pages = re.findall(r'\("/console/[a-z]+", "([^"]+)"\)', (TEMPLATES / "base.html").read_text())
    missing = sorted((used | set(pages)) - set(ZH))
    assert len(used) > 50 and not missing, missing


def test_language_choice() -> None:
    assert choose(None) == "zh" and choose("en") == "en" and choose("fr") == "zh"
    assert translator("zh")("Orders") == "订单" and translator("en")("Orders") == "Orders"


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_text_colours_meet_wcag_aa() -> None:
    css = (TEMPLATES.parent / "static" / "console.css").read_text()
    var = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", css))
    pairs = [("ink", "card"), ("ink", "bg"), ("muted", "card"), ("muted", "bg"), ("accent", "card"), ("accent", "bg"),
             ("accent-ink", "accent"), ("danger", "danger-bg"), ("warn", "warn-bg"), ("ok", "ok-bg"),
             ("accent-ink", "danger"), ("accent-ink", "ink")]  # fmt: skip
    for fg, bg in pairs:
        assert contrast(var[fg], var[bg]) >= 4.5, (fg, bg, contrast(var[fg], var[bg]))
    for fixed_bg in ("#eef0f4", "#3b4660", "#2c3548"):  # closed badges; the header's current and hovered link
        text = var["muted"] if fixed_bg == "#eef0f4" else "#ffffff"
        assert contrast(text, fixed_bg) >= 4.5, fixed_bg
