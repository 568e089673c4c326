"""RSA keys and the serials that name them.

A v3 signature names its key by serial: the merchant certificate serial in ``Authorization``, and in
``Wechatpay-Serial`` either a platform certificate serial (uppercase hex) or a WeChat Pay public key
id (``PUB_KEY_ID_…``). Loading errors are :class:`ConfigError`: keys are configuration.
"""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes, PublicKeyTypes

from silverpay.errors import ConfigError

PUBLIC_KEY_ID_PREFIX = "PUB_KEY_ID_"
RSA_BITS = 2048  # WeChat's keys are RSA-2048 (the "RSA2048" of the signature type)
_HEX = re.compile(r"[0-9A-Fa-f]+\Z")


def _bytes(pem: bytes | str) -> bytes:
    return pem.encode() if isinstance(pem, str) else pem


def load_private_key(pem: bytes | str) -> rsa.RSAPrivateKey:
    """An unencrypted PEM RSA private key (``apiclient_key.pem`` is PKCS#8; PKCS#1 works too)."""
    try:
        key = serialization.load_pem_private_key(_bytes(pem), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):  # TypeError: the key is encrypted
        raise ConfigError("private key is not an unencrypted PEM key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError("private key is not an RSA key")
    return key


def load_public_key(pem: bytes | str) -> rsa.RSAPublicKey:
    """An RSA public key from a ``PUBLIC KEY`` PEM (``pub_key.pem``) or a ``CERTIFICATE`` PEM."""
    data = _bytes(pem)
    key: PublicKeyTypes | CertificatePublicKeyTypes
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            key = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError("public key is not a PEM public key or certificate") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConfigError("public key is not an RSA key")
    return key


def generate_private_key() -> rsa.RSAPrivateKey:
    """A fresh RSA-2048 key (the simulator's platform key, test merchants)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)


def private_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    """PKCS#8 PEM, the form of ``apiclient_key.pem``."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(key: rsa.RSAPublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM, the form of the WeChat Pay public key file."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def certificate_serial(certificate: x509.Certificate) -> str:
    """A certificate's serial as WeChat writes it: uppercase hex, no leading zeros."""
    return format(certificate.serial_number, "X")


def normalize_serial(serial: str) -> str:
    """The lookup form of a serial: hex serials compare as numbers, public key ids verbatim.

    SDKs disagree on case and leading zeros (Java ``BigInteger.toString(16)`` drops them,
    wechatpayv3 compares ``int(serial, 16)``), so a hex serial is reduced to its value.
    """
    serial = serial.strip()
    if _HEX.match(serial):
        return format(int(serial, 16), "X")
    return serial


def is_public_key_id(serial: str) -> bool:
    return serial.startswith(PUBLIC_KEY_ID_PREFIX)
