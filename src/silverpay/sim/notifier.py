"""Delivers notifications on WeChat's retry schedule, on the simulated clock.

One background task wakes when a delivery falls due (or the clock is advanced) and sends each due
attempt in its own task. Every attempt is recorded for `GET /sim/v1/notifications`.

A v2 delivery is signed inside its XML body once. A v3 delivery is signed in ``Wechatpay-*``
headers at every attempt (the merchant refuses timestamps older than 5 minutes, and retries run
for a day), and only an HTTP 200 or 204 acknowledges it (SPEC §3.4).

Other kinds of delivery (the mini-program's message pushes) name a :class:`Channel`: their own
retry delays and their own idea of an acknowledgement; their URL and body are complete as queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from silverpay.sim.clock import SimClock
from silverpay.sim.config import NOTIFY_RETRY_DELAYS_S, NOTIFY_TIMEOUT_S
from silverpay.sim.core.commands import ApiVersion
from silverpay.sim.faults import FaultInjector
from silverpay.sim.notifications import is_acknowledged
from silverpay.sim.state import Attempt, Delivery, SimState
from silverpay.wechat.v3.notification import reply_accepted

log = logging.getLogger(__name__)
MAX_IDLE_S = 1.0
V2_HEADERS = {"Content-Type": "text/xml; charset=utf-8"}
V3_CONTENT_TYPE = {"Content-Type": "application/json"}

# The Wechatpay-* headers for one v3 attempt's body.
V3Signer = Callable[[bytes], dict[str, str]]


@dataclass(frozen=True)
class Channel:
    """How deliveries of one kind are retried and acknowledged (payment and refund notifications
    use the pay platform's rules above)."""

    retry_delays_s: tuple[float, ...]
    accepted: Callable[[httpx.Response], bool]


class Notifier:
    def __init__(
        self,
        state: SimState,
        clock: SimClock,
        injector: FaultInjector,
        http: httpx.AsyncClient,
        *,
        time_scale: float = 1.0,
        retry_delays_s: tuple[int, ...] = NOTIFY_RETRY_DELAYS_S,
        sign_v3: V3Signer | None = None,
        channels: dict[str, Channel] | None = None,
    ) -> None:
        self._state = state
        self._clock = clock
        self._injector = injector
        self._http = http
        self._time_scale = time_scale
        self._retry_delays_s = retry_delays_s
        self._sign_v3 = sign_v3
        self._channels = channels or {}
        self._wake = asyncio.Event()
        self._in_flight: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._active = {d.id: d for d in state.deliveries.values() if d.next_at is not None}

    @property
    def max_attempts(self) -> int:
        return len(self._retry_delays_s) + 1

    def _delays(self, delivery: Delivery) -> tuple[float, ...]:
        channel = self._channels.get(delivery.kind)
        return channel.retry_delays_s if channel else self._retry_delays_s

    def enqueue(
        self,
        kind: str,
        mch_id: str,
        out_trade_no: str,
        url: str,
        body: str,
        *,
        api: ApiVersion = ApiVersion.V2,
        drop_rate: float | None = None,
        content_type: str | None = None,
    ) -> Delivery:
        """Queue a delivery; ``drop_rate`` overrides the ``notify_drop_rate`` fault (pushes have
        their own), and a delivery with a ``content_type`` is never duplicated nor delayed."""
        faults = self._injector.faults
        now = self._clock.now()
        own = content_type is not None
        delivery = Delivery(
            id=secrets.token_hex(8),
            kind=kind,
            mch_id=mch_id,
            out_trade_no=out_trade_no,
            url=url,
            body=body,
            created_at=now,
            next_at=now + (0.0 if own else faults.notify_delay_s),
            duplicate=False if own else self._injector.roll(faults.notify_duplicate_rate),
            api=api,
            content_type=content_type,
        )
        if self._injector.roll(faults.notify_drop_rate if drop_rate is None else drop_rate):
            delivery.dropped, delivery.next_at = True, None
            self._record(delivery, 0, None, "", acknowledged=False, error="dropped by fault injection")
        else:
            self._active[delivery.id] = delivery
        self._state.save_delivery(delivery)
        self.wake()
        return delivery

    def wake(self) -> None:
        self._wake.set()

    @property
    def in_flight(self) -> int:
        """Attempts being made now (their requests not answered yet)."""
        return len(self._in_flight)

    async def run(self) -> None:
        while True:
            now = self._clock.now()
            waiting: list[float] = []
            for delivery in list(self._active.values()):
                if delivery.id in self._in_flight or delivery.next_at is None:
                    continue
                if delivery.next_at <= now:
                    self._spawn(delivery)
                else:
                    waiting.append(delivery.next_at)
            timeout = min(min(waiting) - now, MAX_IDLE_S) if waiting else MAX_IDLE_S
            self._wake.clear()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that races the event.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(timeout, 0.0)):
                    await self._wake.wait()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, delivery: Delivery) -> None:
        self._in_flight.add(delivery.id)
        task = asyncio.create_task(self._attempt(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attempt(self, delivery: Delivery) -> None:
        try:
            delivery.attempts += 1
            number = delivery.attempts
            copies = 2 if delivery.duplicate else 1
            results = await asyncio.gather(*(self._post(delivery, number, dup > 0) for dup in range(copies)))
            delays = self._delays(delivery)
            if any(results):
                delivery.acknowledged, delivery.next_at = True, None
            elif number >= len(delays) + 1:
                delivery.next_at = None
            else:
                delivery.next_at = self._clock.now() + delays[number - 1] * self._time_scale
            if delivery.next_at is None:
                self._active.pop(delivery.id, None)
            self._state.save_delivery(delivery)
        finally:
            self._in_flight.discard(delivery.id)
            self.wake()

    def _headers(self, delivery: Delivery, body: bytes) -> dict[str, str]:
        if delivery.content_type is not None:
            return {"Content-Type": delivery.content_type}
        if delivery.api is not ApiVersion.V3:
            return V2_HEADERS
        if self._sign_v3 is None:
            raise RuntimeError("a v3 delivery needs a v3 signer")
        return {**V3_CONTENT_TYPE, **self._sign_v3(body)}

    async def _post(self, delivery: Delivery, number: int, duplicate: bool) -> bool:
        body = delivery.body.encode()
        try:
            response = await self._http.post(
                delivery.url, content=body, headers=self._headers(delivery, body), timeout=NOTIFY_TIMEOUT_S
            )
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self._record(delivery, number, None, "", acknowledged=False, error=error, duplicate=duplicate)
            return False
        channel = self._channels.get(delivery.kind)
        if channel is not None:
            acknowledged = channel.accepted(response)
        elif delivery.api is ApiVersion.V3:
            acknowledged = reply_accepted(response.status_code)
        else:
            acknowledged = is_acknowledged(response)
        answer = response.text[:2000]
        self._record(delivery, number, response.status_code, answer, acknowledged=acknowledged, duplicate=duplicate)
        return acknowledged

    def _record(
        self,
        delivery: Delivery,
        number: int,
        status: int | None,
        body: str,
        *,
        acknowledged: bool,
        error: str | None = None,
        duplicate: bool = False,
    ) -> None:
        self._state.add_attempt(
            Attempt(
                delivery_id=delivery.id,
                kind=delivery.kind,
                out_trade_no=delivery.out_trade_no,
                attempt=number,
                at=self._clock.now(),
                http_status=status,
                response_body=body,
                acknowledged=acknowledged,
                error=error,
                duplicate=duplicate,
            )
        )
