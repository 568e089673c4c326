"""API fuzzing: schemathesis generates requests from the service's own OpenAPI document, for every
operation, with a shopper's token, the operator's and a merchant backend's API key, and every answer is checked against
the document: no 5xx, every status code, content type, header and body documented.

The service runs in-process with the simulator behind it (tests.service_harness) on a fresh
database; the generator runs in a thread (Hypothesis is synchronous) and hands each request to
the test's event loop. Generation is seeded (SEED), so a failure replays.

Budget: SILVERPAY_FUZZ_EXAMPLES examples per operation and token (default 20, keeps the SQLite run
short in `make test`); the PostgreSQL and MariaDB runs take SILVERPAY_FUZZ_EXAMPLES_SERVER (default
8 in a local make test, where SQLite's run is the broad one; .ci/run sets 60). Half the examples
of an operation with an id in its path name a real order or product instead of a generated id, so
the generated bodies reach the code behind the 404.
"""

from __future__ import annotations

import asyncio
import collections
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import ServerError
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.databases import BACKENDS, emptied
from tests.merchant import api_key, payment_body
from tests.service_harness import ADMIN, SERVICE, Harness, running_harness

SEED = 20261127
EXAMPLES = int(os.environ.get("SILVERPAY_FUZZ_EXAMPLES", "20"))
SERVER_EXAMPLES = int(os.environ.get("SILVERPAY_FUZZ_EXAMPLES_SERVER", "8"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]  # fmt: skip


@dataclass
class Tally:
    requests: int = 0
    server_errors: int = 0  # responses (or exceptions) that a client would see as 5xx
    schema_failures: int = 0  # responses that break the document: status, content type, headers, body
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    failures: dict[str, str] = field(default_factory=dict)  # one example per (operation, token, problem)

    def line(self, backend: str, seconds: float) -> str:
        statuses = dict(sorted(self.statuses.items()))
        return (f"fuzz[{backend}]: requests={self.requests} 5xx={self.server_errors} "
                f"schema_failures={self.schema_failures} in {seconds:.1f} s; statuses {statuses}")  # fmt: skip


async def send(api: httpx.AsyncClient, kwargs: dict[str, Any]) -> httpx.Response:
    """schemathesis serialises a case for `requests`; the same call on httpx."""
    content = kwargs.get("data")
    if isinstance(content, str):
        content = content.encode()
    headers = dict(kwargs.get("headers") or {})
    if kwargs.get("cookies"):  # a generated session cookie: as the header it is (httpx deprecates per-request cookies)
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in kwargs["cookies"].items())
    return await api.request(
        kwargs["method"], kwargs["url"], params=kwargs.get("params"), headers=headers, content=content,
        json=kwargs.get("json"),
    )  # fmt: skip


def fuzz(
    schema: schemathesis.BaseSchema, call: Callable[[dict[str, Any]], httpx.Response], tokens: dict[str, str],
    known_ids: dict[str, list[int]], examples: int, tally: Tally,
) -> None:  # fmt: skip
    """Runs in a worker thread: generate, send through ``call``, check."""
    for result in schema.get_all_operations():
        operation = result.ok()
        path_ids = {p.name for p in operation.path_parameters} & known_ids.keys()
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
        strategies = [operation.as_strategy(generation_mode=mode) for mode in modes]
        if path_ids:
            real = st.fixed_dictionaries({name: st.sampled_from(known_ids[name]) for name in path_ids})
            strategies.append(real.flatmap(lambda ids, op=operation: op.as_strategy(path_parameters=ids)))
        for token_name, token in tokens.items():
            _examples(st.one_of(strategies), call, f"{operation.label} [{token_name}]", token, examples, tally)()


