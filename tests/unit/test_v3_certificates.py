"""``GET /v3/certificates`` bodies and test certificates (SPEC §3.2)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from silverpay.beijing import parse_rfc3339
from silverpay.errors import ConfigError, DecryptionError, ProtocolError, SignatureError
from silverpay.wechat.v3 import aead, certificates, keys
from silverpay.wechat.v3.certificates import PlatformCertificate
from silverpay.wechat.v3.signing import Failure, Signer, Verifier

API_V3_KEY = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
NOW = 1_700_000_000.0
DAY = 86400.0

# A real platform certificate list, from wechatpay-apiv3/wechatpay-java
# core/src/test/java/com/wechat/pay/java/core/model/TestConfig.java (DOWNLOAD_CERTIFICATE_RESPONSE,
# API_V3_KEY, DOWNLOAD_CERTIFICATE_SERIAL_NUMBER): an independent known answer for the decryption.
SDK_SERIAL = "5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC"
SDK_BODY = json.dumps(
    {
        "data": [
            {
                "effective_time": "2023-09-19T23:15:58+08:00",
                "encrypt_certificate": {
                    "algorithm": "AEAD_AES_256_GCM",
                    "associated_data": "certificate",
                    "ciphertext": (
                        "Mr/AxbvY+WL9hKlD5nIa03LOMPpn5f+CWeNxE4ujl0f5gXZ9XLJ9CldkArCOTsbU62XgKnTc3YvRMZQ7wCmE2fzwmAenAySTYs"
                        "Pms72JhggPWfdqVxri9YD5wBYKn8Ck0Fc5JIiVw9WlN2oxHBz83mRVsjoTGC5+cX1CdYqKuZ8pkvi0aCJIq07ZC8MHoTowUz+4"
                        "jYJy9XeKqip83Z7BmUYxsePpNM+HtihBqTJIUYXJfX7Col5X0ACsApRoU9l6swfW/kzvqNpDJavhDBGasLrr5822+Fk5nVkcTi"
                        "53f8Wbue7ODWjJxj1yhRYcxFCvXLtpYNB+Qa1aXtrBSdBdBI2p7o+6Imn+auHLBCzkrZqF/yd+d4vTn4tqHPLUj89XcHsMf96u"
                        "Bo3T/HQV8LEDeIO+6YvOK9FrIDYsvp+imN4n/mnF7eJKo9mpN/QqWJiawrFpAmMMxFKBjIdpgMnVUl3Z11RcWKyfOJ3kcmItTW"
                        "cnZFNyDgR9cS0aU6QPlefa3uUW89uzBuHjcFdDl43yU3LE4qZnHLDcDgx4qt0OFCLiy51GXtEpyYs5k99YJBvKK+RyIs4Yc1/s"
                        "mBmClQUhxW+8bsPNOcXfDvH2yX4YzESoO4TV0RqiCgnsSd4zIFyJPiMKIGzVHiw6Kg0eGCmB4mGHEEZCQ0eN3SSPO0QVjjtBYf"
                        "gXDZfVHSaAB8PjWBVNFimoViZZQrwT6Ygo0LU0Dd8+F5aHFYr4OPHPslr3hrgutEYXDTv1vTA6ABJGqknJ9Y2vtyWpy7aIwxc0"
                        "kQq/1ezjs+RMVL/LRpGDnbx1/CGPDjZhYgZypKa55+PDhoaQxqkF3xCLz2DGoNHZYmFqxzAOsAK0vJZw4VcAk6ssbA6YIaMuie"
                        "mEpxfLC9ZiXtRqsX9s+GWjjtA8JywOFMO+NKZm9BH/E5YNg2DDD3sHG9Mciwn7yJ6sdf8h2lAWlEExAOeiBNyshOHAQ0/S+x1n"
                        "cWNiqY+Uh5n0rtonvePV2MsxVlEWR3AVHn1abcEWkzivd+G5kg7LYO0goqzGClcQfnFfZdO6KwcMXsBCnm9A1Bl4+k5LLokTIY"
                        "H5/36SRIZ9j0CHGD77BQLE7x8AlNsoFS2m263tLLq78TFqvZUTIZIQcVIl+NInscS3xQbA38qqFqutCWIwoF1azuJ7woiJyMvn"
                        "S3xzIpNzP+rzJ8VDXxjLjpEUBOC9WDs74+QMtsAdmh6g0KDclHEk8WJ4P2bnso4z3VCGoDT5X/0bS1C+jMZMKaOCNB21FZ08qg"
                        "UHmKeDeg8ylENu+mh2Y/AaEDSGkGBHIfFbhMYO3uRxhk9hldiHEnHgdkXiVAAUWk/IhtmGijibO/L76vB74Xpes973uK+2iFKg"
                        "NBk8qTLLZZnuWbcMQuA6VsFULRb/C+q9B21YuAWPMzvgBwr4EX2m/OpF5w8Q0HL7v1H5H0mIGJbrjnklUPoBYrw30W3uk7yF0K"
                        "E6sfMukafFx0S9rBOL0RykGDPwC0lHSNySkXDeM5XvDJ+dtHK+RDwhJR+azfrWAHGMtZcQ+YVamjWVmHxXM03j3GeCXgqae1up"
                        "wHzkPL5OwojcQ5MQi3Kv/1xtwY0cRN/yeZTOsXfujtqhkJj/Vltby4lnW4SCj4LjWQF19BY6zhzF4yybBA8bhhtoNP/zx8QkhH"
                        "AkIROkK2ZVgfocCAPvfQ+vSrsIBO+L5cmg6mzFn4g84lsHscgXnszIlzUrzx/4Tam0uwuS9J1gddZ0I0QUt9SJzfsoBCTU0OgN"
                        "MUtXKS5HvgXe7abexMtFH5eulOsAuFZkQ5LYJa/m4yHFInXzL/t3hjdTi2NmxUufvYzwIyffRTu5vS9vjscARD9lUQDHFQ/xgW"
                        "e1i8EkRlrSfjlXt00+4//h2bcJKyTBT3IXwvKNsuY29V9/vU3HkvWKZ99zpSlmcZRuBa1BHbyPEvc0NlqIIoKidxqUvOR64Mzu"
                        "dHhAjgWFP+IXojfhS3Gj9OJhBL7s"
                    ),
                    "nonce": "14b16c03dc1b",
                },
                "expire_time": "2028-09-17T23:15:58+08:00",
                "serial_no": SDK_SERIAL,
            }
        ]
    }
)


@dataclass(frozen=True)
class Platform:
    key: rsa.RSAPrivateKey
    serial: str
    certificate: x509.Certificate


@pytest.fixture(scope="module")
def platform() -> Platform:
    key = keys.generate_private_key()
    serial = "3775B6A45ACD588826D15E583A95F5DD2A2A1F16"
    return Platform(
        key, serial, certificates.self_signed_certificate(key, serial, not_before=NOW - DAY, not_after=NOW + 365 * DAY)
    )


@pytest.fixture(scope="module")
def successor() -> Platform:
    key = keys.generate_private_key()
    serial = "0A1B2C3D4E5F"
    return Platform(
        key, "A1B2C3D4E5F", certificates.self_signed_certificate(key, serial, not_before=NOW, not_after=NOW + 730 * DAY)
    )


def test_sdk_body_decrypts_to_the_listed_certificate() -> None:
    [entry] = certificates.parse_certificates(SDK_BODY, API_V3_KEY)
    assert entry.serial_no == SDK_SERIAL
    assert entry.effective_at == parse_rfc3339("2023-09-19T23:15:58+08:00")
    assert entry.expires_at == parse_rfc3339("2028-09-17T23:15:58+08:00")
    assert entry.public_key.key_size == 2048
    assert entry.pem().startswith(b"-----BEGIN CERTIFICATE-----")
    assert entry.is_valid_at(parse_rfc3339("2025-01-01T00:00:00+08:00"))
    assert not entry.is_valid_at(parse_rfc3339("2029-01-01T00:00:00+08:00"))


def test_sdk_body_with_another_key_does_not_decrypt() -> None:
    with pytest.raises(DecryptionError):
        certificates.parse_certificates(SDK_BODY, "b" * 32)


def test_self_signed_certificate(platform: Platform) -> None:
    assert keys.certificate_serial(platform.certificate) == platform.serial
    public_key = platform.certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert public_key.public_numbers() == platform.key.public_key().public_numbers()
    pem = certificates.certificate_pem(platform.certificate)
    assert certificates.load_certificate(pem.decode()) == platform.certificate
    assert keys.load_public_key(pem).public_numbers() == platform.key.public_key().public_numbers()


@pytest.mark.parametrize("serial", [0, -1, 2**159, "0"])
def test_self_signed_serial_range(platform: Platform, serial: int | str) -> None:
    with pytest.raises(ValueError, match="serial"):
        certificates.self_signed_certificate(platform.key, serial, not_before=NOW, not_after=NOW + DAY)


def test_body_round_trip(platform: Platform, successor: Platform) -> None:
    body = certificates.certificates_body([platform.certificate, successor.certificate], API_V3_KEY)
    document = json.loads(body)
    first = document["data"][0]
    assert first["serial_no"] == platform.serial
    assert first["effective_time"].endswith("+08:00")
    assert first["encrypt_certificate"]["algorithm"] == "AEAD_AES_256_GCM"
    assert first["encrypt_certificate"]["associated_data"] == "certificate"
    parsed = certificates.parse_certificates(body, API_V3_KEY)
    assert [c.serial_no for c in parsed] == [platform.serial, successor.serial]
    assert [c.certificate for c in parsed] == [platform.certificate, successor.certificate]
    assert parsed[0].effective_at == NOW - DAY


def test_deterministic_nonces(platform: Platform) -> None:
    body = certificates.certificates_body([platform.certificate], API_V3_KEY, nonce=lambda: "abcdefghijkl")
    assert body == certificates.certificates_body([platform.certificate], API_V3_KEY, nonce=lambda: "abcdefghijkl")


def entry_body(platform: Platform, **changes: object) -> dict[str, object]:
    document = json.loads(certificates.certificates_body([platform.certificate], API_V3_KEY))
    entry = document["data"][0]
    for path, value in changes.items():
        target = entry
        *parents, leaf = path.split("__")
        for parent in parents:
            target = target[parent]
        if value is None:
            del target[leaf]
        else:
            target[leaf] = value
    return document  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "changes",
    [
        {"serial_no": "ABCDEF"},  # not the certificate's serial
        {"serial_no": None},
        {"effective_time": "2023-09-19 23:15:58"},
        {"expire_time": None},
        {"encrypt_certificate__algorithm": "AEAD_AES_128_GCM"},
        {"encrypt_certificate__nonce": None},
        {"encrypt_certificate": "x"},
    ],
)
def test_malformed_entries_are_protocol_errors(platform: Platform, changes: dict[str, object]) -> None:
    with pytest.raises(ProtocolError):
        certificates.parse_certificates(json.dumps(entry_body(platform, **changes)), API_V3_KEY)


def test_serial_comparison_ignores_case(platform: Platform) -> None:
    body = json.dumps(entry_body(platform, serial_no=platform.serial.lower()))
    assert certificates.parse_certificates(body, API_V3_KEY)[0].serial_no == platform.serial


def test_altered_certificate_is_a_decryption_error(platform: Platform) -> None:
    for changes in (
        {"encrypt_certificate__associated_data": "transaction"},
        {"encrypt_certificate__nonce": "000000000000"},
    ):
        with pytest.raises(DecryptionError):
            certificates.parse_certificates(json.dumps(entry_body(platform, **changes)), API_V3_KEY)


def test_ciphertext_that_is_not_a_certificate(platform: Platform) -> None:
    nonce = "abcdefghijkl"
    body = entry_body(
        platform,
        encrypt_certificate__nonce=nonce,
        encrypt_certificate__ciphertext=aead.encrypt(API_V3_KEY, nonce, "certificate", "hello"),
    )
    with pytest.raises(ProtocolError):
        certificates.parse_certificates(json.dumps(body), API_V3_KEY)


@pytest.mark.parametrize("body", ["", "[]", '{"data":[]}', '{"data":{}}', '{"data":[1]}', "{", '{"data":[],"data":[]}'])
def test_malformed_bodies(body: str) -> None:
    with pytest.raises(ProtocolError):
        certificates.parse_certificates(body, API_V3_KEY)


def test_load_certificate_refuses_garbage() -> None:
    with pytest.raises(ConfigError):
        certificates.load_certificate(b"nope")


# The download response and its signature -------------------------------------------------------


def signed(platform: Platform, body: bytes, *, timestamp: float = NOW) -> dict[str, str]:
    return Signer(platform.serial, platform.key).wechatpay_headers(body, timestamp=int(timestamp), nonce="n1")


def test_first_download_is_checked_with_the_certificates_it_carries(platform: Platform) -> None:
    body = certificates.certificates_body([platform.certificate], API_V3_KEY)
    parsed = certificates.verify_certificates_response(signed(platform, body), body, API_V3_KEY, now=NOW)
    verifier = Verifier()
    assert certificates.trust_certificates(verifier, parsed, now=NOW) == [platform.serial]
    assert verifier.serials == {platform.serial}


def test_rotation_signed_by_the_old_key_lists_both(platform: Platform, successor: Platform) -> None:
    body = certificates.certificates_body([platform.certificate, successor.certificate], API_V3_KEY)
    known = Verifier()
    known.add_certificate(platform.certificate)
    parsed = certificates.verify_certificates_response(signed(platform, body), body, API_V3_KEY, now=NOW, known=known)
    assert {c.serial_no for c in parsed} == {platform.serial, successor.serial}
    assert known.serials == {platform.serial}  # not modified


def test_download_signed_by_a_stranger_is_refused(platform: Platform, successor: Platform) -> None:
    body = certificates.certificates_body([platform.certificate], API_V3_KEY)
    stranger = Platform(successor.key, platform.serial, successor.certificate)  # claims the listed serial
    with pytest.raises(SignatureError) as caught:
        certificates.verify_certificates_response(signed(stranger, body), body, API_V3_KEY, now=NOW)
    assert caught.value.code == Failure.INVALID


def test_download_signed_with_an_unlisted_key_is_unknown(platform: Platform, successor: Platform) -> None:
    body = certificates.certificates_body([platform.certificate], API_V3_KEY)
    with pytest.raises(SignatureError) as caught:
        certificates.verify_certificates_response(signed(successor, body), body, API_V3_KEY, now=NOW)
    assert caught.value.code == Failure.UNKNOWN_SERIAL


def test_expired_certificates_are_not_trusted(platform: Platform) -> None:
    later = NOW + 400 * DAY
    body = certificates.certificates_body([platform.certificate], API_V3_KEY)
    parsed = certificates.parse_certificates(body, API_V3_KEY)
    assert certificates.trust_certificates(Verifier(), parsed, now=later) == []
    with pytest.raises(SignatureError) as caught:
        certificates.verify_certificates_response(signed(platform, body, timestamp=later), body, API_V3_KEY, now=later)
    assert caught.value.code == Failure.UNKNOWN_SERIAL


def test_platform_certificate_dataclass_is_plain(platform: Platform) -> None:
    entry = PlatformCertificate(platform.serial, NOW, NOW + DAY, platform.certificate)
    assert entry.public_key.public_numbers() == platform.key.public_key().public_numbers()
