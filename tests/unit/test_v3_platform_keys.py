"""Which keys verify WeChat, and when certificates are downloaded: lazily, once at a time, rate-limited."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from silverpay.errors import SignatureError, UpstreamUnavailable
from silverpay.wechat.v3 import keys
from silverpay.wechat.v3.certificates import certificates_body, self_signed_certificate
from silverpay.wechat.v3.platform_keys import PlatformKeys
from silverpay.wechat.v3.signing import SIGNTEST_PREFIX, Failure, Signer, Verifier

API_V3_KEY = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
NOW = 1_700_000_000.0
PUB_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"
KEY = keys.generate_private_key()
CERT = self_signed_certificate(KEY, 0x5157F09E, not_before=NOW - 86400, not_after=NOW + 86400 * 365)
CERT_SERIAL = keys.certificate_serial(CERT)


class Downloads:
    """A fake /v3/certificates: counts calls, answers as told."""

    def __init__(self, *, key: object = KEY, fail: bool = False) -> None:
        self.calls = 0
        self.key = key
        self.fail = fail

    async def __call__(self) -> tuple[Mapping[str, str], bytes]:
        self.calls += 1
        await asyncio.sleep(0.01)  # a real round trip: lets concurrent callers pile up
        if self.fail:
            raise UpstreamUnavailable("/v3/certificates: ConnectTimeout")
        body = certificates_body([CERT], API_V3_KEY)
        return Signer(CERT_SERIAL, self.key).wechatpay_headers(body, timestamp=int(NOW), nonce="n1"), body  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def platform(fetch: Downloads | None, *, public_key: bool = False, monotonic: Clock | None = None) -> PlatformKeys:
    verifier = Verifier({PUB_KEY_ID: KEY.public_key()} if public_key else {})
    return PlatformKeys(verifier, api_v3_key=API_V3_KEY, fetch=fetch, clock=lambda: NOW,
                        monotonic=monotonic or Clock(), min_interval_s=60)  # fmt: skip


def signed(serial: str, body: bytes = b'{"a":1}', *, timestamp: float = NOW) -> dict[str, str]:
    return Signer(serial, KEY).wechatpay_headers(body, timestamp=int(timestamp), nonce="abc")


async def test_public_key_mode_verifies_without_downloading() -> None:
    downloads = Downloads()
    keys_ = platform(downloads, public_key=True)
    assert (await keys_.verify(signed(PUB_KEY_ID), b'{"a":1}')).serial == PUB_KEY_ID
    assert downloads.calls == 0


async def test_an_unknown_certificate_serial_downloads_once_and_is_then_cached() -> None:
    downloads = Downloads()
    keys_ = platform(downloads)
    results = await asyncio.gather(*(keys_.verify(signed(CERT_SERIAL), b'{"a":1}') for _ in range(5)))
    assert {r.serial for r in results} == {CERT_SERIAL}
    assert downloads.calls == 1  # single-flight: the other four waited for it
    await keys_.verify(signed(CERT_SERIAL), b'{"a":1}')
    assert downloads.calls == 1 and CERT_SERIAL in keys_.serials


async def test_refreshes_are_rate_limited() -> None:
    downloads, monotonic = Downloads(), Clock()
    keys_ = platform(downloads, monotonic=monotonic)
    for serial in ("AAAA01", "AAAA02"):
        with pytest.raises(SignatureError) as refused:
            await keys_.verify(signed(serial), b'{"a":1}')
        assert refused.value.code == Failure.UNKNOWN_SERIAL
    assert downloads.calls == 1  # the second unknown serial came within the minute
    assert (await keys_.verify(signed(CERT_SERIAL), b'{"a":1}')).serial == CERT_SERIAL  # the first one brought it
    monotonic.t = 61
    with pytest.raises(SignatureError):
        await keys_.verify(signed("AAAA03"), b'{"a":1}')
    assert downloads.calls == 2  # a minute later, another unknown serial may download again


@pytest.mark.parametrize("serial", [PUB_KEY_ID.replace("0114", "9999"), CERT_SERIAL])
async def test_what_is_never_downloaded(serial: str) -> None:
    downloads = Downloads()
    keys_ = platform(downloads if serial.startswith("PUB") else None)
    with pytest.raises(SignatureError):
        await keys_.verify(signed(serial), b'{"a":1}')
    assert downloads.calls == 0  # public keys are configuration; fetch=None means never


@pytest.mark.parametrize("case", ["stale", "probe"])
async def test_stale_and_probe_messages_never_cause_a_download(case: str) -> None:
    downloads = Downloads()
    keys_ = platform(downloads)
    headers = signed(CERT_SERIAL, timestamp=NOW - 301)
    if case == "probe":
        headers = {**signed(CERT_SERIAL), "Wechatpay-Signature": SIGNTEST_PREFIX + "x"}
    with pytest.raises(SignatureError) as refused:
        await keys_.verify(headers, b'{"a":1}')
    assert refused.value.code == (Failure.STALE if case == "stale" else Failure.PROBE)
    assert downloads.calls == 0


@pytest.mark.parametrize("downloads", [Downloads(fail=True), Downloads(key=keys.generate_private_key())])
async def test_a_failed_or_forged_download_keeps_what_is_held(downloads: Downloads) -> None:
    keys_ = platform(downloads, public_key=True)
    with pytest.raises(SignatureError):
        await keys_.verify(signed(CERT_SERIAL), b'{"a":1}')
    assert downloads.calls == 1 and keys_.serials == {PUB_KEY_ID}
    assert (await keys_.verify(signed(PUB_KEY_ID), b'{"a":1}')).serial == PUB_KEY_ID  # the switch: both held


async def test_both_modes_side_by_side() -> None:
    keys_ = platform(Downloads(), public_key=True)
    assert (await keys_.verify(signed(CERT_SERIAL), b'{"a":1}')).serial == CERT_SERIAL
    assert (await keys_.verify(signed(PUB_KEY_ID), b'{"a":1}')).serial == PUB_KEY_ID
    assert keys_.serials == {PUB_KEY_ID, CERT_SERIAL}
