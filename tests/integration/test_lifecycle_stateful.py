"""The order lifecycle as a Hypothesis state machine, against the service and the simulator in
process: random interleavings of order, pay, paying at WeChat, notifications (and their
duplicates), confirm, cancel, clock advances, worker passes and refunds.

After every step: at most one PAID transition per order; refunds never exceed what was paid, here
or at WeChat; a terminal state never changes except by a refund. At the end of each example the
worker is left to finish, and the service's record must agree with WeChat's (tests/invariants.py).

The simulator's notifications are dropped as it sends them, and the machine delivers them itself
(the very bodies WeChat sent, from the simulator's record) when a rule says so: the background
does nothing the machine did not choose, so a failure shrinks and replays. Hypothesis is seeded
with the run's simulator seed (``pytest --sim-seed N`` replays a run).

Budget: SILVERPAY_STATEFUL_EXAMPLES examples (default 20 on SQLite and 8 on the servers, for a local
make test) of up to SILVERPAY_STATEFUL_STEPS steps (default 15); .ci/run sets more for every backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit

import hypothesis
import pytest
from hypothesis import HealthCheck
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from silverpay.domain.orders import PAID_FAMILY, REFUNDABLE
from silverpay.sim.state import Delivery
from silverpay.wechat.v2 import xml
from tests.databases import emptied
from tests.invariants import KEPT, check_money, numbers
from tests.service_harness import Harness, Shopper, running_harness
from tests.sim_seed import sim_seed

EXAMPLES = int(os.environ.get("SILVERPAY_STATEFUL_EXAMPLES", "20"))
SERVER_EXAMPLES = int(os.environ.get("SILVERPAY_STATEFUL_EXAMPLES", "8"))  # PostgreSQL, MariaDB
STEPS = int(os.environ.get("SILVERPAY_STATEFUL_STEPS", "15"))
ORDER_OF_PAID = {"PAID": 0, "PARTIALLY_REFUNDED": 1, "REFUNDED": 2}

T = TypeVar("T")


class OrderLifecycle(RuleBasedStateMachine):
    """One shopper, a few orders; ``url`` is set per backend by the test."""

    url: str = ""
    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.stack = contextlib.AsyncExitStack()
        self.svc: Harness = self.run(self.stack.enter_async_context(running_harness(self.url)))
        self.run(self.svc.faults(notify_drop_rate=1.0))  # the machine delivers them
        self.alice: Shopper = self.run(self.svc.shopper("alice"))
        self.status: dict[int, str] = {}  # order id -> status last seen
        self.sheets: dict[int, list[dict[str, str]]] = {}  # payment sheets /pay handed out
        self.delivered: list[Delivery] = []  # notifications the machine has posted once

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        try:
            if hasattr(self, "svc"):
                self.run(self._converge())
        finally:
            self.run(self.stack.aclose())
            self.loop.close()

    async def _converge(self) -> None:
        """Time passes and the worker finishes everything: the record must agree with WeChat's."""
        worker = self.svc.worker()
        for _ in range(6):
            await self.svc.advance(1800)
            await worker.run_once()
        for order_id in self.status:
            await check_money(self.svc, order_id, settled=True)

    # rules ---------------------------------------------------------------------------------------

    @initialize(target=orders, price_fen=st.sampled_from([100, 1000, 2500]))
    def first_order(self, price_fen: int) -> int:
        return self.new_order(price_fen)

    @rule(target=orders, price_fen=st.sampled_from([100, 1000, 2500]))
    def new_order(self, price_fen: int) -> int:
        order = self.run(self.svc.order(self.alice, price_fen=price_fen))
        self.status[order["id"]] = order["status"]
        self.sheets[order["id"]] = []
        return int(order["id"])

    @rule(order_id=orders)
    def pay(self, order_id: int) -> None:
        before = self.status[order_id]
        response = self.run(self.svc.api.post(f"/api/v1/orders/{order_id}/pay", headers=self.alice.auth))
        if response.status_code == 200:
            assert before not in (*PAID_FAMILY, "CLOSED"), (before, response.text)
            self.sheets[order_id].append(response.json())
            return
        assert response.status_code == 409, response.text
        code = response.json()["error"]["code"]
        if before == "CLOSED":
            assert code == "ORDER_CLOSED", response.text
        elif before in PAID_FAMILY:
            assert code == "ORDER_ALREADY_PAID", response.text
        else:  # WeChat's answer settled it (paid or closed there), or the order expired
            assert code in ("ORDER_ALREADY_PAID", "ORDER_CLOSED", "ORDERPAID", "ORDERCLOSED", "ORDER_EXPIRED"), code

    @rule(order_id=orders, which=st.sampled_from([-1, 0]))
    def pay_at_wechat(self, order_id: int, which: int) -> None:
        """The shopper pays with the latest (or the first) sheet handed out; WeChat may refuse."""
        if not self.sheets[order_id]:
            return
        response = self.run(self.svc.wechat_pay(self.alice, self.sheets[order_id][which]))
        assert response.status_code in (200, 409), response.text

    def _deliveries(self, order_id: int) -> list[Delivery]:
        view = self.run(self.svc.admin_order(order_id))
        mine = self.run(numbers(self.svc, order_id, view["out_trade_no"]))
        return [d for d in self.svc.sim.state.deliveries.values() if d.out_trade_no in mine]

    def _post(self, delivery: Delivery) -> None:
        path = urlsplit(delivery.url).path
        response = self.run(
            self.svc.api.post(path, content=delivery.body.encode(), headers={"Content-Type": "text/xml"})
        )
        assert (response.status_code, xml.decode(response.content)["return_code"]) == (200, "SUCCESS"), response.text

    @rule(order_id=orders, data=st.data())
    def notify(self, order_id: int, data: st.DataObject) -> None:
        """WeChat's notification (payment or refund) of one of the order's numbers, genuine."""
        deliveries = self._deliveries(order_id)
        if deliveries:
            delivery = data.draw(st.sampled_from(deliveries))
            self._post(delivery)
            self.delivered.append(delivery)

    @rule(data=st.data())
    def duplicate_notify(self, data: st.DataObject) -> None:
        if self.delivered:
            self._post(data.draw(st.sampled_from(self.delivered)))

    @rule(order_id=orders)
    def confirm(self, order_id: int) -> None:
        response = self.run(self.svc.api.post(f"/api/v1/orders/{order_id}/confirm", headers=self.alice.auth))
        assert response.status_code == 200, response.text

    @rule(order_id=orders)
    def cancel(self, order_id: int) -> None:
        before = self.status[order_id]
        response = self.run(self.svc.api.post(f"/api/v1/orders/{order_id}/cancel", headers=self.alice.auth))
        if response.status_code == 409:
            assert response.json()["error"]["code"] == "ORDER_ALREADY_PAID", response.text
            return
        assert response.status_code == 200, response.text
        status = response.json()["status"]
        assert status in ("CLOSED", "PAID"), status
        if before == "CLOSED":
            assert status == "CLOSED"

    @rule(seconds=st.sampled_from([1, 60, 330, 1800, 7200, 3 * 86400]))
    def advance(self, seconds: int) -> None:
        self.run(self.svc.advance(seconds))

    @rule()
    def worker_pass(self) -> None:
        self.run(self.svc.worker().run_once())

    @rule(order_id=orders, amount_fen=st.integers(1, 2600))
    def refund(self, order_id: int, amount_fen: int) -> None:
        view = self.run(self.svc.admin_order(order_id))
        reserved = sum(r["amount_fen"] for r in view["refunds"] if not r["surplus"] and r["status"] in KEPT)
        response = self.run(self.svc.refund(order_id, amount_fen))
        if view["status"] not in REFUNDABLE:
            assert (response.status_code, response.json()["error"]["code"]) == (409, "ORDER_NOT_REFUNDABLE")
        elif amount_fen > view["amount_fen"] - reserved:
            assert (response.status_code, response.json()["error"]["code"]) == (409, "REFUND_EXCEEDS_PAID")
        else:
            assert response.status_code == 201, response.text

    # invariants ----------------------------------------------------------------------------------

    @invariant()
    def money_and_terminal_states(self) -> None:
        for order_id, before in self.status.items():
            view = self.run(check_money(self.svc, order_id, settled=False))
            now = view["status"]
            if before == "CLOSED":
                assert now == "CLOSED", (order_id, before, now)
            elif before in PAID_FAMILY:  # only refunds move a paid order, and only forward
                assert now in PAID_FAMILY and ORDER_OF_PAID[now] >= ORDER_OF_PAID[before], (order_id, before, now)
            elif before == "PAYING":
                assert now != "CREATED", (order_id, before, now)
            self.status[order_id] = now


@pytest.mark.slow
def test_order_lifecycle(database_url: str, migrated_database: Any, request: pytest.FixtureRequest) -> None:
    backend = request.node.callspec.params["database_url"]

    @hypothesis.seed(sim_seed())
    class Lifecycle(OrderLifecycle):
        def __init__(self) -> None:
            self.url = emptied(migrated_database, backend)  # every example from an empty database
            super().__init__()

    run_state_machine_as_test(
        Lifecycle,
        settings=hypothesis.settings(max_examples=EXAMPLES if backend == "sqlite" else SERVER_EXAMPLES,
                                     stateful_step_count=STEPS, deadline=None, database=None,
                                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]),
    )  # fmt: skip
