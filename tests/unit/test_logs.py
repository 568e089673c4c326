"""The URL-secret filter on the HTTP client loggers (silverpay.logs)."""

from __future__ import annotations

import logging

import httpx
import pytest

from silverpay.logs import HTTP_LOGGERS, RedactUrlSecrets
from silverpay.wechat.login import LoginClient


def filters_on(name: str) -> list[logging.Filter]:
    return [f for f in logging.getLogger(name).filters if isinstance(f, RedactUrlSecrets)]


def test_login_client_installs_the_filter_once() -> None:
    http = httpx.AsyncClient()
    for _ in range(3):
        LoginClient(http, "https://api.weixin.qq.com", "wx1", "s3cret")
    assert all(len(filters_on(name)) == 1 for name in HTTP_LOGGERS)


@pytest.mark.parametrize("logger_name", ["httpx", "httpcore.http11", "httpcore.connection"])
def test_secret_and_access_token_are_redacted(logger_name: str, caplog: pytest.LogCaptureFixture) -> None:
    LoginClient(httpx.AsyncClient(), "https://api.weixin.qq.com", "wx1", "s3cret")
    caplog.set_level(logging.DEBUG, logger=logger_name)
    url = httpx.URL("https://api.weixin.qq.com/sns/jscode2session?appid=wx1&secret=s3cret&js_code=c")
    logging.getLogger(logger_name).info('HTTP Request: %s %s "%s"', "GET", url, "HTTP/1.1 200 OK")
    logging.getLogger(logger_name).debug("GET /cgi-bin/x?access_token=T0K3N;other=1 and ?ACCESS_TOKEN=abc&x=2")
    first, second = (record.getMessage() for record in caplog.records)
    assert "s3cret" not in first and "secret=[redacted]" in first
    assert first.startswith("HTTP Request: GET https://api.weixin.qq.com/sns/jscode2session?appid=wx1&")
    assert first.endswith('js_code=c "HTTP/1.1 200 OK"')
    assert "T0K3N" not in second and "abc" not in second and "other=1" in second and "x=2" in second


def test_other_records_are_left_alone(caplog: pytest.LogCaptureFixture) -> None:
    LoginClient(httpx.AsyncClient(), "https://api.weixin.qq.com", "wx1", "s3cret")
    caplog.set_level(logging.DEBUG, logger="httpx")
    logging.getLogger("httpx").info("HTTP Request: %s %s", "GET", "https://h/p?client_secret_hint=1&q=secretive")
    (record,) = caplog.records
    assert record.args == ("GET", "https://h/p?client_secret_hint=1&q=secretive")  # untouched, still lazy
