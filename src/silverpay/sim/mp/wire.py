"""The HTTP face of the mini-program platform: ``/cgi-bin/stable_token``, the legacy
``/cgi-bin/token`` and ``/wxa/sec/order/*``, answering ``{"errcode","errmsg",…}`` as WeChat does.

Faults on the shipping calls (``PUT /sim/v1/faults``): ``shipping_hang_rate`` (+ ``shipping_hang_s``,
``shipping_hang_after_effect``: the call lands, then the answer hangs), ``shipping_error_rate`` (-1)
and ``mp_token_error_rate`` (40001), both without effect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from silverpay.errors import ProtocolError, XmlError
from silverpay.request_body import read_capped
from silverpay.sim.mp import errors as e
from silverpay.sim.mp import tokens
from silverpay.sim.mp.errors import MpError
from silverpay.sim.mp.shipping import int_field, parse_ref, parse_upload, str_field
from silverpay.sim.simulator import Simulator
from silverpay.wechat.v3.json_body import loads_object

MEDIA_TYPE = "application/json; encoding=utf-8"  # what api.weixin.qq.com sends
OK: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}


def answer(document: dict[str, Any]) -> JSONResponse:
    return JSONResponse(document, media_type=MEDIA_TYPE)


async def json_body(request: Request) -> dict[str, Any]:
    try:
        return loads_object(await read_capped(request), what="request")
    except (ProtocolError, XmlError):
        raise MpError(e.DATA_FORMAT_ERROR, "data format error") from None


def router(sim: Simulator) -> APIRouter:
    api = APIRouter(tags=["WeChat mini-program platform"])
    mp, shipping = sim.mp_state, sim.shipping

    @api.post("/cgi-bin/stable_token")
    async def stable_token(request: Request) -> JSONResponse:
        """getStableAccessToken: normal mode answers the current token; ``force_refresh`` renews it."""
        try:
            body = await json_body(request)
            force = body.get("force_refresh", False)
            if not isinstance(force, bool):
                raise MpError(e.DATA_FORMAT_ERROR, "data format error: force_refresh must be a boolean")
            appid = str_field(body, "appid")
            tokens.check_credentials(sim.config, appid, str_field(body, "secret"), str_field(body, "grant_type"))
            token, expires_in = tokens.stable_token(mp, appid, sim.clock.now(), force_refresh=force)
        except MpError as refused:
            return answer(refused.body())
        return answer({"access_token": token, "expires_in": expires_in})

    @api.get("/cgi-bin/token")
    async def legacy_token(request: Request) -> JSONResponse:
        """getAccessToken, imitated to show why silverpay never calls it: each call replaces the
        token, and the replaced one stops working 5 minutes later, in every process holding it."""
        q = request.query_params
        try:
            tokens.check_credentials(sim.config, q.get("appid", ""), q.get("secret", ""), q.get("grant_type", ""))
            token, expires_in = tokens.legacy_token(mp, q["appid"], sim.clock.now())
        except MpError as refused:
            return answer(refused.body())
        return answer({"access_token": token, "expires_in": expires_in})

    def upload(appid: str, body: dict[str, Any], now: float) -> dict[str, Any]:
        shipping.upload(appid, parse_upload(body), now)
        return OK

    def get_order(appid: str, body: dict[str, Any], now: float) -> dict[str, Any]:
        return {**OK, "order": shipping.order_json(shipping.payment(appid, parse_ref(body), now))}

    def get_order_list(appid: str, body: dict[str, Any], now: float) -> dict[str, Any]:
        return {**OK, **shipping.orders(appid, body, now)}

    def is_trade_managed(appid: str, body: dict[str, Any], now: float) -> dict[str, Any]:
        asked = str_field(body, "appid")
        if asked not in sim.config.apps:
            raise MpError(e.INVALID_APPID, "invalid appid")
        return {**OK, "is_trade_managed": mp.app(asked).trade_managed}

    def notify_confirm_receive(appid: str, body: dict[str, Any], now: float) -> dict[str, Any]:
        shipping.notify_confirm_receive(appid, parse_ref(body), int_field(body, "received_time"), now)
        return OK

    calls: dict[str, Callable[[str, dict[str, Any], float], dict[str, Any]]] = {
        "upload_shipping_info": upload,
        "get_order": get_order,
        "get_order_list": get_order_list,
        "is_trade_managed": is_trade_managed,
        "notify_confirm_receive": notify_confirm_receive,
    }

    @api.post("/wxa/sec/order/{name}")
    async def order_api(name: str, request: Request) -> JSONResponse:
        """Shipping-info management: upload_shipping_info, get_order, get_order_list,
        is_trade_managed, notify_confirm_receive (the others answer 40066)."""
        faults, injector = sim.injector.faults, sim.injector
        hang = injector.roll(faults.shipping_hang_rate)
        if hang and not faults.shipping_hang_after_effect:
            await injector.hang(faults.shipping_hang_s)
        try:
            call = calls.get(name)
            if call is None:
                raise MpError(40066, "invalid url")
            if injector.roll(faults.shipping_error_rate):
                raise MpError(e.SYSTEM_BUSY, "system error")
            if injector.roll(faults.mp_token_error_rate):
                raise MpError(e.INVALID_CREDENTIAL, "invalid credential, access_token is invalid or not latest")
            now = sim.clock.now()
            appid = tokens.appid_of(mp, request.query_params.get("access_token", ""), now)
            result = call(appid, await json_body(request), now)
        except MpError as refused:
            result = refused.body()
        if hang and faults.shipping_hang_after_effect:
            await injector.hang(faults.shipping_hang_s)  # it landed; the caller will not hear so in time
        return answer(result)

    return api
