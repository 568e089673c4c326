"""The JSON bodies the simulator's v3 endpoints accept (SPEC §3.5, §3.6), as strict Pydantic models.

Strict: JSON types are taken as they are, never coerced (``"100"`` or ``true`` is not an amount,
``1.0`` neither). Unknown fields are tolerated (ignored), as the platform does: a body wrapped in
an unknown ``data`` member is refused for the *missing* ``appid`` it hides, not for the unknown
name (hpyer/node-easywechat#69), and SDKs send optional fields an endpoint may not list. A JSON
``null`` counts as absent for optional fields, as an empty string does for optional text.

:func:`param_error` words a validation failure the way the simulator's v3 PARAM_ERROR answers do:
``缺少参数…`` (missing), ``…参数类型错误`` (wrong JSON type), ``…参数长度有误`` (too long),
``…参数格式错误`` (anything else), naming the field by its path (``amount.total``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError

from silverpay.beijing import parse_rfc3339
from silverpay.errors import ProtocolError
from silverpay.sim import formats


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


def _utf8_max(limit: int) -> AfterValidator:
    def check(text: str) -> str:
        if formats.utf8_len(text) > limit:
            raise PydanticCustomError("utf8_too_long", "longer than {limit} UTF-8 bytes", {"limit": limit})
        return text

    return AfterValidator(check)


def _notify_url(url: str) -> str:
    if url and not formats.is_notify_url(url):
        raise PydanticCustomError("notify_url", "not a reachable http(s) URL without a query")
    return url


def _ip(text: str) -> str:
    if text and not formats.is_ip(text):
        raise PydanticCustomError("ip", "not an IP address")
    return text


def _rfc3339(text: str) -> str:
    if text:
        try:
            parse_rfc3339(text)
        except ProtocolError:
            raise PydanticCustomError("rfc3339", "not an RFC 3339 time with an offset") from None
    return text


Text = Annotated[str, Field(min_length=1)]  # required: "" counts as missing
Fen = Annotated[int, Field(ge=1, le=formats.MAX_FEN)]
NotifyUrl = Annotated[str, _utf8_max(256), AfterValidator(_notify_url)]  # "" passes: required ones are Text


# POST /v3/pay/transactions/jsapi ------------------------------------------------------------


class OrderAmount(Strict):
    total: Fen
    currency: Literal["CNY"] | None = None


class Payer(Strict):
    openid: Annotated[Text, _utf8_max(128)]


class SceneInfo(Strict):
    payer_client_ip: Annotated[str, AfterValidator(_ip)] | None = None
    device_id: str | None = None
    store_info: dict[str, Any] | None = None


class SettleInfo(Strict):
    profit_sharing: bool | None = None


class JsapiOrder(Strict):
    appid: Annotated[Text, _utf8_max(32)]
    mchid: Annotated[Text, _utf8_max(32)]
    description: Annotated[Text, _utf8_max(127)]
    out_trade_no: Annotated[Text, Field(max_length=32, pattern=formats.OUT_TRADE_NO_PATTERN)]
    notify_url: Annotated[Text, _utf8_max(256), AfterValidator(_notify_url)]
    amount: OrderAmount
    payer: Payer
    time_expire: Annotated[str, AfterValidator(_rfc3339)] | None = None
    attach: Annotated[str, _utf8_max(128)] | None = None
    goods_tag: Annotated[str, _utf8_max(32)] | None = None
    support_fapiao: bool | None = None
    detail: dict[str, Any] | None = None
    scene_info: SceneInfo | None = None
    settle_info: SettleInfo | None = None


class CloseOrder(Strict):
    mchid: Annotated[Text, _utf8_max(32)]


# POST /v3/refund/domestic/refunds -----------------------------------------------------------


class RefundAmount(Strict):
    refund: Fen
    total: Fen
    currency: Literal["CNY"] | None = None
    from_: list[dict[str, Any]] | None = Field(None, alias="from")


class RefundRequest(Strict):
    transaction_id: str | None = None
    out_trade_no: str | None = None
    out_refund_no: Annotated[Text, Field(max_length=64, pattern=formats.OUT_REFUND_NO_PATTERN)]
    reason: Annotated[str, _utf8_max(80)] | None = None
    notify_url: NotifyUrl | None = None
    funds_account: str | None = None
    amount: RefundAmount
    goods_detail: list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _names_a_trade(self) -> RefundRequest:
        if not self.transaction_id and not self.out_trade_no:
            raise PydanticCustomError("wechat_message", "transaction_id和out_trade_no不能同时为空")
        return self


# Errors ------------------------------------------------------------------------------------


def _path(error: ErrorDetails) -> str:
    return ".".join(str(part) for part in error["loc"])


def param_error(error: ValidationError) -> tuple[str, dict[str, Any] | None]:
    """The message and detail of the PARAM_ERROR answering the first error of ``error``."""
    first = error.errors(include_url=False)[0]
    kind, path = first["type"], _path(first)
    detail = {"field": "/" + path.replace(".", "/"), "location": "body"} if path else None
    if kind == "wechat_message":
        return first["msg"], None
    if kind in ("missing", "string_too_short") or first.get("input", "") is None:
        return f"缺少参数{path}", detail
    if kind.endswith("_type"):  # string_type, int_type, model_type, …
        return f"{path}参数类型错误", detail
    if kind in ("string_too_long", "utf8_too_long"):
        return f"{path}参数长度有误", detail
    return f"{path}参数格式错误", detail
