"""The control API under /sim/v1: what tests, tools and the demo use to drive the platform."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from silverpay.sim.config import PLATFORM_MODES, App
from silverpay.sim.faults import Faults
from silverpay.sim.login import issue_code
from silverpay.sim.request_payment import PaymentRefused, PaymentSheet, request_payment
from silverpay.sim.simulator import Simulator
from silverpay.wechat.v2.times import iso_utc


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
