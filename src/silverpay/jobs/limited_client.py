"""The pay client as the worker sees it: every call to WeChat waits for the rate limiter first."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from silverpay.jobs.ratelimit import TokenBucket
from silverpay.wechat.gateway import (
    PayClient,
    PayParams,
    Prepay,
    PrepayRequest,
    RefundRequest,
    RefundResult,
    TradeStatus,
)


class RateLimitedPayClient:
    def __init__(self, inner: PayClient, bucket: TokenBucket) -> None:
        self._inner = inner
        self._bucket = bucket

    async def prepay(self, request: PrepayRequest) -> Prepay:
        await self._bucket.acquire()
        return await self._inner.prepay(request)

    async def query(self, out_trade_no: str) -> TradeStatus:
        await self._bucket.acquire()
        return await self._inner.query(out_trade_no)

    async def close(self, out_trade_no: str) -> None:
        await self._bucket.acquire()
        await self._inner.close(out_trade_no)

    async def refund(self, request: RefundRequest) -> RefundResult:
        await self._bucket.acquire()
        return await self._inner.refund(request)

    async def refund_query(self, out_refund_no: str) -> RefundResult:
        await self._bucket.acquire()
        return await self._inner.refund_query(out_refund_no)

    async def download_bill(self, bill_date: date, dest: Path) -> bool:
        await self._bucket.acquire()
        return await self._inner.download_bill(bill_date, dest)

    def pay_params(self, prepay_id: str) -> PayParams:  # signed locally: no call, no token
        return self._inner.pay_params(prepay_id)
