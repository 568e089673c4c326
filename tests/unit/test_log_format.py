"""SILVERPAY_LOG_FORMAT: text and JSON lines, each with the request id; secrets still redacted."""

from __future__ import annotations

import io
import json
import logging

import httpx

from silverpay.logs import handler, request_id
from silverpay.wechat.login import LoginClient


def logged(fmt: str, emit: object) -> list[str]:
    out = handler(fmt)  # type: ignore[arg-type]
    stream = io.StringIO()
    assert isinstance(out, logging.StreamHandler)
    out.setStream(stream)
    logger = logging.getLogger("httpx")  # a logger with the redaction filter (installed by LoginClient)
    logger.addHandler(out)
    old_level, logger.propagate = logger.level, False
    logger.setLevel(logging.INFO)
    try:
        emit(logger)  # type: ignore[operator]
    finally:
        logger.removeHandler(out)
        logger.propagate, _ = True, logger.setLevel(old_level)
    return stream.getvalue().splitlines()


def test_json_lines_carry_the_request_id_and_no_secret() -> None:
    LoginClient(httpx.AsyncClient(), "https://api.weixin.qq.com", "wx1", "s3cret")

    def emit(logger: logging.Logger) -> None:
        logger.info("outside a request")
        token = request_id.set("req-123")
        try:
            logger.info("HTTP Request: GET %s", "https://api.weixin.qq.com/sns/jscode2session?secret=s3cret&x=1")
            try:
                raise ValueError("boom")
            except ValueError:
                logger.exception("failed 中文")
        finally:
            request_id.reset(token)

    lines = logged("json", emit)
    assert len(lines) == 3
    first, second, third = (json.loads(line) for line in lines)
    assert first["request_id"] == "-" and first["message"] == "outside a request" and first["level"] == "INFO"
    assert second["request_id"] == "req-123" and "s3cret" not in lines[1] and "secret=[redacted]" in second["message"]
    assert second["logger"] == "httpx" and second["time"].endswith("+00:00")
    assert third["message"] == "failed 中文" and "ValueError: boom" in third["exception"]


def test_text_lines_carry_the_request_id() -> None:
    def emit(logger: logging.Logger) -> None:
        token = request_id.set("abc")
        try:
            logger.warning("hello")
        finally:
            request_id.reset(token)

    (line,) = logged("text", emit)
    assert line.endswith("WARNING httpx [abc]: hello")
