"""NOTIFY_URL and REFUND_NOTIFY_URL: the service refuses to start with one WeChat could not (or
should not) call, outside demo mode."""

from __future__ import annotations

from typing import Any

import pytest

from silverpay.config import Settings
from silverpay.errors import ConfigError

READY: dict[str, Any] = {
    "_env_file": None, "wechat_appid": "wx1", "wechat_secret": "s", "wechat_mch_id": "1900000109",
    "wechat_api_key": "k" * 32, "jwt_secret": "j" * 32,
}  # fmt: skip

GOOD = (
    "https://pay.example.com/api/v1/wechat/notify",
    "https://pay.example.com:8443/wechat/notify",
    "http://localhost:8000/api/v1/wechat/notify",
    "http://127.0.0.1/api/v1/wechat/notify",
    "http://[::1]:8000/api/v1/wechat/notify",
)
BAD = (
    ("http://pay.example.com/api/v1/wechat/notify", "https"),  # plain http on the internet
    ("http://10.0.0.5/notify", "https"),
    ("ftp://pay.example.com/notify", "absolute https URL"),
    ("/api/v1/wechat/notify", "absolute https URL"),  # relative
    ("pay.example.com/api/v1/wechat/notify", "absolute https URL"),  # no scheme
    ("https:///api/v1/wechat/notify", "absolute https URL"),  # no host
    ("https://pay.example.com/notify?order=1", "query string"),  # WeChat refuses a query
    ("https://pay.example.com/notify#x", "query string"),
    ("https://[::1/notify", "not a URL"),
    ("notaurl", "absolute https URL"),
)


@pytest.mark.parametrize("url", GOOD)
def test_acceptable_notify_urls(url: str) -> None:
    Settings(**READY, notify_url=url).check_ready()
    Settings(**READY, notify_url=GOOD[0], refund_notify_url=url).check_ready()


@pytest.mark.parametrize(("url", "says"), BAD)
def test_unacceptable_notify_url_stops_the_start(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings(**READY, notify_url=url).check_ready()
    assert "SILVERPAY_NOTIFY_URL" in refused.value.message and says in refused.value.message


@pytest.mark.parametrize(("url", "says"), BAD)
def test_unacceptable_refund_notify_url_stops_the_start(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings(**READY, notify_url=GOOD[0], refund_notify_url=url).check_ready()
    assert "SILVERPAY_REFUND_NOTIFY_URL" in refused.value.message and says in refused.value.message


def test_demo_mode_takes_plain_http_on_any_host() -> None:
    """The demo and the in-process tests name made-up hosts over plain http."""
    Settings(_env_file=None, demo_mode=True, notify_url="http://service.test/api/v1/wechat/notify").check_ready()  # type: ignore[call-arg]


@pytest.mark.parametrize("url", ["notaurl", "/api/v1/wechat/notify", "http://service.test/notify?x=1"])
def test_demo_mode_still_refuses_what_is_not_a_notify_url(url: str) -> None:
    with pytest.raises(ConfigError, match="SILVERPAY_NOTIFY_URL"):
        Settings(_env_file=None, demo_mode=True, notify_url=url).check_ready()  # type: ignore[call-arg]


def test_the_background_jobs_check_a_given_notify_url_too() -> None:
    with pytest.raises(ConfigError, match="SILVERPAY_NOTIFY_URL"):
        Settings(**READY, notify_url="notaurl").check_ready(api=False)
