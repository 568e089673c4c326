import pytest

from silverpay.errors import XmlError
from silverpay.wechat.v2 import xml
from tests.vectors import vector

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<xml><return_code>&lol4;</return_code></xml>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><return_code>&xxe;</return_code></xml>"""

OFFICIAL_XML = (
    "<xml><appid>wxd930ea5d5a258f4f</appid><mch_id>10000100</mch_id><device_info>1000</device_info>"
    "<body>test</body><nonce_str>ibuaiVcKdpRxkhJA</nonce_str><sign>9A0A8659F005D6984697E2CA0A9CF3B7</sign></xml>"
)


def test_decode_official_example() -> None:
    fields = xml.decode(OFFICIAL_XML)
    v = vector("v2_sign_official")
    assert fields == {**v["params"], "sign": v["md5"]}


def test_round_trip_with_cdata_and_integers() -> None:
    params = {"body": "腾讯充值 <&> ]]> end", "total_fee": 101, "empty": "", "skip": None}
    text = xml.encode(params)
    assert "<total_fee>101</total_fee>" in text
    assert "<![CDATA[" in text
    assert "skip" not in text
    assert xml.decode(text) == {"body": "腾讯充值 <&> ]]> end", "total_fee": "101", "empty": ""}


def test_encode_rejects_bad_names_and_types() -> None:
    with pytest.raises(XmlError):
        xml.encode({"bad name": "x"})
    with pytest.raises(XmlError):
        xml.encode({"flag": True})


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (BILLION_LAUGHS, "DOCTYPE"),
        (XXE, "DOCTYPE"),
        (b"<!DOCTYPE xml><xml><a>1</a></xml>", "DOCTYPE"),
        (b"<xml><a><b>1</b></a></xml>", "nested"),
        (b"<xml><a>1</a><a>2</a></xml>", "twice"),
        (b"<xml><a>1</a>", "malformed"),
        (b"not xml at all", "malformed"),
        (b"<xml><a>1</a>\\n<b>2</b></xml>", "outside"),
        (b"<xml>stray<a>1</a></xml>", "outside"),
        (b"", "empty"),
        (b"   ", "empty"),
        (b"<xml><a>" + b"x" * (64 * 1024) + b"</a></xml>", "larger"),
    ],
)
def test_decode_rejects(body: bytes, reason: str) -> None:
    with pytest.raises(XmlError, match=reason):
        xml.decode(body)


def test_decode_respects_custom_cap() -> None:
    with pytest.raises(XmlError):
        xml.decode(b"<xml><a>12345</a></xml>", max_bytes=10)
