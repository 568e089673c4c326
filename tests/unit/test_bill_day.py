"""Which days WeChat can have a bill of (SPEC §2.9): past Beijing days, three months back."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from silverpay.errors import InvalidRequest
from silverpay.service.reconcile import BILL_HISTORY_DAYS, check_bill_day

# 17:00 UTC on 29 November is 01:00 on 30 November in Beijing: "today" is the 30th there.
NOW = datetime(2026, 11, 29, 17, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("day", [date(2026, 11, 29), date(2026, 11, 1), date(2026, 8, 30)])
def test_past_beijing_days_within_three_months(day: date) -> None:
    check_bill_day(day, NOW)


@pytest.mark.parametrize(("day", "says"), [
    (date(2026, 11, 30), "past days only"),  # today in Beijing, though still the 29th in UTC
    (date(2026, 12, 25), "past days only"),
    (date(2026, 8, 29), "three months"),  # 93 days back
    (date(2025, 1, 1), "three months"),
])  # fmt: skip
def test_today_the_future_and_older_than_three_months_are_refused(day: date, says: str) -> None:
    with pytest.raises(InvalidRequest, match=says) as refused:
        check_bill_day(day, NOW)
    assert refused.value.code == "BILL_DATE_INVALID"


def test_the_retention_is_the_longest_three_months() -> None:
    assert BILL_HISTORY_DAYS == 31 + 31 + 30
