"""The HTTP face of the v2 pay API: decode, verify, inject faults, apply a rule, sign the answer."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable, Mapping

from fastapi import APIRouter, Request, Response

from silverpay.errors import SignatureError, XmlError
from silverpay.request_body import read_capped
from silverpay.sim import v2_fields as v2
from silverpay.sim.config import Merchant
from silverpay.sim.core import bills, refunds, trades
from silverpay.sim.core.commands import BillRequest
from silverpay.sim.core.failures import RuleFailure
from silverpay.sim.simulator import Simulator
from silverpay.sim.v2_codes import BILL_ERRORS, REFUND_STATUS_OF
from silverpay.sim.v2_fields import CommFail, Fields
from silverpay.wechat.v2 import signing, xml
from silverpay.wechat.v2.signing import SignType

# What a route does with a checked request: the business fields of its answer.
Rule = Callable[[Fields, SignType], Mapping[str, object]]


def _xml_response(params: Mapping[str, object]) -> Response:
    return Response(xml.encode(params), media_type="text/xml")


def comm_fail(return_msg: str) -> Response:
    """``return_code=FAIL``: WeChat does not sign these (SPEC §2.1)."""
    return _xml_response({"return_code": "FAIL", "return_msg": return_msg})


def signed_answer(fields: Fields, api_key: str, sign_type: SignType, business: Mapping[str, object]) -> Response:
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


SYSTEM_ERROR: dict[str, object] = {"result_code": "FAIL", "err_code": "SYSTEMERROR", "err_code_des": "系统超时"}


async def authenticate(sim: Simulator, request: Request) -> tuple[Fields, Merchant, SignType] | Response:
    """Faults, body, merchant and signature: what every v2 pay call goes through first."""
    faults = sim.injector.faults
    if faults.api_latency_s:
        await asyncio.sleep(faults.api_latency_s)
    if sim.injector.roll(faults.api_hang_rate):
        await sim.injector.hang(faults.api_hang_s)
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
        return signed_answer(fields, merchant.api_key, sign_type, SYSTEM_ERROR)
    try:
        business = {"result_code": "SUCCESS", **rule(fields, sign_type)}
    except CommFail as fail:
        return comm_fail(fail.return_msg)
    except RuleFailure as fail:
        business = v2.failure(fail)
    if system_error:  # the call took effect, but the caller is told it may not have
        business = SYSTEM_ERROR
    return signed_answer(fields, merchant.api_key, sign_type, business)


def router(sim: Simulator) -> APIRouter:
    api = APIRouter(tags=["WeChat Pay v2"])
    config, state, now = sim.config, sim.state, sim.clock.now

    def prepay(fields: Fields, sign_type: SignType) -> dict[str, object]:
        return v2.prepaid(trades.prepay(config, state, v2.prepay(fields, sign_type), now()))

    def query(fields: Fields, _: SignType) -> dict[str, object]:
        return v2.trade_answer(trades.query(config, state, v2.trade_ref(fields)))

    def refund_query(fields: Fields, _: SignType) -> dict[str, object]:
        return v2.refunds_answer(refunds.query(config, state, v2.refund_query(fields)))

    @api.post("/pay/unifiedorder")
    async def unifiedorder(request: Request) -> Response:
        return await handle(sim, request, prepay)

    @api.post("/pay/orderquery")
    async def orderquery(request: Request) -> Response:
        return await handle(sim, request, query)

    @api.post("/pay/closeorder")
    async def closeorder(request: Request) -> Response:
        def rule(fields: Fields, _: SignType) -> dict[str, object]:
            trades.check_app(config, fields["mch_id"], fields["appid"])
            trades.close(config, state, v2.close_ref(fields), now())
            return {"result_msg": "OK"}  # also when ignored in the first five minutes (SPEC §2.6)

        return await handle(sim, request, rule)

    @api.post("/secapi/pay/refund")
    async def refund(request: Request) -> Response:
        # The platform requires the merchant's client certificate here; the simulator speaks plain HTTP.
        def rule(fields: Fields, _: SignType) -> dict[str, object]:
            trades.check_app(config, fields["mch_id"], fields["appid"])  # before the fields, as WeChat does
            faults = sim.injector.faults
            outcome = REFUND_STATUS_OF[faults.refund_outcome]
            accepted = refunds.refund(config, state, v2.refund(fields), now(), outcome=outcome,
                                      delay_s=faults.refund_delay_s)  # fmt: skip
            return v2.refund_answer(accepted)

        return await handle(sim, request, rule)

    @api.post("/pay/refundquery")
    async def refundquery(request: Request) -> Response:
        sim.finish_refunds()
        return await handle(sim, request, refund_query)

    @api.post("/pay/downloadbill")
    async def downloadbill(request: Request) -> Response:
        checked = await authenticate(sim, request)
        if isinstance(checked, Response):
            return checked
        fields = checked[0]
        try:
            req = BillRequest(fields["mch_id"], v2.bill_day(fields), v2.bill_type(fields), appid=fields["appid"])
            text = bills.bill_text(config, state, req, now())
        except CommFail as fail:
            return comm_fail(fail.return_msg)
        except RuleFailure as fail:
            return_msg, error_code = BILL_ERRORS.get(fail.reason, (fail.message, "20001"))
            return _xml_response({"return_code": "FAIL", "return_msg": return_msg, "error_code": error_code})
        if fields.get("tar_type") == "GZIP":
            return Response(gzip.compress(text.encode()), media_type="application/octet-stream")
        return Response(text.encode(), media_type="text/plain; charset=utf-8")

    return api