def _examples(
    cases: st.SearchStrategy[schemathesis.Case], call: Callable[[dict[str, Any]], httpx.Response], label: str,
    token: str, examples: int, tally: Tally,
) -> Callable[[], None]:  # fmt: skip
    @hypothesis.seed(SEED)
    @hypothesis.settings(max_examples=examples, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                         suppress_health_check=list(HealthCheck))  # fmt: skip
    @hypothesis.given(case=cases)
    def run(case: schemathesis.Case) -> None:
        kwargs = case.as_transport_kwargs(base_url=SERVICE, headers={"Authorization": f"Bearer {token}"})
        tally.requests += 1
        try:
            response = call(kwargs)
        except Exception as error:  # the app raised past its handlers: a 500 to a real client
            tally.server_errors += 1
            tally.failures.setdefault(f"{label}: server error (exception)", f"{error!r} for {kwargs}")
            return
        tally.statuses[response.status_code] += 1
        if response.status_code >= 500:
            tally.server_errors += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=kwargs["headers"])
        except (AssertionError, BaseExceptionGroup) as error:
            failures = error.exceptions if isinstance(error, BaseExceptionGroup) else (error,)
            if any(not isinstance(f, ServerError) for f in failures):
                tally.schema_failures += 1
            for failure in failures:
                title = getattr(failure, "title", type(failure).__name__)
                tally.failures.setdefault(f"{label}: {title}", f"{failure}\nrequest: {kwargs}\n"
                                          f"response: {response.status_code} {response.text[:300]}")  # fmt: skip

    return run


@pytest.fixture(params=BACKENDS)
def fresh_database(request: pytest.FixtureRequest, migrated_database: Callable[[str], str]) -> tuple[str, str]:
    """(backend, URL) of an empty database: the fuzzer writes whatever it likes, emptied before the next test."""
    return request.param, emptied(migrated_database, request.param)


@pytest.mark.slow
async def test_api_fuzz(fresh_database: tuple[str, str]) -> None:
    backend, url = fresh_database
    examples = EXAMPLES if backend == "sqlite" else SERVER_EXAMPLES
    async with running_harness(url) as h:
        tokens, known = await _world(h)
        document = h.api._transport.app.openapi()  # type: ignore[attr-defined]
        schema = schemathesis.openapi.from_dict(document)
        # Unknown query parameters are ignored, as HTTP APIs do: do not count accepting them as a failure.
        schema.config.generation.update(allow_extra_parameters=False)
        loop = asyncio.get_running_loop()

        def call(kwargs: dict[str, Any]) -> httpx.Response:
            return asyncio.run_coroutine_threadsafe(send(h.api, kwargs), loop).result(timeout=60)

        tally = Tally()
        started = time.monotonic()
        await asyncio.to_thread(fuzz, schema, call, tokens, known, examples, tally)
    print(tally.line(backend, time.monotonic() - started))
    assert len(list(schema.get_all_operations())) == len(_operations(document))  # every operation was fuzzed
    assert tally.requests >= examples * len(tokens) * len(_operations(document)) // 2
    assert not tally.failures, "\n\n".join(f"{k}\n{v}" for k, v in sorted(tally.failures.items()))
    assert tally.server_errors == 0


async def _world(h: Harness) -> tuple[dict[str, str], dict[str, list[int]]]:
    """A shopper with an unpaid and a paid order, and their products: real ids for the paths."""
    alice = await h.shopper()
    unpaid = await h.order(alice)
    paid = await h.paid_order(alice, price_fen=5000)
    await h.api.post("/api/v1/wechat/notify", content=b"")  # a recorded rejection in the history
    known = {"order_id": [unpaid["id"], paid["id"]], "product_id": [unpaid["product_id"], paid["product_id"]]}
    key = await api_key(h)  # a merchant backend's API key, and one payment of its own
    payment = await h.api.post("/api/v1/payments", json=payment_body(alice.openid), headers=key)
    hook = await h.api.post("/api/v1/admin/webhook-endpoints", json={"url": "http://merchant.test/hooks",
                            "events": ["*"]}, headers=ADMIN)  # fmt: skip
    known |= {"payment_id": [payment.json()["id"]], "endpoint_id": [hook.json()["id"]]}
    tokens = {"shopper": alice.token, "operator": ADMIN["Authorization"].removeprefix("Bearer "),
              "api key": key["Authorization"].removeprefix("Bearer ")}  # fmt: skip
    return tokens, known


def _operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(method, path) for path, item in document["paths"].items() for method in item]
