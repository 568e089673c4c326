"""Request and response bodies of the JSON API. Money fields are integer fen and end in ``_fen``.

Every id and every text field a request carries is one of the constrained types below, so no
value a database cannot store (an id past BIGINT, a NUL in a VARCHAR) gets past validation.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

MAX_ID = 2**63 - 1  # BIGINT's largest; every id column is a signed 64-bit integer
# C0 controls, DEL and C1 controls (Unicode category Cc). PostgreSQL refuses NUL in text outright.
CONTROL_CHARACTERS = r"\x00-\x1f\x7f-\x9f"
_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")


def _no_control_characters(value: str) -> str:
    if _CONTROL.search(value):
        raise PydanticCustomError("control_character", "must not contain control characters")
    return value


# An id in a body: out of range is a 422 like any invalid field.
Id = Annotated[int, Field(ge=1, le=MAX_ID, strict=True)]
# An id in a path: out of range names no resource, so api.errors answers 404 for it (not 422).
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
# Text in a request. The validator enforces the rule with a readable message; the pattern only
# documents it in the OpenAPI schema (so generated clients and fuzzers know it).
Text = Annotated[
    str,
    AfterValidator(_no_control_characters),
    Field(json_schema_extra={"pattern": f"^[^{CONTROL_CHARACTERS}]*$"}),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WxLoginRequest(Strict):
    code: Text = Field(min_length=1, max_length=128)
    nickname: Text | None = Field(None, max_length=64)
    avatar_url: Text | None = Field(None, max_length=512)


class UserOut(BaseModel):
    id: int
    nickname: str
    avatar_url: str


class WxLoginResponse(BaseModel):
    token: str
    expires_at: int = Field(description="epoch seconds")
    user: UserOut


class ProductOut(BaseModel):
    id: int
    name: str
    price_fen: int
    active: bool
    auto_ship_virtual: bool = False


class ProductCreate(Strict):
    name: Text = Field(min_length=1, max_length=100)
    price_fen: int = Field(gt=0, le=10_000_000_00, strict=True)
    active: bool = True
    auto_ship_virtual: bool = Field(False, description="virtual goods: shipping info uploaded on payment")


class ProductUpdate(Strict):
    name: Text | None = Field(None, min_length=1, max_length=100)
    price_fen: int | None = Field(None, gt=0, le=10_000_000_00, strict=True)
    active: bool | None = None
    auto_ship_virtual: bool | None = None


class OrderCreate(Strict):
    product_id: Id
    quantity: int = Field(1, ge=1, le=99, strict=True)


class OrderOut(BaseModel):
    id: int
    out_trade_no: str
    product_id: int | None
    quantity: int
    amount_fen: int
    description: str
    status: str
    created_at: str
    expires_at: str
    paid_at: str | None
    closed_at: str | None


class RefundCreate(Strict):
    amount_fen: int = Field(gt=0, le=10_000_000_00, strict=True)
    reason: Text = Field("", max_length=80)


class PayParamsOut(BaseModel):
    """Exactly the object ``wx.requestPayment`` takes."""

    timeStamp: str  # the mini-program API's own camelCase names
    nonceStr: str
    package: str
    signType: str
    paySign: str


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorBody


# The payments API (server-to-server) ----------------------------------------------------------

MERCHANT_ORDER_NO_PATTERN = r"^[A-Za-z0-9_\-|*@.]+$"
MerchantOrderNo = Annotated[str, Field(min_length=1, max_length=64, pattern=MERCHANT_ORDER_NO_PATTERN)]
MetadataKey = Annotated[Text, Field(min_length=1, max_length=40)]
MetadataValue = Annotated[Text, Field(max_length=500)]


class PaymentCreate(Strict):
    merchant_order_no: MerchantOrderNo
    amount_fen: int = Field(gt=0, le=10_000_000_00, strict=True)
    description: Text = Field(min_length=1, max_length=127)
    openid: Text | None = Field(None, min_length=1, max_length=128)
    user_id: Id | None = None
    expires_in_s: int | None = Field(None, ge=360, le=7 * 86400, strict=True)
    metadata: dict[MetadataKey, MetadataValue] | None = Field(None, max_length=20)


class PaymentOut(BaseModel):
    object: str
    id: int
    merchant_order_no: str
    out_trade_no: str
    amount_fen: int
    description: str
    status: str
    metadata: dict[str, str]
    user_id: int
    created_at: str
    expires_at: str
    paid_at: str | None
    closed_at: str | None


# Webhooks and events ------------------------------------------------------------------------------

EventType = Annotated[str, Field(pattern=r"^(\*|order\.paid|order\.closed|order\.needs_review|refund\.succeeded"
                                         r"|refund\.closed|refund\.needs_review|shipment\.shipped|shipment\.received"
                                         r"|shipment\.settled|shipment\.blocked)$")]  # fmt: skip
EndpointUrl = Annotated[str, Field(min_length=8, max_length=2048, pattern=r"^https?://[^\s\x00-\x1f\x7f]+$")]


class WebhookEndpointCreate(Strict):
    url: EndpointUrl
    events: list[EventType] = Field(min_length=1, max_length=10)
    description: Text = Field("", max_length=255)


class WebhookEndpointUpdate(Strict):
    url: EndpointUrl | None = None
    events: list[EventType] | None = Field(None, min_length=1, max_length=10)
    description: Text | None = Field(None, max_length=255)
    enabled: bool | None = None
    rotate_secret: bool = Field(False, description="a new secret (shown once); the old one signs too for 24 h")


class WebhookEndpointOut(BaseModel):
    id: int
    url: str
    events: list[str]
    description: str
    enabled: bool
    disabled_reason: str
    failing_since: str | None
    flagged_at: str | None
    created_at: str
    secret: str | None = Field(None, description="only when created or rotated")


# Shipments ---------------------------------------------------------------------------------------


class ContactIn(Strict):
    """Phone numbers masked except their last four digits (``189****1234``); SF Express needs one."""

    consignor: Text = Field("", max_length=32)
    receiver: Text = Field("", max_length=32)


class ParcelIn(Strict):
    item_desc: Text = Field(min_length=1, max_length=120)
    tracking_no: Text = Field("", max_length=128, description="express: required")
    express_company: Text = Field("", max_length=32, description="express: a get_delivery_list code (YTO, SF, …)")
    contact: ContactIn | None = None


class ShipmentCreate(Strict):
    logistics_type: int = Field(ge=1, le=4, strict=True, description="1 express, 2 same-city, 3 virtual, 4 pickup")
    delivery_mode: int = Field(1, ge=1, le=2, strict=True, description="1 unified (one parcel), 2 split (express)")
    is_all_delivered: bool | None = Field(None, strict=True, description="split delivery: is this the last parcel")
    parcels: list[ParcelIn] = Field(min_length=1, max_length=10)
    use_last_reship: bool = Field(
        False, strict=True, description="a change after shipping uses the payment's one re-ship: confirm it"
    )
