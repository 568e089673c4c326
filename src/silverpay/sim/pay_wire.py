"""The HTTP face of the v2 pay API: decode, verify, inject faults, apply a rule, sign the answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from fastapi import APIRouter, Request, Response

from silverpay.errors import SignatureError, XmlError
from silverpay.request_body import read_capped
from silverpay.sim import bill_rules, pay_rules, refund_rules
from silverpay.sim.config import Merchant, SimConfig
from silverpay.sim.pay_rules import BizFail, CommFail
from silverpay.sim.simulator import Simulator
from silverpay.sim.state import SimState
from silverpay.wechat.v2 import signing, xml
from silverpay.wechat.v2.signing import SignType

Rule = Callable[[SimConfig, SimState, dict[str, str], float], Mapping[str, object]]


def _xml_response(params: Mapping[str, object]) -> Response:
    return Response(xml.encode(params), media_type="text/xml")


def comm_fail(return_msg: str) -> Response:
    """``return_code=FAIL``: WeChat does not sign these (SPEC §2.1)."""
    return _xml_response({"return_code": "FAIL", "return_msg": return_msg})


def signed_answer(
    fields: Mapping[str, str], api_key: str, sign_type: SignType, business: Mapping[str, object]
) -> Response:
    params: dict[str, object] = {
        "return_code": "SUCCESS",
        "return_msg": "OK",
        "appid": fields.get("appid"),
        "mch_id": fields["mch_id"],
        "nonce_str": signing.nonce_str(),
        **business,
    }
    params = {k: v for k, v in params.items() if v is not None and v != ""}
    params["sign"] = signing.sign(params, api_key, sign_type)
    return _xml_response(params)


def _failure(err_code: str, des: str) -> dict[str, object]:
    return {"result_code": "FAIL", "err_code": err_code, "err_code_des": des}


async def authenticate(sim: Simulator, request: Request) -> tuple[dict[str, str], Merchant, SignType] | Response:
    """Faults, body, merchant and signature: what every v2 pay call goes through first."""
    faults = sim.injector.faults
    if faults.api_latency_s:
        await asyncio.sleep(faults.api_latency_s)
    if sim.injector.roll(faults.api_hang_rate):
        await asyncio.sleep(faults.api_hang_s)
    try:
        fields = xml.decode(await read_capped(request))
    except XmlError:
        return comm_fail("XML格式错误")
    merchant = sim.merchant(fields.get("mch_id", ""))
    if merchant is None:
        return comm_fail("mch_id参数格式错误" if fields.get("mch_id") else "缺少参数mch_id")
    if not fields.get("appid"):
        return comm_fail("缺少参数appid")
    try:
        sign_type = signing.verify(fields, merchant.api_key)
    except SignatureError:
        return comm_fail("签名错误,请检查后再试")
    return fields, merchant, sign_type


async def handle(sim: Simulator, request: Request, rule: Rule) -> Response:
    checked = await authenticate(sim, request)
    if isinstance(checked, Response):
        return checked
    fields, merchant, sign_type = checked
    faults = sim.injector.faults
    system_error = sim.injector.roll(faults.api_error_rate)
    if system_error and not faults.api_error_after_effect:
        return signed_answer(fields, merchant.api_key, sign_type, _failure("SYSTEMERROR", "系统超时"))
    try:
        business = {"result_code": "SUCCESS", **rule(sim.config, sim.state, fields, sim.clock.now())}
    except CommFail as fail:
        return comm_fail(fail.return_msg)
    except BizFail as fail:
        business = _failure(fail.err_code, fail.err_code_des)
    if system_error:  # the call took effect, but the caller is told it may not have
        business = _failure("SYSTEMERROR", "系统超时")
    return signed_answer(fields, merchant.api_key, sign_type, business)


def router(sim: Simulator) -> APIRouter:
    api = APIRouter(tags=["WeChat Pay v2"])

    @api.post("/pay/unifiedorder")
    async def unifiedorder(request: Request) -> Response:
        return await handle(sim, request, pay_rules.unified_order)

    @api.post("/pay/orderquery")
    async def orderquery(request: Request) -> Response:
        return await handle(sim, request, pay_rules.order_query)

    @api.post("/pay/closeorder")
    async def closeorder(request: Request) -> Response:
        return await handle(sim, request, pay_rules.close_order)

    @api.post("/secapi/pay/refund")
    async def refund(request: Request) -> Response:
        # The platform requires the merchant's client certificate here; the simulator speaks plain HTTP.
        faults = sim.injector.faults

        def rule(config: SimConfig, state: SimState, fields: dict[str, str], now: float) -> dict[str, object]:
            return refund_rules.refund(config, state, fields, now, outcome=faults.refund_outcome,
                                       delay_s=faults.refund_delay_s)  # fmt: skip

        return await handle(sim, request, rule)

    @api.post("/pay/refundquery")
    async def refundquery(request: Request) -> Response:
        sim.finish_refunds()
        return await handle(sim, request, refund_rules.refund_query)

    @api.post("/pay/downloadbill")
    async def downloadbill(request: Request) -> Response:
        checked = await authenticate(sim, request)
        if isinstance(checked, Response):
            return checked
        fields = checked[0]
        try:
            data = bill_rules.download_bill(sim.state, fields, sim.clock.now(), sim.config)
        except CommFail as fail:
            return comm_fail(fail.return_msg)
        except bill_rules.NoBill as none:
            return _xml_response({"return_code": "FAIL", "return_msg": none.return_msg, "error_code": none.error_code})
        gzipped = fields.get("tar_type") == "GZIP"
        return Response(data, media_type="application/octet-stream" if gzipped else "text/plain; charset=utf-8")

    return api
