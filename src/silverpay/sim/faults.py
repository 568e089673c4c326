"""Fault injection: what `PUT /sim/v1/faults` sets and how each request rolls the dice."""

from __future__ import annotations

import asyncio
import random
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Faults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notify_drop_rate: float = Field(0.0, ge=0, le=1, description="fraction of notifications never sent")
    notify_duplicate_rate: float = Field(0.0, ge=0, le=1, description="fraction whose every attempt is sent twice")
    notify_delay_s: float = Field(0.0, ge=0, le=3600, description="extra wait before a first attempt")
    api_error_rate: float = Field(0.0, ge=0, le=1, description="fraction of pay-API calls answering SYSTEMERROR")
    api_error_after_effect: bool = Field(
        False, description="SYSTEMERROR after the call took effect (outcome unknown to the caller)"
    )
    api_latency_s: float = Field(0.0, ge=0, le=60, description="added to every pay-API call")
    api_hang_rate: float = Field(0.0, ge=0, le=1, description="fraction of pay-API calls that hang")
    api_hang_s: float = Field(30.0, ge=0, le=600, description="how long a hanging call hangs before answering")
    login_error_rate: float = Field(0.0, ge=0, le=1, description="fraction of jscode2session calls answering -1")
    api_bad_signature_rate: float = Field(
        0.0, ge=0, le=1, description="fraction of v3 pay-API answers whose signature does not verify (tampering)"
    )
    refund_outcome: Literal["SUCCESS", "REFUNDCLOSE", "CHANGE"] = Field(
        "SUCCESS", description="how accepted refunds end"
    )
    refund_delay_s: float = Field(1.0, ge=0, le=86400, description="simulated seconds a refund stays PROCESSING")
    # The mini-program platform (access tokens, shipping management, message pushes)
    mp_token_error_rate: float = Field(
        0.0, ge=0, le=1, description="fraction of shipping-API calls answering 40001 (token invalid), no effect"
    )
    shipping_error_rate: float = Field(
        0.0, ge=0, le=1, description="fraction of shipping-API calls answering -1 (system busy), no effect"
    )
    shipping_hang_rate: float = Field(0.0, ge=0, le=1, description="fraction of shipping-API calls that hang")
    shipping_hang_s: float = Field(30.0, ge=0, le=600, description="how long a hanging shipping-API call hangs")
    shipping_hang_after_effect: bool = Field(
        False, description="a hanging call takes effect first (the caller times out not knowing it landed)"
    )
    shipping_payment_delay_s: float = Field(
        0.0, ge=0, le=86400, description="a payment is unknown to shipping management (10060001) this long after it"
    )
    push_drop_rate: float = Field(0.0, ge=0, le=1, description="fraction of message pushes never sent")


class FaultInjector:
    def __init__(self, seed: int | None = None) -> None:
        self.faults = Faults()
        self._random = random.Random(seed)
        self.hanging = 0

    def roll(self, rate: float) -> bool:
        return rate > 0 and self._random.random() < rate

    async def hang(self, seconds: float) -> None:
        """A hanging call's wait; ``hanging`` counts the calls in one now (tests wait on it)."""
        self.hanging += 1
        try:
            await asyncio.sleep(seconds)
        finally:
            self.hanging -= 1
