"""V2PayClient's reading of answers, with WeChat played by an httpx transport."""

from __future__ import annotations

import httpx
import pytest

from silverpay.domain.orders import WechatTradeState
from silverpay.errors import UpstreamUnavailable
from silverpay.service.orders import wechat_body
from silverpay.sim.config import DEMO_API_KEY, DEMO_APPID, DEMO_MCH_ID
from silverpay.wechat.v2 import signing, xml
from silverpay.wechat.v2.client import V2PayClient
from silverpay.wechat.v2.signing import SignType


def client_answering(fields: dict[str, object]) -> V2PayClient:
    answer = {"return_code": "SUCCESS", "result_code": "SUCCESS", "appid": DEMO_APPID, "mch_id": DEMO_MCH_ID,
              "nonce_str": "n", **fields}  # fmt: skip
    answer["sign"] = signing.sign(answer, DEMO_API_KEY, SignType.MD5)
    transport = httpx.MockTransport(lambda _: httpx.Response(200, text=xml.encode(answer)))
    return V2PayClient(httpx.AsyncClient(transport=transport), base_url="http://wechat.test", appid=DEMO_APPID,
                     mch_id=DEMO_MCH_ID, api_key=DEMO_API_KEY, sign_type=SignType.MD5)  # fmt: skip


async def test_unpaid_answer_may_omit_payment_fields() -> None:
    status = await client_answering({"out_trade_no": "SP1", "trade_state": "NOTPAY"}).query("SP1")
    assert (status.state, status.amount_fen, status.transaction_id) == (WechatTradeState.NOTPAY, 0, "")


async def test_paid_answer_without_amount_is_unknown_not_an_error() -> None:
    client = client_answering({"out_trade_no": "SP1", "trade_state": "SUCCESS", "transaction_id": "42"})
    with pytest.raises(UpstreamUnavailable):
        await client.query("SP1")


async def test_answer_signed_with_another_key_is_unknown() -> None:
    client = client_answering({"out_trade_no": "SP1", "trade_state": "NOTPAY"})
    client._api_key = "0" * 32  # the answer no longer verifies
    with pytest.raises(UpstreamUnavailable, match="signature"):
        await client.query("SP1")


def test_body_is_cut_by_bytes_at_a_character_boundary() -> None:
    assert wechat_body("coffee x1") == "coffee x1"
    long = "咖" * 50  # 150 bytes
    cut = wechat_body(long)
    assert len(cut.encode()) <= 127 and cut == "咖" * 42
