"""API v3 request and response signatures (SPEC §3.1, §3.2)."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from silverpay.errors import ConfigError, SignatureError
from silverpay.wechat.v3 import keys, signing
from silverpay.wechat.v3.signing import Authorization, Failure, Signer, Verifier, WechatpayHeaders
from tests.vectors import VECTORS_DIR, vector

NOW = 1_700_000_000
MCHID = "1900009191"
MERCHANT_SERIAL = "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"
PLATFORM_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
PUBLIC_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"
BODY = '{"prepay_id":"wx201410272009395522657a690389285100","note":"支付"}'.encode()


@dataclass(frozen=True)
class Keys:
    merchant: rsa.RSAPrivateKey
    platform: rsa.RSAPrivateKey
    pubkey_mode: rsa.RSAPrivateKey
    stranger: rsa.RSAPrivateKey


@pytest.fixture(scope="module")
def k() -> Keys:
    merchant = keys.load_private_key((VECTORS_DIR / vector("v3_request_signature")["private_key_file"]).read_bytes())
    return Keys(merchant, keys.generate_private_key(), keys.generate_private_key(), keys.generate_private_key())


def platform_verifier(k: Keys) -> Verifier:
    return Verifier({PLATFORM_SERIAL: k.platform.public_key()})


def signed_response(k: Keys, body: bytes = BODY, *, timestamp: int = NOW, nonce: str = "N0NCE") -> dict[str, str]:
    return Signer(PLATFORM_SERIAL, k.platform).wechatpay_headers(body, timestamp=timestamp, nonce=nonce)


# Known answer ----------------------------------------------------------------------------------


def test_request_signature_vector(k: Keys) -> None:
    v = vector("v3_request_signature")
    message = signing.request_message("GET", "test", "1651854037", "1E3A8D73B5A4AEE787C0F68B5DAB8520", "")
    assert message == v["message"].encode()
    assert signing.sign(k.merchant, message) == v["signature"]
    signing.verify_signature(k.merchant.public_key(), message, v["signature"])


def test_doc_example_message_shape() -> None:
    # SPEC §3.1: "GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n"
    message = signing.request_message("GET", "/v3/certificates", 1554208460, "593BEC0C930BF1AFEB40B4A08C8FB242")
    assert message == b"GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n"
    assert signing.response_message("1554208460", "abc", b"") == b"1554208460\nabc\n\n"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.mch.weixin.qq.com/v3/certificates", "/v3/certificates"),
        (
            "https://api.mch.weixin.qq.com/v3/pay/transactions/out-trade-no/123?mchid=1230000109",
            "/v3/pay/transactions/out-trade-no/123?mchid=1230000109",
        ),
        ("/v3/pay/transactions/jsapi", "/v3/pay/transactions/jsapi"),
        ("/v3/x/a%2Fb?q=%E4%B8%AD&r=1", "/v3/x/a%2Fb?q=%E4%B8%AD&r=1"),  # kept exactly as sent
        ("https://api.mch.weixin.qq.com", "/"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert signing.canonical_url(url) == expected


def test_nonce_str_shape() -> None:
    nonce = signing.nonce_str()
    assert len(nonce) == 32 and nonce == nonce.upper() and int(nonce, 16) >= 0
    assert signing.nonce_str() != nonce


# Authorization ---------------------------------------------------------------------------------


def test_authorization_header_shape_and_round_trip(k: Keys) -> None:
    signer = Signer(MERCHANT_SERIAL, k.merchant)
    header = signer.authorization(
        mchid=MCHID,
        method="POST",
        url="https://api.mch.weixin.qq.com/v3/pay/transactions/jsapi",
        body=BODY,
        timestamp=NOW,
        nonce="593BEC0C930BF1AFEB40B4A08C8FB242",
    )
    assert header.startswith(
        'WECHATPAY2-SHA256-RSA2048 mchid="1900009191",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",'
    )
    assert header.endswith(f'timestamp="{NOW}",serial_no="{MERCHANT_SERIAL}"')
    auth = Authorization.parse(header)
    assert (auth.mchid, auth.timestamp, auth.serial_no) == (MCHID, str(NOW), MERCHANT_SERIAL)
    assert auth.header_value() == header
    message = signing.request_message("POST", "/v3/pay/transactions/jsapi", NOW, auth.nonce_str, BODY)
    signing.verify_signature(k.merchant.public_key(), message, auth.signature)


def test_authorization_fields_in_any_order_and_with_spaces() -> None:
    header = (
        'WECHATPAY2-SHA256-RSA2048  serial_no="ABC", signature="c2ln", timestamp="1554208460",'
        ' nonce_str="n1",mchid="1900009191"'
    )
    auth = Authorization.parse(header)
    assert auth == Authorization("1900009191", "n1", "c2ln", "1554208460", "ABC")


GOOD = 'mchid="1",nonce_str="n",signature="c2ln",timestamp="1554208460",serial_no="AB"'
SCHEME = "WECHATPAY2-SHA256-RSA2048 "


def variant(old: str, new: str) -> str:
    assert old in GOOD
    return SCHEME + GOOD.replace(old, new)


@pytest.mark.parametrize(
    ("header", "failure"),
    [
        (None, Failure.MISSING),
        ("", Failure.MISSING),
        ("   ", Failure.MISSING),
        ("Bearer " + GOOD, Failure.UNSUPPORTED_TYPE),
        ("WECHATPAY2-SHA256-RSA " + GOOD, Failure.UNSUPPORTED_TYPE),
        (GOOD, Failure.UNSUPPORTED_TYPE),  # no scheme at all
        (variant(',serial_no="AB"', ""), Failure.MISSING),
        (SCHEME, Failure.MISSING),
        (SCHEME + "x", Failure.MALFORMED),
        (SCHEME + GOOD + ',mchid="2"', Failure.MALFORMED),  # duplicate
        (SCHEME + GOOD + ',mchid="1"', Failure.MALFORMED),  # duplicate, same value
        (SCHEME + GOOD + ',extra="x"', Failure.MALFORMED),  # unknown field
        (SCHEME + GOOD + ",", Failure.MALFORMED),  # trailing comma
        (variant('mchid="1"', "mchid=1"), Failure.MALFORMED),  # unquoted
        (variant('mchid="1"', 'mchid="1'), Failure.MALFORMED),  # unterminated
        (variant('mchid="1"', 'mchid=""'), Failure.MALFORMED),  # empty
        (variant('mchid="1"', 'MCHID="1"'), Failure.MALFORMED),  # names are exact
        (variant("1554208460", "155420846x"), Failure.MALFORMED),
        (variant("1554208460", "-1"), Failure.MALFORMED),
        (variant("c2ln", "not base64!"), Failure.MALFORMED),
        (variant('nonce_str="n"', 'nonce_str="a b"'), Failure.MALFORMED),
        (variant('serial_no="AB"', 'serial_no="A,B"'), Failure.MALFORMED),
        (variant(",nonce_str", " nonce_str"), Failure.MALFORMED),  # no comma between pairs
    ],
)
def test_malformed_authorization_is_refused(header: str | None, failure: Failure) -> None:
    with pytest.raises(SignatureError) as caught:
        Authorization.parse(header)
    assert caught.value.code == failure


def test_scheme_is_case_insensitive() -> None:
    assert Authorization.parse("wechatpay2-sha256-rsa2048 " + GOOD).mchid == "1"


# Verifying a merchant request (the simulator's side) ------------------------------------------


def merchant_request(
    k: Keys, *, body: bytes = BODY, timestamp: int = NOW, url: str = "/v3/pay/transactions/jsapi"
) -> str:
    return Signer(MERCHANT_SERIAL, k.merchant).authorization(
        mchid=MCHID, method="POST", url=url, body=body, timestamp=timestamp, nonce="abc123"
    )


def merchant_verifier(k: Keys) -> Verifier:
    return Verifier({MERCHANT_SERIAL: k.merchant.public_key()})


def test_verify_request_round_trip(k: Keys) -> None:
    url = "https://api.mch.weixin.qq.com/v3/pay/transactions/out-trade-no/o-1?mchid=1900009191"
    header = Signer(MERCHANT_SERIAL, k.merchant).authorization(
        mchid=MCHID, method="GET", url=url, timestamp=NOW, nonce="abc123"
    )
    auth = merchant_verifier(k).verify_request(header, method="GET", url=url, now=NOW + 10, mchid=MCHID)
    assert auth.serial_no == MERCHANT_SERIAL
    # the relative form of the same URL verifies too
    merchant_verifier(k).verify_request(header, method="GET", url=signing.canonical_url(url), now=NOW)


@pytest.mark.parametrize(
    ("change", "failure"),
    [
        ({"body": BODY + b" "}, Failure.INVALID),
        ({"method": "PUT"}, Failure.INVALID),
        ({"url": "/v3/pay/transactions/native"}, Failure.INVALID),
        ({"url": "/v3/pay/transactions/jsapi?x=1"}, Failure.INVALID),
        ({"now": NOW + 301}, Failure.STALE),
        ({"now": NOW - 301}, Failure.STALE),
        ({"mchid": "1900000000"}, Failure.MCHID_MISMATCH),
    ],
)
def test_verify_request_refusals(k: Keys, change: dict[str, object], failure: Failure) -> None:
    args: dict[str, object] = {"method": "POST", "url": "/v3/pay/transactions/jsapi", "body": BODY, "now": NOW}
    args |= change
    with pytest.raises(SignatureError) as caught:
        merchant_verifier(k).verify_request(merchant_request(k), **args)  # type: ignore[arg-type]
    assert caught.value.code == failure


def test_verify_request_unknown_merchant_serial(k: Keys) -> None:
    with pytest.raises(SignatureError) as caught:
        platform_verifier(k).verify_request(
            merchant_request(k), method="POST", url="/v3/pay/transactions/jsapi", body=BODY, now=NOW
        )
    assert caught.value.code == Failure.UNKNOWN_SERIAL


def test_verify_request_signed_by_another_key(k: Keys) -> None:
    forged = Signer(MERCHANT_SERIAL, k.stranger).authorization(
        mchid=MCHID, method="POST", url="/v3/pay/transactions/jsapi", body=BODY, timestamp=NOW, nonce="abc123"
    )
    with pytest.raises(SignatureError) as caught:
        merchant_verifier(k).verify_request(forged, method="POST", url="/v3/pay/transactions/jsapi", body=BODY, now=NOW)
    assert caught.value.code == Failure.INVALID


# Verifying a response or notification ----------------------------------------------------------


def test_response_round_trip(k: Keys) -> None:
    headers = signed_response(k)
    assert headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    assert headers["Wechatpay-Serial"] == PLATFORM_SERIAL
    signed = platform_verifier(k).verify_response(headers, BODY, now=NOW)
    assert (signed.serial, signed.timestamp, signed.nonce) == (PLATFORM_SERIAL, str(NOW), "N0NCE")
    # the signature covers TIMESTAMP\nNONCE\nBODY\n, checked independently here
    message = f"{NOW}\nN0NCE\n".encode() + BODY + b"\n"
    signing.verify_signature(k.platform.public_key(), message, headers["Wechatpay-Signature"])


def test_empty_body_response(k: Keys) -> None:
    headers = signed_response(k, b"")
    platform_verifier(k).verify_response(headers, b"", now=NOW)
    with pytest.raises(SignatureError):
        platform_verifier(k).verify_response(headers, b"{}", now=NOW)


def test_header_names_are_case_insensitive(k: Keys) -> None:
    headers = {name.lower(): value for name, value in signed_response(k).items()}
    platform_verifier(k).verify_response(headers, BODY, now=NOW)


def test_absent_signature_type_means_the_rsa_type(k: Keys) -> None:
    headers = signed_response(k)
    del headers["Wechatpay-Signature-Type"]
    platform_verifier(k).verify_response(headers, BODY, now=NOW)


@pytest.mark.parametrize(
    "body",
    [
        BODY + b" ",
        BODY.replace(b"wx2014", b"wx2015"),
        b'{"prepay_id": "wx201410272009395522657a690389285100", "note": "\\u652f\\u4ed8"}',  # re-serialised
        b"",
    ],
)
def test_tampered_body_is_refused(k: Keys, body: bytes) -> None:
    with pytest.raises(SignatureError) as caught:
        platform_verifier(k).verify_response(signed_response(k), body, now=NOW)
    assert caught.value.code == Failure.INVALID


@pytest.mark.parametrize(
    ("header", "value"),
    [("Wechatpay-Timestamp", str(NOW + 1)), ("Wechatpay-Nonce", "N0NCF")],
)
def test_tampered_headers_are_refused(k: Keys, header: str, value: str) -> None:
    headers = signed_response(k) | {header: value}
    with pytest.raises(SignatureError) as caught:
        platform_verifier(k).verify_response(headers, BODY, now=NOW)
    assert caught.value.code == Failure.INVALID


def test_wrong_key_for_the_serial(k: Keys) -> None:
    headers = Signer(PLATFORM_SERIAL, k.stranger).wechatpay_headers(BODY, timestamp=NOW, nonce="n")
    with pytest.raises(SignatureError) as caught:
        platform_verifier(k).verify_response(headers, BODY, now=NOW)
    assert caught.value.code == Failure.INVALID


def test_merchant_key_does_not_verify_responses(k: Keys) -> None:
    # SPEC §3.2: "The merchant certificate will not verify."
    verifier = Verifier({PLATFORM_SERIAL: k.merchant.public_key()})
    with pytest.raises(SignatureError):
        verifier.verify_response(signed_response(k), BODY, now=NOW)


def test_unknown_serial_is_reported_distinctly(k: Keys) -> None:
    headers = signed_response(k) | {"Wechatpay-Serial": "7132D72A03E93CDDF8C03BBD1F37EEDF204F6767"}
    with pytest.raises(SignatureError) as caught:
        platform_verifier(k).verify_response(headers, BODY, now=NOW)
    assert caught.value.code == Failure.UNKNOWN_SERIAL
    assert Failure.UNKNOWN_SERIAL.value == "SIGNATURE_UNKNOWN_SERIAL"  # a stable code callers may match


def test_wrong_serial_that_is_known_is_invalid(k: Keys) -> None:
    verifier = Verifier({PLATFORM_SERIAL: k.platform.public_key(), PUBLIC_KEY_ID: k.pubkey_mode.public_key()})
    headers = signed_response(k) | {"Wechatpay-Serial": PUBLIC_KEY_ID}
    with pytest.raises(SignatureError) as caught:
        verifier.verify_response(headers, BODY, now=NOW)
    assert caught.value.code == Failure.INVALID


@pytest.mark.parametrize(("offset", "ok"), [(0, True), (300, True), (-300, True), (301, False), (-301, False)])
def test_timestamp_window(k: Keys, offset: int, ok: bool) -> None:
    headers = signed_response(k)
    if ok:
        platform_verifier(k).verify_response(headers, BODY, now=NOW + offset)
    else:
        with pytest.raises(SignatureError) as caught:
            platform_verifier(k).verify_response(headers, BODY, now=NOW + offset)
        assert caught.value.code == Failure.STALE


def test_stale_is_reported_before_an_unknown_serial(k: Keys) -> None:
    headers = signed_response(k) | {"Wechatpay-Serial": "ABCDEF"}
    with pytest.raises(SignatureError) as caught:
        platform_verifier(k).verify_response(headers, BODY, now=NOW + 3600)
    assert caught.value.code == Failure.STALE


def test_custom_window(k: Keys) -> None:
    verifier = Verifier({PLATFORM_SERIAL: k.platform.public_key()}, max_skew_s=60)
    with pytest.raises(SignatureError):
        verifier.verify_response(signed_response(k), BODY, now=NOW + 61)


@pytest.mark.parametrize("serial", [PLATFORM_SERIAL, "UNKNOWN0SERIAL"])
def test_signtest_probe_never_verifies(k: Keys, serial: str) -> None:
    headers = signed_response(k) | {
        "Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + signed_response(k)["Wechatpay-Signature"],
        "Wechatpay-Serial": serial,
    }
    with pytest.raises(SignatureError) as caught:
        platform_verifier(k).verify_response(headers, BODY, now=NOW)
    assert caught.value.code == Failure.PROBE  # never UNKNOWN_SERIAL: a probe must not cause a refresh


def test_signtest_probe_in_a_request(k: Keys) -> None:
    header = merchant_request(k).replace('signature="', 'signature="WECHATPAY/SIGNTEST/')
    with pytest.raises(SignatureError) as caught:
        merchant_verifier(k).verify_request(header, method="POST", url="/v3/pay/transactions/jsapi", body=BODY, now=NOW)
    assert caught.value.code == Failure.PROBE


def test_signtest_probe_in_verify_signature(k: Keys) -> None:
    with pytest.raises(SignatureError) as caught:
        signing.verify_signature(k.platform.public_key(), b"m", "WECHATPAY/SIGNTEST/abc")
    assert caught.value.code == Failure.PROBE


@pytest.mark.parametrize(
    "missing", ["Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial"]
)
def test_missing_header(k: Keys, missing: str) -> None:
    headers = signed_response(k)
    del headers[missing]
    with pytest.raises(SignatureError) as caught:
        platform_verifier(k).verify_response(headers, BODY, now=NOW)
    assert caught.value.code == Failure.MISSING


@pytest.mark.parametrize(
    ("header", "value", "failure"),
    [
        ("Wechatpay-Signature-Type", "WECHATPAY2-SM2-WITH-SM3", Failure.UNSUPPORTED_TYPE),
        ("Wechatpay-Timestamp", "17e8", Failure.MALFORMED),
        ("Wechatpay-Timestamp", "", Failure.MISSING),
        ("Wechatpay-Signature", "%%%", Failure.MALFORMED),
        ("Wechatpay-Nonce", "a\nb", Failure.MALFORMED),
    ],
)
def test_malformed_headers(k: Keys, header: str, value: str, failure: Failure) -> None:
    headers = signed_response(k) | {header: value}
    with pytest.raises(SignatureError) as caught:
        platform_verifier(k).verify_response(headers, BODY, now=NOW)
    assert caught.value.code == failure


def test_repeated_header_is_refused(k: Keys) -> None:
    headers = signed_response(k) | {"wechatpay-serial": PLATFORM_SERIAL}
    with pytest.raises(SignatureError) as caught:
        WechatpayHeaders.from_headers(headers)
    assert caught.value.code == Failure.MALFORMED


def test_signature_that_is_not_quite_base64(k: Keys) -> None:
    headers = signed_response(k)
    headers["Wechatpay-Signature"] = headers["Wechatpay-Signature"][:-4]  # valid alphabet, wrong length
    with pytest.raises(SignatureError) as caught:
        platform_verifier(k).verify_response(headers, BODY, now=NOW)
    assert caught.value.code == Failure.INVALID


# Both modes and the transition -----------------------------------------------------------------


def test_certificate_mode_public_key_mode_and_both(k: Keys) -> None:
    by_certificate = Signer(PLATFORM_SERIAL, k.platform)
    by_public_key = Signer(PUBLIC_KEY_ID, k.pubkey_mode)
    both = Verifier()
    both.add_key(PLATFORM_SERIAL, k.platform.public_key())
    both.add_key(PUBLIC_KEY_ID, keys.public_key_pem(k.pubkey_mode.public_key()))  # PEM accepted
    assert both.serials == {PLATFORM_SERIAL, PUBLIC_KEY_ID}
    for signer in (by_certificate, by_public_key):
        headers = signer.wechatpay_headers(BODY, timestamp=NOW, nonce="n")
        assert both.verify_response(headers, BODY, now=NOW).serial == signer.serial_no
    only_public_key = Verifier({PUBLIC_KEY_ID: k.pubkey_mode.public_key()})
    with pytest.raises(SignatureError) as caught:
        only_public_key.verify_response(by_certificate.wechatpay_headers(BODY, timestamp=NOW, nonce="n"), BODY, now=NOW)
    assert caught.value.code == Failure.UNKNOWN_SERIAL


def test_hex_serials_compare_as_numbers(k: Keys) -> None:
    verifier = Verifier({"00" + PLATFORM_SERIAL.lower(): k.platform.public_key()})
    assert PLATFORM_SERIAL in verifier
    verifier.verify_response(signed_response(k), BODY, now=NOW)
    assert PUBLIC_KEY_ID.lower() not in Verifier({PUBLIC_KEY_ID: k.pubkey_mode.public_key()})  # ids are verbatim


def test_remove_and_copy(k: Keys) -> None:
    verifier = platform_verifier(k)
    clone = verifier.copy()
    verifier.remove(PLATFORM_SERIAL)
    assert PLATFORM_SERIAL not in verifier and PLATFORM_SERIAL in clone


def test_add_certificate_files_the_key_under_its_serial(k: Keys) -> None:
    from silverpay.wechat.v3.certificates import self_signed_certificate

    certificate = self_signed_certificate(k.platform, PLATFORM_SERIAL, not_before=NOW - 60, not_after=NOW + 86400)
    verifier = Verifier()
    assert verifier.add_certificate(certificate) == PLATFORM_SERIAL
    verifier.verify_response(signed_response(k), BODY, now=NOW)


# Keys ------------------------------------------------------------------------------------------


def test_key_loading(k: Keys) -> None:
    pem = keys.private_key_pem(k.platform)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    reloaded = keys.load_private_key(pem.decode())
    assert reloaded.public_key().public_numbers() == k.platform.public_key().public_numbers()
    signer = Signer(PLATFORM_SERIAL, pem)
    assert signer.public_key.public_numbers() == k.platform.public_key().public_numbers()


@pytest.mark.parametrize("pem", [b"", b"not a key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"])
def test_bad_private_key_is_a_config_error(pem: bytes) -> None:
    with pytest.raises(ConfigError):
        keys.load_private_key(pem)


def test_non_rsa_keys_are_config_errors() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_key = ec.generate_private_key(ec.SECP256R1())
    private = ec_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ConfigError):
        keys.load_private_key(private)
    with pytest.raises(ConfigError):
        keys.load_public_key(public)
    with pytest.raises(ConfigError):
        keys.load_public_key(b"garbage")


def test_signature_is_base64_of_256_bytes(k: Keys) -> None:
    assert len(base64.b64decode(signing.sign(k.platform, b"x"))) == 256
