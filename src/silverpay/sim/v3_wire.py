"""The HTTP face of the v3 pay API: authenticate, inject faults, apply a rule, sign the answer.

Every answer, errors included, is signed with the platform key under the name the request asked
for in ``Wechatpay-Serial`` (else the platform mode's, see :meth:`Simulator.signing_serial`);
``/v3/certificates`` is always signed under the certificate it carries, so a merchant with no key
yet can check it. Bill files are not signed (their hash is in the signed ``tradebill`` answer), as
on the platform.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response

from silverpay.errors import ProtocolError, XmlError
from silverpay.request_body import read_capped
from silverpay.sim import v3_json, v3_models
from silverpay.sim.core import bills, refunds, trades
from silverpay.sim.core.commands import RefundQuery, TradeRef
from silverpay.sim.core.failures import RuleFailure
from silverpay.sim.simulator import Simulator
from silverpay.sim.v2_codes import REFUND_STATUS_OF
from silverpay.sim.v3_auth import Caller, authenticate, signed_url
from silverpay.sim.v3_json import BillFile, V3Fail
from silverpay.wechat.v3.certificates import certificates_body
from silverpay.wechat.v3.error_map import error_body
from silverpay.wechat.v3.json_body import dumps, loads_object
from silverpay.wechat.v3.signing import HEADER_SERIAL

JSON = "application/json"
# What a rule gets: the caller and the parsed body; what it gives: the JSON answer, None for 204.
Rule = Callable[[Caller, dict[str, Any]], dict[str, Any] | None]


def _requested_serial(request: Request) -> str | None:
    return request.headers.get(HEADER_SERIAL)


def signed(sim: Simulator, request: Request, status: int, body: bytes, *, serial: str | None = None) -> Response:
    chosen = serial or sim.signing_serial(_requested_serial(request))
    headers = {**sim.platform.headers(body, serial=chosen), "Request-ID": secrets.token_hex(16)}
    if sim.injector.roll(sim.injector.faults.api_bad_signature_rate):
        # Fault: the answer as a tamperer would leave it, signed for other bytes.
        headers.update(sim.platform.headers(body + b" ", serial=chosen))
    if status == 204:
        return Response(status_code=204, headers=headers)
    return Response(body, status_code=status, headers=headers, media_type=JSON)


def failure(sim: Simulator, request: Request, fail: V3Fail) -> Response:
    return signed(sim, request, fail.status, error_body(fail.code, fail.message, fail.detail))


async def _faults(sim: Simulator) -> None:
    faults = sim.injector.faults
    if faults.api_latency_s:
        await asyncio.sleep(faults.api_latency_s)
    if sim.injector.roll(faults.api_hang_rate):
        await sim.injector.hang(faults.api_hang_s)


def _check_serial(sim: Simulator, request: Request) -> None:
    # The serial names the platform key sensitive fields were encrypted for; one the platform does
    # not have is refused (SPEC §3.2, and the public-key switch guide: send it on every request).
    requested = _requested_serial(request)
    if requested and not sim.platform.names(requested):
        raise V3Fail(400, "PARAM_ERROR", "Wechatpay-Serial 对应的平台证书或公钥不存在")


async def handle(sim: Simulator, request: Request, rule: Rule) -> Response:
    """Faults, body, signature, then the rule; ``SYSTEM_ERROR`` before or after it as injected."""
    await _faults(sim)
    try:
        raw = await read_capped(request)
    except XmlError:
        return failure(sim, request, V3Fail(400, "PARAM_ERROR", "请求体过大"))
    try:
        caller = authenticate(sim.config, method=request.method, url=signed_url(request.scope),
                              headers=request.headers, body=raw)  # fmt: skip
        _check_serial(sim, request)
        body = loads_object(raw, what="请求体") if raw else {}
    except V3Fail as fail:
        return failure(sim, request, fail)
    except ProtocolError:
        return failure(sim, request, V3Fail(400, "PARAM_ERROR", "请求体不是合法的JSON对象"))
    faults = sim.injector.faults
    system_error = sim.injector.roll(faults.api_error_rate)
    busy = V3Fail(500, "SYSTEM_ERROR", "系统繁忙，请稍后重试")
    if system_error and not faults.api_error_after_effect:
        return failure(sim, request, busy)
    try:
        answer = rule(caller, body)
    except RuleFailure as fail:
        return failure(sim, request, v3_json.failure(fail))
    except V3Fail as fail:
        return failure(sim, request, fail)
    if system_error:  # the call took effect, but the caller is told it may not have
        return failure(sim, request, busy)
    return signed(sim, request, 204, b"") if answer is None else signed(sim, request, 200, dumps(answer))


def router(sim: Simulator) -> APIRouter:
    api = APIRouter(tags=["WeChat Pay v3"])
    config, state, now = sim.config, sim.state, sim.clock.now

    @api.post("/v3/pay/transactions/jsapi")
    async def jsapi(request: Request) -> Response:
        def rule(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
            cmd = v3_json.prepay(v3_json.parse(v3_models.JsapiOrder, body), caller.merchant.mch_id)
            return {"prepay_id": trades.prepay(config, state, cmd, now()).prepay_id}

        return await handle(sim, request, rule)

    @api.get("/v3/pay/transactions/out-trade-no/{out_trade_no}")
    async def query(request: Request, out_trade_no: str, mchid: str = "") -> Response:
        def rule(caller: Caller, _: dict[str, Any]) -> dict[str, Any]:
            ref = v3_json.query_ref(caller.merchant.mch_id, mchid, out_trade_no=out_trade_no)
            return v3_json.transaction_json(trades.query(config, state, ref))

        return await handle(sim, request, rule)

    @api.get("/v3/pay/transactions/id/{transaction_id}")
    async def query_by_id(request: Request, transaction_id: str, mchid: str = "") -> Response:
        def rule(caller: Caller, _: dict[str, Any]) -> dict[str, Any]:
            ref = v3_json.query_ref(caller.merchant.mch_id, mchid, transaction_id=transaction_id)
            return v3_json.transaction_json(trades.query(config, state, ref))

        return await handle(sim, request, rule)

    @api.post("/v3/pay/transactions/out-trade-no/{out_trade_no}/close", status_code=204)
    async def close(request: Request, out_trade_no: str) -> Response:
        def rule(caller: Caller, body: dict[str, Any]) -> None:
            mch_id = caller.merchant.mch_id
            v3_json.same_merchant(v3_json.parse(v3_models.CloseOrder, body).mchid, mch_id)
            trades.close(config, state, TradeRef(mch_id, out_trade_no=out_trade_no), now())  # 204 if ignored

        return await handle(sim, request, rule)

    @api.post("/v3/refund/domestic/refunds")
    async def refund(request: Request) -> Response:
        def rule(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
            cmd = v3_json.refund(v3_json.parse(v3_models.RefundRequest, body), caller.merchant.mch_id)
            faults = sim.injector.faults
            accepted = refunds.refund(config, state, cmd, now(), outcome=REFUND_STATUS_OF[faults.refund_outcome],
                                      delay_s=faults.refund_delay_s)  # fmt: skip
            return v3_json.refund_json(accepted)

        return await handle(sim, request, rule)

    @api.get("/v3/refund/domestic/refunds/{out_refund_no}")
    async def refund_query(request: Request, out_refund_no: str) -> Response:
        sim.finish_refunds()

        def rule(caller: Caller, _: dict[str, Any]) -> dict[str, Any]:
            found = refunds.query(config, state, RefundQuery(caller.merchant.mch_id, out_refund_no=out_refund_no))
            return v3_json.refund_json(found.refunds[0])

        return await handle(sim, request, rule)

    @api.get("/v3/certificates")
    async def certificates(request: Request) -> Response:
        """The platform certificate, encrypted with the caller's APIv3 key (SPEC §3.2)."""
        await _faults(sim)
        try:
            caller = authenticate(sim.config, method="GET", url=signed_url(request.scope), headers=request.headers,
                                  body=await read_capped(request))  # fmt: skip
        except V3Fail as fail:
            return failure(sim, request, fail)
        body = certificates_body([sim.platform.certificate], caller.merchant.api_v3_key)
        return signed(sim, request, 200, body, serial=sim.platform.serial)

    @api.get("/v3/bill/tradebill")
    async def tradebill(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")

        def rule(caller: Caller, _: dict[str, Any]) -> dict[str, Any]:
            req, gzipped = v3_json.bill_request(caller.merchant.mch_id, request.query_params)
            text = bills.bill_text(config, state, req, now())
            bill = BillFile(req.mch_id, text.encode(), gzipped, now() + v3_json.BILL_URL_TTL_S)
            for stale in [t for t, f in sim.bill_files.items() if f.expires_at < now()]:
                del sim.bill_files[stale]
            token = secrets.token_urlsafe(24)
            sim.bill_files[token] = bill
            return v3_json.bill_answer(bill, f"{base}/v3/billdownload/file?token={token}")

        return await handle(sim, request, rule)

    @api.get("/v3/billdownload/file")
    async def billdownload(request: Request, token: str = "") -> Response:
        """The file behind a ``download_url``: signed request, unsigned answer, 30 s to fetch it."""
        try:
            caller = authenticate(sim.config, method="GET", url=signed_url(request.scope), headers=request.headers,
                                  body=await read_capped(request))  # fmt: skip
        except V3Fail as fail:
            return failure(sim, request, fail)
        bill = sim.bill_files.get(token)
        if bill is None or bill.mch_id != caller.merchant.mch_id or now() > bill.expires_at:
            return failure(sim, request, V3Fail(400, "INVALID_REQUEST", "账单下载链接无效或已过期"))
        return Response(bill.content(), media_type="application/octet-stream")

    return api
