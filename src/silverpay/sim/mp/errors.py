"""The errcodes the simulated mini-program APIs answer (SHIPPING.md §1.4, §1.7)."""

from __future__ import annotations

import secrets

SYSTEM_BUSY = -1
INVALID_CREDENTIAL = 40001  # the token is unknown or was invalidated
INVALID_GRANT_TYPE = 40002
INVALID_APPID = 40013
INVALID_ARGS = 40097  # a rule whose own errcode no public source gives (see README)
INVALID_APPSECRET = 40125
ACCESS_TOKEN_MISSING = 41001
APPID_MISSING = 41002
APPSECRET_MISSING = 41004
ACCESS_TOKEN_EXPIRED = 42001
DAILY_QUOTA = 45009  # also: force_refresh more than 20 times a (Beijing) day
DATA_FORMAT_ERROR = 47001
PAYMENT_NOT_FOUND = 10060001
ALREADY_SHIPPED = 10060002
RESHIP_USED = 10060003
NOT_SHIPPABLE = 10060004
BAD_LOGISTICS_TYPE = 10060005
SPLIT_NOT_EXPRESS = 10060006
SPLIT_NEEDS_ALL_DELIVERED = 10060007
ITEM_DESC_EMPTY = 10060008
ITEM_DESC_TOO_LONG = 10060009
UNCHANGED = 10060023
RECEIVED_TIME_INVALID = 10060029
WRONG_PAYER = 10060031
TRACKING_NO_EMPTY = 268485226
EXPRESS_COMPANY_EMPTY = 268485227


class MpError(Exception):
    """A refusal as WeChat words it: ``{"errcode", "errmsg"}``."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg

    def body(self) -> dict[str, object]:
        return {"errcode": self.errcode, "errmsg": f"{self.errmsg} rid: {secrets.token_hex(4)}-{secrets.token_hex(4)}"}
