"""Control API for the mini-program platform, under /sim/v1: push settings, shipping management on
or off, the buyer's receipt confirmation, and a look at a payment's shipping."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from silverpay.errors import ConfigError
from silverpay.sim.mp import errors as e
from silverpay.sim.mp.errors import MpError
from silverpay.sim.mp.pushes import original_id
from silverpay.sim.mp.store import AppSettings
from silverpay.sim.simulator import Simulator
from silverpay.sim.state import Trade
from silverpay.wechat.miniapp.push import aes_key


class PushSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=512, description="where pushes go (http or https)")
    token: str = Field(min_length=3, max_length=32, description="the Token (令牌) signatures are made with")
    aes_key: str = Field("", description="EncodingAESKey, 43 characters; required in safe mode")
    mode: Literal["plain", "safe"] = "plain"
    format: Literal["json", "xml"] = "json"
    original_id: str = Field("", max_length=32, description="ToUserName (gh_…); default derived from the appid")


class TradeManaged(BaseModel):
    managed: bool


class ConfirmReceipt(BaseModel):
    """Name the payment by transaction_id, or by mch_id + out_trade_no (as weappOrderConfirm's extraData)."""

    model_config = ConfigDict(extra="forbid")

    transaction_id: str = ""
    mch_id: str = ""
    out_trade_no: str = ""


def _public(app: AppSettings) -> dict[str, Any]:
    return {
        "appid": app.appid, "trade_managed": app.trade_managed, "push_url": app.push_url,
        "push_mode": app.push_mode, "push_format": app.push_format, "original_id": original_id(app),
        "has_token": bool(app.push_token), "has_aes_key": bool(app.push_aes_key),
    }  # fmt: skip


def router(sim: Simulator) -> APIRouter:
    api = APIRouter(prefix="/sim/v1", tags=["simulator control: mini-program platform"])
    mp, shipping = sim.mp_state, sim.shipping

    def known(appid: str) -> AppSettings:
        if appid not in sim.config.apps:
            raise HTTPException(404, f"unknown appid {appid}")
        return mp.app(appid)

    def find(body: ConfirmReceipt) -> Trade:
        if body.transaction_id:
            trade = sim.state.trade_by_transaction(body.transaction_id)
        elif body.mch_id and body.out_trade_no:
            trade = sim.state.trade(body.mch_id, body.out_trade_no)
        else:
            raise HTTPException(400, "name the payment by transaction_id or mch_id + out_trade_no")
        if trade is None or not trade.trade_state.paid:
            raise HTTPException(404, "no such payment")
        return trade

    @api.get("/apps/{appid}/push")
    async def get_push(appid: str) -> dict[str, Any]:
        return _public(known(appid))

    @api.put("/apps/{appid}/push")
    async def put_push(appid: str, body: PushSettings) -> dict[str, Any]:
        """Configure the mini-program's message push (消息推送): URL, Token, EncodingAESKey, mode, format."""
        app = known(appid)
        if urlsplit(body.url).scheme not in ("http", "https") or not urlsplit(body.url).netloc:
            raise HTTPException(400, "url must be http(s)://host/…")
        if body.mode == "safe" or body.aes_key:
            try:
                aes_key(body.aes_key)
            except ConfigError as error:
                raise HTTPException(400, error.message) from None
        app.push_url, app.push_token, app.push_aes_key = body.url, body.token, body.aes_key
        app.push_mode, app.push_format, app.original_id = body.mode, body.format, body.original_id
        mp.save_app(app)
        return _public(app)

    @api.delete("/apps/{appid}/push")
    async def delete_push(appid: str) -> dict[str, Any]:
        app = known(appid)
        app.push_url, app.push_token, app.push_aes_key = "", "", ""
        mp.save_app(app)
        return _public(app)

    @api.put("/apps/{appid}/trade-managed")
    async def put_trade_managed(appid: str, body: TradeManaged) -> dict[str, Any]:
        """What ``is_trade_managed`` answers for the app (default true)."""
        app = known(appid)
        app.trade_managed = body.managed
        mp.save_app(app)
        return _public(app)

    @api.post("/confirm-receipt")
    async def confirm_receipt(body: ConfirmReceipt) -> dict[str, Any]:
        """What the buyer does in ``wx.openBusinessView({businessType: 'weappOrderConfirm'})``:
        confirm receipt of a shipped payment; it settles (and is pushed) per ``settlement_delay_s``."""
        trade = find(body)
        try:
            shipping.confirm_receipt(trade, sim.clock.now())
        except MpError as refused:
            status = 409 if refused.errcode in (e.NOT_SHIPPABLE, e.INVALID_ARGS) else 400
            raise HTTPException(status, refused.errmsg) from None
        return shipping.order_json(trade)

    @api.get("/shipments/{transaction_id}")
    async def shipment(transaction_id: str) -> dict[str, Any]:
        """A payment as get_order answers it, with the platform's shipping record and history."""
        trade = sim.state.trade_by_transaction(transaction_id)
        if trade is None or not trade.trade_state.paid:
            raise HTTPException(404, "no such payment")
        record = mp.shipments.get(trade.key)
        return {"order": shipping.order_json(trade), "shipment": asdict(record) if record else None}

    return api
