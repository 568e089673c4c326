"""The platform's own API v3 identity: one RSA key pair, named two ways (SPEC §3.2).

WeChat names the key behind every v3 signature in ``Wechatpay-Serial``: a platform certificate
serial (uppercase hex; the certificate comes from ``GET /v3/certificates``) or a WeChat Pay public
key id (``PUB_KEY_ID_…``; the key is downloaded once from the merchant platform). The simulator
holds one key pair and presents it both ways, so a merchant can run in either mode or in the
switch between them, and tells which name it used for each signature.

Signature timestamps are wall-clock time, not the simulated clock: advancing the simulated clock
models business time passing (expiry, the close rule, retries), not a skewed host clock, and
clients in other processes only know wall time.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from silverpay.wechat.v3.certificates import certificate_pem, self_signed_certificate
from silverpay.wechat.v3.keys import (
    PUBLIC_KEY_ID_PREFIX,
    generate_private_key,
    load_private_key,
    normalize_serial,
    private_key_pem,
    public_key_pem,
)
from silverpay.wechat.v3.signing import Signer, nonce_str

CERTIFICATE_DAYS = 5 * 365  # platform certificates are valid for five years
DAY_S = 86400


def _fingerprint(key: rsa.RSAPrivateKey) -> bytes:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).digest()


@dataclass(frozen=True)
class Platform:
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    serial: str  # the certificate serial, as WeChat writes it
    public_key_id: str  # PUB_KEY_ID_ + 32 digits, like WeChat's

    @classmethod
    def create(cls, key_pem: bytes | str | None = None, *, now: float | None = None) -> Platform:
        """From a PEM private key, or a fresh RSA-2048 key; names derive from the key, so the
        same key always has the same serial and public key id."""
        key = load_private_key(key_pem) if key_pem else generate_private_key()
        digest = _fingerprint(key)
        serial_number = int.from_bytes(digest[:20], "big") >> 2 or 1  # positive, below 2**159
        public_key_id = PUBLIC_KEY_ID_PREFIX + f"{int.from_bytes(digest[20:32], 'big') % 10**32:032d}"
        wall = time.time() if now is None else now
        certificate = self_signed_certificate(
            key,
            serial_number,
            not_before=wall - DAY_S,
            not_after=wall + CERTIFICATE_DAYS * DAY_S,
            common_name="silverpay simulated WeChat Pay platform",
        )
        return cls(key, certificate, format(serial_number, "X"), public_key_id)

    def key_pem(self) -> bytes:
        return private_key_pem(self.key)

    def public_key_pem(self) -> str:
        return public_key_pem(self.key.public_key()).decode()

    def certificate_pem(self) -> str:
        return certificate_pem(self.certificate).decode()

    def names(self, serial: str) -> bool:
        """Whether ``serial`` (a request's ``Wechatpay-Serial``) is one of this platform's names."""
        return serial == self.public_key_id or normalize_serial(serial) == normalize_serial(self.serial)

    def serial_for(self, mode: str, coin: Callable[[], bool]) -> str:
        """The name to sign with when the other side named none: the mode decides (``mixed``: the coin)."""
        if mode == "public_key" or (mode == "mixed" and coin()):
            return self.public_key_id
        return self.serial

    def headers(self, body: bytes, *, serial: str, wall: Callable[[], float] = time.time) -> dict[str, str]:
        """The ``Wechatpay-*`` headers signing ``body`` (a response, or one notification attempt)."""
        requested = self.public_key_id if serial == self.public_key_id else self.serial
        return Signer(requested, self.key).wechatpay_headers(body, timestamp=int(wall()), nonce=nonce_str())
