"""Who is calling a v3 endpoint: the ``Authorization`` header checked as WeChat checks it (SPEC §3.1).

The signed URL is the request line's raw path and query, not a re-encoded one: a client that signs
``/v3/…/out-trade-no/A%7CB`` must be checked against exactly those bytes. Timestamps are checked
against wall-clock time (see :mod:`silverpay.sim.platform`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.types import Scope

from silverpay.errors import ConfigError, SignatureError
from silverpay.sim.config import Merchant, SimConfig
from silverpay.sim.v3_json import V3Fail
from silverpay.wechat.v3.keys import load_public_key
from silverpay.wechat.v3.signing import MAX_SKEW_S, Authorization, Failure, Verifier

SIGN_ERROR_MESSAGE = "签名错误，请检查后再试"
STALE_MESSAGE = "Http头Authorization中的timestamp与发起请求的时间不得超过5分钟"


def signed_url(scope: Scope) -> str:
    """Path and query exactly as the request line carried them.

    ASGI's ``raw_path`` is the path alone on uvicorn, but path and query on httpx's ASGI
    transport; the query is appended only when it is not there already.
    """
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string", b"")
    if query and b"?" not in raw:
        raw += b"?" + query
    return raw.decode("latin-1")


@functools.lru_cache(maxsize=64)
def _verifier(serial: str, public_key_pem: str) -> Verifier:
    return Verifier({serial: load_public_key(public_key_pem)}, max_skew_s=MAX_SKEW_S)


def _sign_error(message: str, detail: dict[str, object] | None = None) -> V3Fail:
    return V3Fail(401, "SIGN_ERROR", message, detail)


@dataclass(frozen=True)
class Caller:
    merchant: Merchant
    auth: Authorization


def authenticate(
    config: SimConfig,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    wall: Callable[[], float] = time.time,
) -> Caller:
    """The merchant whose key signed this request, or :class:`V3Fail` (401 ``SIGN_ERROR``, or
    400 ``MCH_NOT_EXISTS`` for a merchant the platform does not know)."""
    try:
        auth = Authorization.parse(headers.get("authorization"))
    except SignatureError:
        raise _sign_error("Http头Authorization值格式错误，请参考《微信支付商户REST API签名规则》") from None
    merchant = config.merchants.get(auth.mchid)
    if merchant is None:
        raise V3Fail(400, "MCH_NOT_EXISTS", "商户号不存在")
    if not merchant.has_v3:
        raise _sign_error("商户未配置API证书，无法使用APIv3")
    try:
        verifier = _verifier(merchant.mch_serial, merchant.mch_public_key_pem)
    except ConfigError:
        raise _sign_error("商户API证书无效") from None
    try:
        verifier.verify_request(headers.get("authorization"), method=method, url=url, body=body, now=wall(),
                                mchid=merchant.mch_id)  # fmt: skip
    except SignatureError as refused:
        if refused.code == Failure.STALE:
            raise _sign_error(STALE_MESSAGE) from None
        if refused.code == Failure.UNKNOWN_SERIAL:
            raise _sign_error("商户证书序列号有误。请使用签名私钥匹配的证书序列号") from None
        # The shape of WeChat's answer (SPEC §3.1), without echoing the signed message back.
        raise _sign_error(SIGN_ERROR_MESSAGE, {"field": "signature", "location": "authorization",
                                               "detail": {"issue": "sign not match"}}) from None  # fmt: skip
    return Caller(merchant, auth)
