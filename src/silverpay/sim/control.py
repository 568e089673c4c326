"""The control API under /sim/v1: what tests, tools and the demo use to drive the platform."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from silverpay.beijing import iso_utc
from silverpay.sim.config import PLATFORM_MODES, App
from silverpay.sim.core.commands import ApiVersion, Seed, SeedTrade, TradeState
from silverpay.sim.core.failures import RuleFailure
from silverpay.sim.core.seeding import MAX_BATCH, SeedRefused, seed
from silverpay.sim.faults import Faults
from silverpay.sim.formats import MAX_FEN, OUT_TRADE_NO_PATTERN
from silverpay.sim.login import issue_code
from silverpay.sim.request_payment import PaymentRefused, PaymentSheet, request_payment
from silverpay.sim.simulator import Simulator


class LoginRequest(BaseModel):
    appid: str = Field(min_length=1, max_length=32)
    user: str = Field(min_length=1, max_length=128, description="any name for a simulated WeChat user")


class LoginResponse(BaseModel):
    code: str
    openid: str


class PayRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    appid: str
    openid: str
    timeStamp: str  # wx.requestPayment's own camelCase field names
    nonceStr: str
    package: str
    signType: str
    paySign: str
    outcome: str = Field("success", description="success | cancel | fail")


class ClockRequest(BaseModel):
    advance_s: float = Field(ge=0, le=400 * 86400)


class PlatformMode(BaseModel):
    mode: str = Field(description=f"how unnamed v3 signatures are made: {' | '.join(PLATFORM_MODES)}")


class SeedTradeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out_trade_no: str = Field(pattern=OUT_TRADE_NO_PATTERN)
    amount_fen: int = Field(ge=1, le=MAX_FEN)
    openid: str = Field(min_length=1, max_length=128)
    state: Literal["NOTPAY", "SUCCESS", "CLOSED"] = "NOTPAY"
    api: Literal["v2", "v3"] = Field("v2", description="the version whose format its notifications would take")
    created_at: float | None = Field(None, description="epoch seconds on the simulated clock; default now")
    paid_at: float | None = Field(None, description="SUCCESS only; default now")
    description: str = Field("seeded order", min_length=1, max_length=127)
    attach: str = Field("", max_length=127)
    notify_url: str = Field("", max_length=256, description="where a later payment or refund is notified")

    def command(self) -> SeedTrade:
        return SeedTrade(
            out_trade_no=self.out_trade_no, total_fen=self.amount_fen, openid=self.openid,
            trade_state=TradeState(self.state), api=ApiVersion(self.api), created_at=self.created_at,
            paid_at=self.paid_at, description=self.description, attach=self.attach, notify_url=self.notify_url,
        )  # fmt: skip


class SeedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mch_id: str | None = Field(None, description="default: the only merchant")
    appid: str | None = Field(None, description="default: the first mini-program bound to the merchant")
    trades: list[SeedTradeIn] = Field(min_length=1, max_length=MAX_BATCH)


class AppRequest(BaseModel):
    appid: str = Field(min_length=1, max_length=32)
    secret: str = Field(min_length=1, max_length=64)
    mch_id: str | None = Field(None, description="bind the mini-program to this merchant for payments")


def router(sim: Simulator) -> APIRouter:
    api = APIRouter(prefix="/sim/v1", tags=["simulator control"])

    @api.post("/login", response_model=LoginResponse)
    async def login(body: LoginRequest) -> LoginResponse:
        """What `wx.login` gives a mini-program: a one-time code (and, for tests, the openid)."""
        if body.appid not in sim.config.apps:
            raise HTTPException(400, f"unknown appid {body.appid}")
        code = issue_code(sim.state, body.appid, body.user, sim.clock.now())
        return LoginResponse(code=code.code, openid=code.openid)

    @api.post("/pay")
    async def pay(body: PayRequest) -> JSONResponse:
        """What `wx.requestPayment` does: verify paySign, then pay, cancel or fail."""
        sheet = PaymentSheet(
            appid=body.appid,
            openid=body.openid,
            time_stamp=body.timeStamp,
            nonce_str=body.nonceStr,
            package=body.package,
            sign_type=body.signType,
            pay_sign=body.paySign,
            outcome=body.outcome,
        )
        try:
            transaction_id = request_payment(sim, sheet)
        except PaymentRefused as refused:
            return JSONResponse({"errMsg": refused.err_msg}, status_code=refused.status)
        return JSONResponse({"errMsg": "requestPayment:ok", "transaction_id": transaction_id})

    @api.get("/notifications")
    async def notifications(out_trade_no: str | None = None) -> list[dict[str, Any]]:
        """Every delivery attempt, oldest first (a dropped notification shows as attempt 0)."""
        return [
            {**asdict(a), "time": iso_utc(a.at)}
            for a in sim.state.attempts
            if out_trade_no is None or a.out_trade_no == out_trade_no
        ]

    @api.get("/faults", response_model=Faults)
    async def get_faults() -> Faults:
        return sim.injector.faults

    @api.put("/faults", response_model=Faults)
    async def put_faults(body: Faults) -> Faults:
        sim.injector.faults = body
        return body

    @api.delete("/faults", response_model=Faults)
    async def clear_faults() -> Faults:
        sim.injector.faults = Faults()
        return sim.injector.faults

    @api.get("/clock")
    async def get_clock() -> dict[str, Any]:
        now = sim.clock.now()
        return {"now": now, "now_iso": iso_utc(now), "offset_s": sim.clock.offset_s}

    @api.post("/clock")
    async def advance_clock(body: ClockRequest) -> dict[str, Any]:
        """Move simulated time forward: code and prepay expiry, the close rule, due retries."""
        now = sim.advance_clock(body.advance_s)
        return {"now": now, "now_iso": iso_utc(now), "offset_s": sim.clock.offset_s}

    @api.get("/trades/{out_trade_no}")
    async def trade(out_trade_no: str, mch_id: str | None = None) -> dict[str, Any]:
        """A trade as the platform sees it, with its history (for tests and debugging)."""
        for merchant in [mch_id] if mch_id is not None else list(sim.config.merchants):
            found = sim.state.trade(merchant, out_trade_no)
            if found is not None:
                return asdict(found)
        raise HTTPException(404, "no such trade")

    @api.post("/trades:seed", status_code=201)
    async def seed_trades(body: SeedRequest) -> dict[str, Any]:
        """Put up to 10,000 trades into the state at once, as if ordered (paid, closed) earlier:
        no API calls, no notifications. For benchmarks and tools; all or nothing."""
        mch_id = body.mch_id or (next(iter(sim.config.merchants)) if len(sim.config.merchants) == 1 else "")
        if not mch_id:
            raise HTTPException(400, "name the mch_id: the simulator knows several merchants")
        appid = body.appid or next((a.appid for a in sim.config.apps.values() if a.mch_id == mch_id), "")
        items = tuple(t.command() for t in body.trades)
        try:
            seeded = seed(sim.config, sim.state, Seed(mch_id, appid, items), sim.clock.now())
        except SeedRefused as refused:
            raise HTTPException(refused.status, refused.detail) from None
        except RuleFailure as refused:
            raise HTTPException(400, f"{refused.reason}: appid {appid!r} is not bound to {mch_id}") from None
        return {"mch_id": mch_id, "appid": appid, "seeded": len(seeded), "trades": [asdict(s) for s in seeded]}

    @api.post("/apps", status_code=201)
    async def add_app(body: AppRequest) -> dict[str, Any]:
        """Register another mini-program (e.g. one not bound to any merchant, for negative tests)."""
        if body.mch_id is not None and body.mch_id not in sim.config.merchants:
            raise HTTPException(400, f"unknown mch_id {body.mch_id}")
        sim.config.apps[body.appid] = App(body.appid, body.secret, body.mch_id)
        return {"appid": body.appid, "mch_id": body.mch_id}

    @api.get("/platform")
    async def platform() -> dict[str, Any]:
        """The platform's v3 keys: the WeChat Pay public key and its id (public-key mode), the
        certificate serial (certificate mode, also served encrypted by /v3/certificates)."""
        return {
            "public_key_pem": sim.platform.public_key_pem(),
            "public_key_id": sim.platform.public_key_id,
            "serial": sim.platform.serial,
            "certificate_pem": sim.platform.certificate_pem(),
            "mode": sim.platform_mode,
        }

    @api.put("/platform")
    async def set_platform_mode(body: PlatformMode) -> dict[str, Any]:
        """Sign notifications (and answers to requests naming no key) with the certificate, the
        public key, or either at random (``mixed``: WeChat's switch from one to the other)."""
        try:
            sim.set_platform_mode(body.mode)
        except ValueError as error:
            raise HTTPException(400, str(error)) from None
        return {"mode": sim.platform_mode}

    return api
