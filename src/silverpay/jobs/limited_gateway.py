"""The gateway as the worker sees it: every outbound call waits for the rate limiter first."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

from silverpay.jobs.ratelimit import TokenBucket
from silverpay.wechat.gateway import (
    BillLine,
    Notification,
    NotificationReply,
    PayGateway,
    PayParams,
    Prepay,
    PrepayRequest,
    RefundRequest,
    RefundResult,
    TradeStatus,
)


class RateLimitedGateway:
    def __init__(self, inner: PayGateway, bucket: TokenBucket) -> None:
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

    # Local work: no call to WeChat, no token.
    def pay_params(self, prepay_id: str) -> PayParams:
        return self._inner.pay_params(prepay_id)

    def read_bill(self, path: Path) -> Iterator[BillLine]:
        return self._inner.read_bill(path)

    def parse_notification(self, body: bytes) -> Notification:
        return self._inner.parse_notification(body)

    def parse_refund_notification(self, body: bytes) -> RefundResult:
        return self._inner.parse_refund_notification(body)

    def reply(self, ok: bool, message: str = "OK") -> NotificationReply:
        return self._inner.reply(ok, message)
