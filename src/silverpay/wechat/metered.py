"""Every call to WeChat counted and timed, at the seam: :class:`MeteredPayClient` wraps either API
version's :class:`~silverpay.wechat.gateway.PayClient`, :class:`MeteredLoginClient` the login.

The label is the neutral endpoint name (``prepay``, ``query``, …) and the outcome ``OK`` or the
error's code: WeChat's own (``err_code`` / ``errcode``) when it answered one, else silverpay's
(``UPSTREAM_UNAVAILABLE`` when the outcome is unknown).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from silverpay.errors import SilverpayError, UpstreamRejected
from silverpay.metrics import WECHAT_CALLS, WECHAT_SECONDS
from silverpay.wechat.gateway import (
    PayClient,
    PayParams,
    Prepay,
    PrepayRequest,
    RefundRequest,
    RefundResult,
    TradeStatus,
)
from silverpay.wechat.login import LoginClient, WechatSession


def error_code(error: BaseException) -> str:
    if isinstance(error, UpstreamRejected) and error.upstream_code:
        return error.upstream_code[:40]
    if isinstance(error, SilverpayError):
        return error.code
    return "ERROR"


@contextlib.contextmanager
def metered(api_version: str, endpoint: str) -> Iterator[None]:
    started = time.perf_counter()
    code = "OK"
    try:
        yield
    except BaseException as error:
        code = error_code(error)
        raise
    finally:
        WECHAT_SECONDS.labels(api_version, endpoint).observe(time.perf_counter() - started)
        WECHAT_CALLS.labels(api_version, endpoint, code).inc()


class MeteredPayClient:
    """A :class:`PayClient` that counts and times every call of the one it wraps."""

    def __init__(self, inner: PayClient, api_version: str) -> None:
        self.inner = inner
        self.api_version = api_version

    @property
    def platform(self) -> object | None:
        """v3: the platform keys the wrapped client trusts (the health page shows their expiry)."""
        return getattr(self.inner, "platform", None)

    async def prepay(self, request: PrepayRequest) -> Prepay:
        with metered(self.api_version, "prepay"):
            return await self.inner.prepay(request)

    async def query(self, out_trade_no: str) -> TradeStatus:
        with metered(self.api_version, "query"):
            return await self.inner.query(out_trade_no)

    async def close(self, out_trade_no: str) -> None:
        with metered(self.api_version, "close"):
            await self.inner.close(out_trade_no)

    async def refund(self, request: RefundRequest) -> RefundResult:
        with metered(self.api_version, "refund"):
            return await self.inner.refund(request)

    async def refund_query(self, out_refund_no: str) -> RefundResult:
        with metered(self.api_version, "refund_query"):
            return await self.inner.refund_query(out_refund_no)

    async def download_bill(self, bill_date: date, dest: Path) -> bool:
        with metered(self.api_version, "download_bill"):
            return await self.inner.download_bill(bill_date, dest)

    def pay_params(self, prepay_id: str) -> PayParams:
        return self.inner.pay_params(prepay_id)  # signed locally: not a call to WeChat


class MeteredLoginClient(LoginClient):
    async def code2session(self, code: str) -> WechatSession:
        with metered("login", "jscode2session"):
            return await super().code2session(code)
