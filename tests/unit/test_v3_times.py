"""RFC 3339 times and strict JSON for v3 bodies."""

from __future__ import annotations

import pytest

from silverpay.beijing import format_rfc3339, parse_rfc3339
from silverpay.errors import ProtocolError
from silverpay.wechat.v3.json_body import dumps, loads_object


def test_format_is_beijing_whole_seconds() -> None:
    assert format_rfc3339(1432099775) == "2015-05-20T13:29:35+08:00"
    assert format_rfc3339(1432099775.9) == "2015-05-20T13:29:35+08:00"


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2015-05-20T13:29:35+08:00", 1432099775),
        ("2015-05-20T05:29:35Z", 1432099775),
        ("2015-05-20T05:29:35.5+00:00", 1432099775.5),
    ],
)
def test_parse(text: str, epoch: float) -> None:
    assert parse_rfc3339(text) == epoch


@pytest.mark.parametrize(
    "text",
    ["2015-05-20", "2015-05-20T13:29:35", "2015-05-20 13:29:35+08:00", "20150520132935", "2015-02-30T00:00:00Z", ""],
)
def test_parse_refuses(text: str) -> None:
    with pytest.raises(ProtocolError):
        parse_rfc3339(text)


def test_dumps_is_compact_utf8() -> None:
    assert dumps({"a": 1, "b": "支付"}) == '{"a":1,"b":"支付"}'.encode()


@pytest.mark.parametrize("raw", [b"", b"[]", b"1", b"{", b'{"a":1,"a":2}', b'{"a":NaN}', b'{"a":Infinity}', b"\xff"])
def test_loads_object_refuses(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        loads_object(raw)


def test_loads_object_size_cap() -> None:
    with pytest.raises(ProtocolError):
        loads_object(b'{"a":"' + b"x" * 100 + b'"}', max_bytes=50)
    assert loads_object('{"a":{"b":[1,2]}}') == {"a": {"b": [1, 2]}}
