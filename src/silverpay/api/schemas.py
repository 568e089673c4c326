"""Request and response bodies of the JSON API. Money fields are integer fen and end in ``_fen``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WxLoginRequest(Strict):
    code: str = Field(min_length=1, max_length=128)
    nickname: str | None = Field(None, max_length=64)
    avatar_url: str | None = Field(None, max_length=512)


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


class ProductCreate(Strict):
    name: str = Field(min_length=1, max_length=100)
    price_fen: int = Field(gt=0, le=10_000_000_00, strict=True)
    active: bool = True


class ProductUpdate(Strict):
    name: str | None = Field(None, min_length=1, max_length=100)
    price_fen: int | None = Field(None, gt=0, le=10_000_000_00, strict=True)
    active: bool | None = None


class OrderCreate(Strict):
    product_id: int = Field(gt=0, strict=True)
    quantity: int = Field(1, ge=1, le=99, strict=True)


class OrderOut(BaseModel):
    id: int
    out_trade_no: str
    product_id: int
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
    reason: str = Field("", max_length=80)


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
