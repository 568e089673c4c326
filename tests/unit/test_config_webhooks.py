"""The webhook lease must outlast a send with a timeout to spare (a pass claims what fits in it)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from silverpay.config import Settings


def test_a_webhook_lease_shorter_than_two_timeouts_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least twice SILVERPAY_WEBHOOK_TIMEOUT_S"):
        Settings(_env_file=None, webhook_timeout_s=10, webhook_lease_s=15)  # type: ignore[call-arg]
    settings = Settings(_env_file=None, webhook_timeout_s=2, webhook_lease_s=4)  # type: ignore[call-arg]
    assert (settings.webhook_timeout_s, settings.webhook_lease_s) == (2, 4)
