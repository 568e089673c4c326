"""The one exception hierarchy of silverpay.

    SilverpayError                   every error we raise on purpose
    ├── ConfigError                  settings that cannot work (missing secret, bad URL)
    ├── DatabaseUnreachable          the database did not accept a connection (its host, the driver's reason)
    ├── ProtocolError                bytes from or for WeChat that break the wire rules
    │   ├── XmlError                 unsafe, oversized, nested or malformed XML
    │   ├── SignatureError           a signature that is missing, unknown or does not verify
    │   ├── DecryptionError          an encrypted field that does not decrypt
    │   └── NotificationRejected     a notification that is not genuinely ours (names what it claims)
    ├── UpstreamError                WeChat did not do what we asked
    │   ├── UpstreamUnavailable      timeout, network, 5xx or SYSTEMERROR: the outcome is UNKNOWN
    │   │   └── AccessTokenRejected  a mini-program API refused a freshly fetched access_token too
    │   ├── UpstreamRejected         WeChat answered with a business error (err_code / errcode)
    │   │   ├── TradeAlreadyPaid     ORDERPAID
    │   │   ├── TradeClosed          ORDERCLOSED
    │   │   ├── TradeNotFound        ORDERNOTEXIST
    │   │   ├── TradeParamsDiffer    OUT_TRADE_NO_USED: the number is taken with other parameters
    │   │   ├── RefundNotFound       REFUNDNOTEXIST
    │   │   ├── LoginCodeRejected    jscode2session refused the user's code (the user's problem)
    │   │   ├── ShippingPaymentUnknown  10060001: shipping management does not know the payment (yet)
    │   │   └── ShipmentConflict     10060002/3/4: the payment's shipping state forbids it; read get_order
    │   └── UpstreamMisconfigured    WeChat refused our own credentials (appid, secret, key)
    └── RequestError                 the caller asked for something we will not do
        ├── InvalidRequest           400: malformed or out of range
        ├── Unauthorized             401: no or bad token
        ├── Forbidden                403: authenticated, but the role does not allow it
        ├── NotFound                 404: absent, or not the caller's
        ├── Conflict                 409: the resource's state forbids it
        └── Throttled                429: too many attempts; retry after ``retry_after_s``

Each error carries a stable UPPER_SNAKE ``code`` (used in JSON error bodies) and a message that
never contains secrets: callers must not interpolate keys, tokens or sign strings into it.
"""

from __future__ import annotations


class SilverpayError(Exception):
    code = "INTERNAL"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ConfigError(SilverpayError):
    code = "CONFIG"


class DatabaseUnreachable(SilverpayError):
    code = "DATABASE_UNREACHABLE"


class ProtocolError(SilverpayError):
    code = "PROTOCOL"


class XmlError(ProtocolError):
    code = "XML_FORMAT_ERROR"


class SignatureError(ProtocolError):
    code = "SIGNATURE_INVALID"


class DecryptionError(ProtocolError):
    code = "DECRYPTION_FAILED"


class NotificationRejected(ProtocolError):
    code = "NOTIFICATION_REJECTED"

    def __init__(self, message: str, *, code: str | None = None, claimed_out_trade_no: str = "") -> None:
        super().__init__(message, code=code)
        self.claimed_out_trade_no = claimed_out_trade_no  # unverified: for the record only


class UpstreamError(SilverpayError):
    code = "UPSTREAM_ERROR"


class UpstreamUnavailable(UpstreamError):
    """We do not know whether WeChat acted: never treat this as a failure of the operation."""

    code = "UPSTREAM_UNAVAILABLE"


class AccessTokenRejected(UpstreamUnavailable):
    """A mini-program API answered 40001/42001/40014 to a token fetched afresh after the same answer:
    another process may be force-refreshing it. Retry later; alert if it persists."""

    code = "ACCESS_TOKEN_REJECTED"


class UpstreamRejected(UpstreamError):
    code = "UPSTREAM_REJECTED"

    def __init__(self, message: str, *, code: str | None = None, upstream_code: str = "") -> None:
        super().__init__(message, code=code)
        self.upstream_code = upstream_code


class TradeAlreadyPaid(UpstreamRejected):
    code = "ORDER_ALREADY_PAID"


class TradeClosed(UpstreamRejected):
    code = "ORDER_CLOSED"


class TradeNotFound(UpstreamRejected):
    code = "TRADE_NOT_FOUND"


class TradeParamsDiffer(UpstreamRejected):
    code = "OUT_TRADE_NO_USED"


class RefundNotFound(UpstreamRejected):
    code = "REFUND_NOT_FOUND"


class LoginCodeRejected(UpstreamRejected):
    code = "INVALID_LOGIN_CODE"


class ShippingPaymentUnknown(UpstreamRejected):
    """errcode 10060001: the payment is not (yet) in shipping management. Common in the first
    minute after payment: retry with backoff, then flag it for an operator."""

    code = "SHIPPING_PAYMENT_UNKNOWN"


class ShipmentConflict(UpstreamRejected):
    """errcode 10060002 (already shipped), 10060003 (the one re-ship is used) or 10060004 (not
    shippable: refunded, confirmed, complete): never retry; reconcile from ``get_order``."""

    code = "SHIPMENT_CONFLICT"


class UpstreamMisconfigured(UpstreamError):
    code = "UPSTREAM_MISCONFIGURED"


class RequestError(SilverpayError):
    status = 400


class InvalidRequest(RequestError):
    code = "INVALID_REQUEST"
    status = 400


class Unauthorized(RequestError):
    code = "UNAUTHORIZED"
    status = 401


class Forbidden(RequestError):
    code = "FORBIDDEN"
    status = 403


class NotFound(RequestError):
    code = "NOT_FOUND"
    status = 404


class Conflict(RequestError):
    code = "CONFLICT"
    status = 409


class Throttled(RequestError):
    """Too many attempts (failed operator sign-ins): refused until ``retry_after_s`` have passed."""

    code = "THROTTLED"
    status = 429

    def __init__(self, message: str, *, retry_after_s: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = max(1, retry_after_s)
