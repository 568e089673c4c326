"""WeChat Pay v2 business rules for unifiedorder, orderquery and closeorder (SPEC §2.3–2.6).

Input is the decoded, signature-checked request; output is the business fields of the answer, or
one of two failures mirroring WeChat's two-level result:
:class:`CommFail` (``return_code=FAIL``: malformed request) and :class:`BizFail`
(``result_code=FAIL`` with an ``err_code``).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from urllib.parse import urlsplit

from silverpay.beijing import format_beijing, parse_beijing
from silverpay.errors import ProtocolError
from silverpay.sim.config import CLOSE_MIN_AGE_S, PREPAY_TTL_S, SimConfig
from silverpay.sim.state import SimState, Trade


class CommFail(Exception):
    def __init__(self, return_msg: str) -> None:
        super().__init__(return_msg)
        self.return_msg = return_msg


class BizFail(Exception):
    def __init__(self, err_code: str, err_code_des: str) -> None:
        super().__init__(f"{err_code}: {err_code_des}")
        self.err_code = err_code
        self.err_code_des = err_code_des


OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_\-|*]{1,32}\Z")
FEE = re.compile(r"[1-9][0-9]{0,9}\Z")
# Fields that may change between two unifiedorder calls for the same out_trade_no.
NOT_BUSINESS = frozenset({"nonce_str", "sign", "sign_type", "spbill_create_ip"})
UNIFIEDORDER_REQUIRED = (
    "appid", "mch_id", "nonce_str", "body", "out_trade_no", "total_fee",
    "spbill_create_ip", "notify_url", "trade_type",
)  # fmt: skip
MAX_LEN = {
    "nonce_str": 32, "body": 127, "attach": 127, "detail": 6000, "device_info": 32,
    "out_trade_no": 32, "notify_url": 256, "openid": 128, "goods_tag": 32, "product_id": 32,
}  # fmt: skip
TRADE_STATE_DESC = {
    "NOTPAY": "订单未支付",
    "SUCCESS": "支付成功",
    "CLOSED": "订单已关闭",
    "REFUND": "订单发生过退款，退款详情请查询退款单",
}


def new_prepay_id(now: float) -> str:
    return "wx" + format_beijing(now) + secrets.token_hex(10)


def new_transaction_id(now: float) -> str:
    return "4200" + format_beijing(now)[:8] + "".join(secrets.choice("0123456789") for _ in range(16))


def _check_formats(fields: dict[str, str]) -> None:
    for name in UNIFIEDORDER_REQUIRED:
        if not fields.get(name):
            raise CommFail(f"缺少参数{name}")
    for name, limit in MAX_LEN.items():
        if len(fields.get(name, "").encode()) > limit:  # String(n) counts UTF-8 bytes
            raise CommFail(f"{name}参数长度有误")
    if not OUT_TRADE_NO.match(fields["out_trade_no"]):
        raise CommFail("out_trade_no参数格式错误")
    if not FEE.match(fields["total_fee"]):
        raise CommFail("total_fee参数格式错误")
    if fields.get("fee_type", "CNY") != "CNY":
        raise CommFail("fee_type参数格式错误")
    try:
        ipaddress.ip_address(fields["spbill_create_ip"])
    except ValueError:
        raise CommFail("spbill_create_ip参数格式错误") from None
    url = urlsplit(fields["notify_url"])
    if url.scheme not in ("http", "https") or not url.netloc or url.query or url.fragment:
        raise CommFail("notify_url参数格式错误")
    for name in ("time_start", "time_expire"):
        if fields.get(name):
            try:
                parse_beijing(fields[name])
            except ProtocolError:
                raise CommFail(f"{name}参数格式错误") from None


def check_app(config: SimConfig, fields: dict[str, str]) -> None:
    app = config.apps.get(fields["appid"])
    if app is None or app.mch_id != fields["mch_id"]:
        raise BizFail("APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")


def unified_order(config: SimConfig, state: SimState, fields: dict[str, str], now: float) -> dict[str, str]:
    _check_formats(fields)
    check_app(config, fields)
    if fields["trade_type"] != "JSAPI":
        raise BizFail("NOAUTH", "商户无此接口权限")  # the simulator models mini-program merchants only
    openid = fields.get("openid", "")
    if not openid:
        raise CommFail("JSAPI支付必须传openid")
    if f"{fields['appid']}:{openid}" not in state.users:
        raise BizFail("PARAM_ERROR", "appid和openid不匹配")
    time_expire = parse_beijing(fields["time_expire"]) if fields.get("time_expire") else None
    if time_expire is not None and time_expire < now + CLOSE_MIN_AGE_S:
        raise BizFail("INVALID_REQUEST", "time_expire时间过短，刷卡至少1分钟，其他5分钟")

    business = {k: v for k, v in fields.items() if k not in NOT_BUSINESS and v != ""}
    trade = state.trade(fields["mch_id"], fields["out_trade_no"])
    if trade is not None:
        if trade.trade_state in ("SUCCESS", "REFUND"):
            raise BizFail("ORDERPAID", "该订单已支付")
        if trade.trade_state == "CLOSED":
            raise BizFail("ORDERCLOSED", "该订单已关闭")
        if trade.business != business:
            raise BizFail("OUT_TRADE_NO_USED", "商户订单号重复")
        if trade.time_expire is not None and now >= trade.time_expire:
            raise BizFail("ORDERCLOSED", "该订单已过期")
        trade.sign_type = fields.get("sign_type") or "MD5"
        if now >= trade.prepay_expires_at:  # re-entry after 2 h: a fresh prepay for the same trade
            trade.prepay_id = new_prepay_id(now)
            trade.prepay_expires_at = now + PREPAY_TTL_S
            trade.history.append({"at": now, "event": "prepay renewed"})
        state.save_trade(trade)
    else:
        trade = Trade(
            mch_id=fields["mch_id"],
            out_trade_no=fields["out_trade_no"],
            appid=fields["appid"],
            openid=openid,
            trade_type=fields["trade_type"],
            body=fields["body"],
            total_fee=int(fields["total_fee"]),
            fee_type="CNY",
            attach=fields.get("attach", ""),
            notify_url=fields["notify_url"],
            business=business,
            created_at=now,
            time_expire=time_expire,
            sign_type=fields.get("sign_type") or "MD5",
            prepay_id=new_prepay_id(now),
            prepay_expires_at=now + PREPAY_TTL_S,
            history=[{"at": now, "event": "created"}],
        )
        state.save_trade(trade)
    return {"trade_type": trade.trade_type, "prepay_id": trade.prepay_id}


def find_trade(state: SimState, fields: dict[str, str]) -> Trade:
    transaction_id, out_trade_no = fields.get("transaction_id", ""), fields.get("out_trade_no", "")
    if not transaction_id and not out_trade_no:
        raise CommFail("transaction_id和out_trade_no不能同时为空")
    if transaction_id:
        trade = state.trade_by_transaction(transaction_id)
        if trade is not None and trade.mch_id != fields["mch_id"]:
            trade = None
    else:
        trade = state.trade(fields["mch_id"], out_trade_no)
    if trade is None or trade.appid != fields["appid"]:
        raise BizFail("ORDERNOTEXIST", "订单不存在")
    return trade


def order_query(config: SimConfig, state: SimState, fields: dict[str, str], now: float) -> dict[str, object]:
    check_app(config, fields)
    trade = find_trade(state, fields)
    answer: dict[str, object] = {
        "out_trade_no": trade.out_trade_no,
        "trade_state": trade.trade_state,
        "trade_state_desc": TRADE_STATE_DESC[trade.trade_state],
        "total_fee": trade.total_fee,
        "attach": trade.attach,
    }
    if trade.trade_state in ("SUCCESS", "REFUND"):  # payment fields exist only once paid (SPEC §2.5)
        answer |= {
            "openid": trade.openid,
            "is_subscribe": "N",
            "trade_type": trade.trade_type,
            "bank_type": trade.bank_type,
            "fee_type": trade.fee_type,
            "cash_fee": trade.cash_fee,
            "transaction_id": trade.transaction_id,
            "time_end": trade.time_end,
        }
    return answer


def close_order(config: SimConfig, state: SimState, fields: dict[str, str], now: float) -> dict[str, object]:
    check_app(config, fields)
    if not fields.get("out_trade_no"):
        raise CommFail("缺少参数out_trade_no")
    trade = state.trade(fields["mch_id"], fields["out_trade_no"])
    if trade is None or trade.appid != fields["appid"]:
        raise BizFail("ORDERNOTEXIST", "订单不存在")
    if trade.trade_state in ("SUCCESS", "REFUND"):
        raise BizFail("ORDERPAID", "订单已支付，不能发起关单")
    if trade.trade_state == "CLOSED":
        raise BizFail("ORDERCLOSED", "订单已关闭，无需继续调用")
    if now - trade.created_at < CLOSE_MIN_AGE_S:
        # Observed platform behaviour (SPEC §2.6): SUCCESS, yet the order stays open and payable.
        trade.history.append({"at": now, "event": "close ignored: order younger than 5 minutes"})
        state.save_trade(trade)
        return {"result_msg": "OK"}
    trade.trade_state = "CLOSED"
    trade.closed_at = now
    trade.history.append({"at": now, "event": "closed"})
    state.save_trade(trade)
    return {"result_msg": "OK"}
