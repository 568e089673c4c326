"""The shipping client against the simulator (in-process over ASGI, and on a socket for timeouts):
validation before sending, neutral answers, and every errcode mapped to the exception the service
acts on."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from silverpay.errors import (
    AccessTokenRejected,
    InvalidRequest,
    ShipmentConflict,
    ShippingPaymentUnknown,
    UpstreamMisconfigured,
    UpstreamRejected,
    UpstreamUnavailable,
)
from silverpay.serving import free_port, running
from silverpay.sim.app import create_sim_app
from silverpay.sim.config import DEMO_APPID, DEMO_MCH_ID, DEMO_SECRET, SimConfig
from silverpay.wechat.miniapp.shipping import (
    Contact,
    DeliveryMode,
    LogisticsType,
    OrderKey,
    OrderState,
    Parcel,
    ShippingClient,
    ShippingInfo,
    UploadResult,
    format_upload_time,
)
from silverpay.wechat.miniapp.token import CachedTokenProvider, stable_token
from tests.conftest import SimHarness
from tests.miniapp import Paid, pay_order, seed_paid, token

BASE = "http://sim.test"


@pytest.fixture
async def sent(harness: SimHarness) -> AsyncIterator[list[httpx.Request]]:
    """Every request the harness client sends from now on."""
    requests: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        requests.append(request)

    harness.client.event_hooks["request"].append(record)
    yield requests


def client_for(h: SimHarness) -> tuple[ShippingClient, CachedTokenProvider]:
    provider = CachedTokenProvider(h.client, BASE, DEMO_APPID, DEMO_SECRET)
    return ShippingClient(h.client, BASE, provider), provider


async def sim_now(h: SimHarness) -> float:
    return float((await h.client.get("/sim/v1/clock")).json()["now"])


def express(paid: Paid, at: float, tracking_no: str = "YT1234567890", **changes: object) -> ShippingInfo:
    info = ShippingInfo(
        order=OrderKey.of_transaction(paid.transaction_id), logistics_type=LogisticsType.EXPRESS,
        delivery_mode=DeliveryMode.UNIFIED, parcels=(Parcel("抱枕*1", tracking_no, "YTO"),),
        payer_openid=paid.openid, upload_time=at,
    )  # fmt: skip
    return replace(info, **changes)  # type: ignore[arg-type]


def virtual(paid: Paid, at: float) -> ShippingInfo:
    return ShippingInfo(OrderKey.of_out_trade_no(DEMO_MCH_ID, paid.out_trade_no), LogisticsType.VIRTUAL,
                        DeliveryMode.UNIFIED, (Parcel("会员月卡"),), paid.openid, at)  # fmt: skip


async def test_upload_and_read_back(harness: SimHarness) -> None:
    client, _ = client_for(harness)
    paid = await pay_order(harness)
    before = await client.get_order(OrderKey.of_transaction(paid.transaction_id))
    assert before.state is OrderState.AWAITING_SHIPMENT and before.shipping is None
    assert (before.out_trade_no, before.mch_id, before.openid, before.paid_fen) == (
        paid.out_trade_no, DEMO_MCH_ID, paid.openid, paid.amount_fen)  # fmt: skip
    assert before.paid_at is not None and before.created_at is not None

    assert await client.upload_shipping_info(virtual(paid, await sim_now(harness))) is UploadResult.ACCEPTED
    order = await client.get_order(OrderKey.of_out_trade_no(DEMO_MCH_ID, paid.out_trade_no))
    assert order.state is OrderState.SHIPPED and order.transaction_id == paid.transaction_id
    assert order.shipping is not None and order.shipping.logistics_type is LogisticsType.VIRTUAL
    assert order.shipping.finished and order.shipping.finish_count == 1 and not order.reship_used
    assert [p.item_desc for p in order.shipping.parcels] == ["会员月卡"]
    assert order.shipping.parcels[0].uploaded_at is not None


async def test_unchanged_reship_and_conflict(harness: SimHarness) -> None:
    client, _ = client_for(harness)
    paid = await seed_paid(harness)
    t = await sim_now(harness)
    assert await client.upload_shipping_info(express(paid, t)) is UploadResult.ACCEPTED
    assert await client.upload_shipping_info(express(paid, t + 5)) is UploadResult.UNCHANGED
    assert await client.upload_shipping_info(express(paid, t + 10, "YT2")) is UploadResult.ACCEPTED
    assert (await client.get_order(OrderKey.of_transaction(paid.transaction_id))).reship_used
    with pytest.raises(ShipmentConflict) as used:
        await client.upload_shipping_info(express(paid, t + 20, "YT3"))
    assert used.value.upstream_code == "10060003"


async def test_not_shippable_after_confirmation(harness: SimHarness) -> None:
    client, _ = client_for(harness)
    paid = await seed_paid(harness)
    t = await sim_now(harness)
    await client.upload_shipping_info(express(paid, t))
    await harness.client.post("/sim/v1/confirm-receipt", json={"transaction_id": paid.transaction_id})
    assert (await client.get_order(OrderKey.of_transaction(paid.transaction_id))).state is OrderState.COMPLETE
    with pytest.raises(ShipmentConflict) as refused:
        await client.upload_shipping_info(express(paid, t + 5, "YT2"))
    assert refused.value.upstream_code == "10060004"


async def test_payment_unknown_at_first(harness: SimHarness) -> None:
    client, _ = client_for(harness)
    await harness.client.put("/sim/v1/faults", json={"shipping_payment_delay_s": 60})
    paid = await pay_order(harness)
    with pytest.raises(ShippingPaymentUnknown) as unknown:
        await client.upload_shipping_info(express(paid, await sim_now(harness)))
    assert unknown.value.upstream_code == "10060001"
    with pytest.raises(ShippingPaymentUnknown):
        await client.get_order(OrderKey.of_transaction(paid.transaction_id))
    await harness.client.post("/sim/v1/clock", json={"advance_s": 61})
    assert await client.upload_shipping_info(express(paid, await sim_now(harness))) is UploadResult.ACCEPTED


async def test_a_refused_token_is_fetched_again_once(harness: SimHarness) -> None:
    client, provider = client_for(harness)
    paid = await seed_paid(harness)
    assert (await client.get_order(OrderKey.of_transaction(paid.transaction_id))).state is OrderState.AWAITING_SHIPMENT
    assert provider.fetches == 1
    # Someone force-refreshes the token (a leak drill): the cached one is now invalid (40001).
    await stable_token(harness.client, BASE, DEMO_APPID, DEMO_SECRET, force_refresh=True)
    assert await client.upload_shipping_info(express(paid, await sim_now(harness))) is UploadResult.ACCEPTED
    assert provider.fetches == 2
    # Expired (42001) after two hours: the same.
    await harness.client.post("/sim/v1/clock", json={"advance_s": 7200})
    assert (await client.get_order(OrderKey.of_transaction(paid.transaction_id))).state is OrderState.SHIPPED
    assert provider.fetches == 3


async def test_a_fresh_token_refused_too(harness: SimHarness, sent: list[httpx.Request]) -> None:
    client, provider = client_for(harness)
    paid = await seed_paid(harness)
    await harness.client.put("/sim/v1/faults", json={"mp_token_error_rate": 1.0})
    with pytest.raises(AccessTokenRejected):
        await client.upload_shipping_info(express(paid, await sim_now(harness)))
    assert [r.url.path for r in sent if r.url.path.startswith("/wxa/")] == ["/wxa/sec/order/upload_shipping_info"] * 2
    assert provider.fetches == 2
    await harness.client.delete("/sim/v1/faults")
    assert (await client.get_order(OrderKey.of_transaction(paid.transaction_id))).shipping is None  # no effect


async def test_busy_and_misconfigured(harness: SimHarness) -> None:
    client, _ = client_for(harness)
    paid = await seed_paid(harness)
    await harness.client.put("/sim/v1/faults", json={"shipping_error_rate": 1.0})
    with pytest.raises(UpstreamUnavailable, match="-1"):
        await client.get_order(OrderKey.of_transaction(paid.transaction_id))
    await harness.client.delete("/sim/v1/faults")

    async def no_token(force: bool) -> str:
        return ""

    with pytest.raises(UpstreamMisconfigured, match="41001"):
        await ShippingClient(harness.client, BASE, no_token).get_order(OrderKey.of_transaction(paid.transaction_id))


async def test_other_refusals_carry_the_errcode(harness: SimHarness) -> None:
    client, _ = client_for(harness)
    paid = await seed_paid(harness)
    with pytest.raises(UpstreamRejected) as wrong_payer:
        await client.upload_shipping_info(express(paid, await sim_now(harness), payer_openid="o-not-the-payer"))
    assert wrong_payer.value.upstream_code == "10060031" and type(wrong_payer.value) is UpstreamRejected


BAD_INFOS = [
    ("both keys", {"order": OrderKey("4200", DEMO_MCH_ID, "A1")}),
    ("no key", {"order": OrderKey()}),
    ("mch_id without out_trade_no", {"order": OrderKey(mch_id=DEMO_MCH_ID)}),
    ("bad out_trade_no", {"order": OrderKey.of_out_trade_no(DEMO_MCH_ID, "has space")}),
    ("no parcels", {"parcels": ()}),
    ("eleven parcels", {"delivery_mode": DeliveryMode.SPLIT, "is_all_delivered": True,
                        "parcels": tuple(Parcel("x", f"T{i}", "YTO") for i in range(11))}),
    ("unified with two", {"parcels": (Parcel("x", "T1", "YTO"), Parcel("y", "T2", "YTO"))}),
    ("split same-city", {"delivery_mode": DeliveryMode.SPLIT, "logistics_type": LogisticsType.SAME_CITY,
                         "is_all_delivered": True}),
    ("split without is_all_delivered", {"delivery_mode": DeliveryMode.SPLIT}),
    ("empty item_desc", {"parcels": (Parcel("  ", "T1", "YTO"),)}),
    ("long item_desc", {"parcels": (Parcel("货" * 121, "T1", "YTO"),)}),
    ("express without tracking_no", {"parcels": (Parcel("x", "", "YTO"),)}),
    ("express without company", {"parcels": (Parcel("x", "T1", ""),)}),
    ("long tracking_no", {"parcels": (Parcel("x", "T" * 129, "YTO"),)}),
    ("SF without contact", {"parcels": (Parcel("x", "SF1", "SF"),)}),
    ("unmasked contact", {"parcels": (Parcel("x", "T1", "YTO", Contact(receiver="18912341234")),)}),
    ("masked last four", {"parcels": (Parcel("x", "T1", "YTO", Contact(receiver="189123412**")),)}),
    ("bad logistics type", {"logistics_type": 5}),
    ("no payer", {"payer_openid": ""}),
]  # fmt: skip


@pytest.mark.parametrize(("case", "changes"), BAD_INFOS, ids=[c[0] for c in BAD_INFOS])
async def test_validation_before_sending(
    harness: SimHarness, sent: list[httpx.Request], case: str, changes: dict[str, object]
) -> None:
    client, _ = client_for(harness)
    paid = Paid("A1", "4200000000000000000000000001", "o-buyer", 100)
    with pytest.raises(InvalidRequest):
        await client.upload_shipping_info(express(paid, 1_700_000_000.0, **changes))
    assert sent == []


async def test_accepted_shapes(harness: SimHarness) -> None:
    client, _ = client_for(harness)
    paid = await seed_paid(harness)
    sf = (Parcel("x", "SF1234", "SF", Contact(receiver="189****1234")),)
    assert await client.upload_shipping_info(express(paid, await sim_now(harness), parcels=sf)) is UploadResult.ACCEPTED
    split = await seed_paid(harness)
    parcels = (Parcel("box 1", "YT1", "YTO"), Parcel("box 2", "YT2", "YTO"))
    info = express(split, await sim_now(harness), delivery_mode=DeliveryMode.SPLIT, is_all_delivered=False,
                   parcels=parcels)  # fmt: skip
    assert info.to_json()["is_all_delivered"] is False
    assert await client.upload_shipping_info(info) is UploadResult.ACCEPTED
    order = await client.get_order(OrderKey.of_transaction(split.transaction_id))
    assert order.state is OrderState.AWAITING_SHIPMENT and order.shipping and not order.shipping.finished
    assert "is_all_delivered" not in express(split, 1.0).to_json()  # unified: not sent


def test_upload_time_format() -> None:
    assert format_upload_time(1_671_082_175.12) == "2022-12-15T13:29:35.120+08:00"


async def test_order_list_pages(harness: SimHarness) -> None:
    client, _ = client_for(harness)
    paid = [await seed_paid(harness, openid=f"o-{i}") for i in range(5)]
    await client.upload_shipping_info(express(paid[2], await sim_now(harness)))
    first = await client.get_order_list(page_size=2)
    assert first.has_more and len(first.orders) == 2
    rest = await client.get_order_list(page_size=2, last_index=first.last_index)
    last = await client.get_order_list(page_size=2, last_index=rest.last_index)
    assert not last.has_more
    assert {o.transaction_id for o in first.orders + rest.orders + last.orders} == {p.transaction_id for p in paid}
    shipped = await client.get_order_list(state=OrderState.SHIPPED)
    assert [o.transaction_id for o in shipped.orders] == [paid[2].transaction_id]
    mine = await client.get_order_list(openid="o-4", paid_from=0, paid_to=await sim_now(harness) + 10)
    assert [o.transaction_id for o in mine.orders] == [paid[4].transaction_id]
    with pytest.raises(InvalidRequest):
        await client.get_order_list(page_size=0)


async def test_is_trade_managed(harness: SimHarness) -> None:
    client, _ = client_for(harness)
    assert await client.is_trade_managed(DEMO_APPID) is True
    await harness.client.put(f"/sim/v1/apps/{DEMO_APPID}/trade-managed", json={"managed": False})
    assert await client.is_trade_managed(DEMO_APPID) is False
    with pytest.raises(UpstreamMisconfigured):
        await client.is_trade_managed("wxnotanapp")


async def test_notify_confirm_receive(harness: SimHarness) -> None:
    client, _ = client_for(harness)
    paid = await seed_paid(harness)
    key = OrderKey.of_transaction(paid.transaction_id)
    t = await sim_now(harness)
    await client.upload_shipping_info(express(paid, t))
    await harness.client.post("/sim/v1/clock", json={"advance_s": 86400})
    with pytest.raises(UpstreamRejected) as early:
        await client.notify_confirm_receive(key, t - 3600)
    assert early.value.upstream_code == "10060029"
    await client.notify_confirm_receive(key, t + 3600)
    with pytest.raises(UpstreamRejected) as twice:
        await client.notify_confirm_receive(key, t + 3600)
    assert twice.value.upstream_code == "40097"


async def test_the_token_never_reaches_the_logs(harness: SimHarness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(
        logging.DEBUG, logger="httpx"
    )  # `silverpay.logs.configure` quiets it; another test may have run it
    client, _ = client_for(harness)
    paid = await seed_paid(harness)
    await client.get_order(OrderKey.of_transaction(paid.transaction_id))
    value = await token(harness)
    assert "HTTP Request: POST http://sim.test/wxa/sec/order/get_order?access_token=[redacted]" in caplog.text
    assert value not in caplog.text and DEMO_SECRET not in caplog.text
    assert "get_token" not in repr(client) and value not in repr(client)


async def test_a_timed_out_upload_may_have_landed() -> None:
    """On a socket: the simulator records the upload, then hangs past the client's timeout. The
    outcome is unknown to the caller (UpstreamUnavailable); get_order says it landed, and sending
    the same again answers UNCHANGED — no re-ship burnt."""
    port = free_port("127.0.0.1")
    base = f"http://127.0.0.1:{port}"
    async with running(create_sim_app(SimConfig.single(seed=1)), "127.0.0.1", port), httpx.AsyncClient(
        base_url=base, timeout=0.5, trust_env=False
    ) as http:  # fmt: skip
        h = SimHarness(None, http, None)  # type: ignore[arg-type]
        paid = await seed_paid(h)
        client = ShippingClient(http, base, CachedTokenProvider(http, base, DEMO_APPID, DEMO_SECRET))
        faults = {"shipping_hang_rate": 1.0, "shipping_hang_s": 1.5, "shipping_hang_after_effect": True}
        assert (await http.put("/sim/v1/faults", json=faults)).status_code == 200
        info = express(paid, await sim_now(h), "YT-" + secrets.token_hex(4))
        with pytest.raises(UpstreamUnavailable, match="unreachable"):
            await client.upload_shipping_info(info)
        await http.delete("/sim/v1/faults")
        order = await client.get_order(OrderKey.of_transaction(paid.transaction_id))
        assert order.state is OrderState.SHIPPED and order.shipping and order.shipping.finish_count == 1
        assert await client.upload_shipping_info(replace(info, upload_time=info.upload_time + 1)) is (
            UploadResult.UNCHANGED)  # fmt: skip
