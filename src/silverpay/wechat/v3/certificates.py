"""Platform certificates: the body of ``GET /v3/certificates`` (SPEC §3.2), and test certificates.

::

    {"data": [{"serial_no": "5157F09E…", "effective_time": "2023-09-19T23:15:58+08:00",
               "expire_time": "2028-09-17T23:15:58+08:00",
               "encrypt_certificate": {"algorithm": "AEAD_AES_256_GCM", "associated_data": "certificate",
                                       "nonce": "…", "ciphertext": "…"}}]}

Trust comes from the AEAD tag: only WeChat and the merchant hold the APIv3 key, so a certificate
that decrypts came from WeChat. The response signature adds nothing on a first download (it can
only be checked with the certificates it carries) but must hold with them, as wechatpay-go and the
Java SDKs check; later downloads may also be checked with the keys already held.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from silverpay.beijing import format_rfc3339, parse_rfc3339
from silverpay.errors import ConfigError, ProtocolError
from silverpay.wechat.v3 import aead
from silverpay.wechat.v3.json_body import dumps, loads_object
from silverpay.wechat.v3.keys import certificate_serial, normalize_serial
from silverpay.wechat.v3.models import CertificateEntry, CertificatesBody, parse
from silverpay.wechat.v3.signing import Verifier

ASSOCIATED_DATA = "certificate"
MAX_SERIAL = 2**159  # RFC 5280 §4.1.2.2: a positive integer of at most 20 octets in DER


@dataclass(frozen=True)
class PlatformCertificate:
    """One decrypted entry of the list; times are the listed ones, in epoch seconds."""

    serial_no: str  # as the certificate itself states it (uppercase hex)
    effective_at: float
    expires_at: float
    certificate: x509.Certificate

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        key = self.certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):  # parse_certificates refuses such certificates already
            raise ProtocolError("platform certificate key is not RSA", code="CERTIFICATE_INVALID")
        return key

    def pem(self) -> bytes:
        return certificate_pem(self.certificate)

    def is_valid_at(self, now: float) -> bool:
        """Within the certificate's own validity (the part the AEAD tag vouches for)."""
        not_before = self.certificate.not_valid_before_utc.timestamp()
        not_after = self.certificate.not_valid_after_utc.timestamp()
        return not_before <= now <= not_after


def _entry(item: CertificateEntry, api_v3_key: str | bytes, index: int) -> PlatformCertificate:
    what = f"data[{index}]"
    effective_at = parse_rfc3339(item.effective_time)
    expires_at = parse_rfc3339(item.expire_time)
    encrypted = item.encrypt_certificate
    if encrypted.algorithm != aead.ALGORITHM:
        raise ProtocolError(f"{what} uses algorithm {encrypted.algorithm!r}", code="CERTIFICATES_INVALID")
    # DecryptionError: not encrypted for this merchant
    pem = aead.decrypt(api_v3_key, encrypted.nonce, encrypted.associated_data, encrypted.ciphertext)
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise ProtocolError(f"{what} does not decrypt to a PEM certificate", code="CERTIFICATES_INVALID") from None
    if not isinstance(certificate.public_key(), rsa.RSAPublicKey):
        raise ProtocolError(f"{what} certificate does not hold an RSA key", code="CERTIFICATES_INVALID")
    actual = certificate_serial(certificate)
    if normalize_serial(item.serial_no) != actual:
        # Keys are looked up by serial: a listed serial that is not the certificate's would
        # file a key under a name it does not have.
        raise ProtocolError(f"{what} serial_no is not the certificate's serial", code="CERTIFICATES_INVALID")
    return PlatformCertificate(actual, effective_at, expires_at, certificate)


def parse_certificates(body: bytes | str, api_v3_key: str | bytes) -> list[PlatformCertificate]:
    """Decrypt every listed certificate; an empty list is an error (nothing could verify).

    :class:`ProtocolError` for a malformed body, :class:`DecryptionError` for a certificate that
    was not encrypted with this APIv3 key.
    """
    document = parse(CertificatesBody, loads_object(body, what="certificates body"), code="CERTIFICATES_INVALID",
                     what="certificates body")  # fmt: skip
    return [_entry(item, api_v3_key, index) for index, item in enumerate(document.data)]


def trust_certificates(verifier: Verifier, certificates: Iterable[PlatformCertificate], *, now: float) -> list[str]:
    """Add the certificates valid at ``now`` to ``verifier``; returns the serials added."""
    return [verifier.add_certificate(c.certificate) for c in certificates if c.is_valid_at(now)]


def verify_certificates_response(
    headers: Mapping[str, str],
    body: bytes | str,
    api_v3_key: str | bytes,
    *,
    now: float,
    known: Verifier | None = None,
) -> list[PlatformCertificate]:
    """Parse a ``/v3/certificates`` answer and check its signature with the keys it carries
    (valid at ``now``) plus those of ``known``, which is not modified.

    Returns every listed certificate; the caller trusts them (:func:`trust_certificates`) or
    replaces its set. Raises :class:`SignatureError` as :meth:`Verifier.verify_response` does.
    """
    certificates = parse_certificates(body, api_v3_key)
    verifier = known.copy() if known is not None else Verifier()
    trust_certificates(verifier, certificates, now=now)
    verifier.verify_response(headers, body, now=now)
    return certificates


def certificates_body(
    certificates: Iterable[x509.Certificate],
    api_v3_key: str | bytes,
    *,
    nonce: Callable[[], str] = aead.new_nonce,
) -> bytes:
    """The simulator's ``/v3/certificates`` body: each certificate PEM encrypted with the APIv3 key."""
    data = []
    for certificate in certificates:
        entry_nonce = nonce()
        data.append(
            {
                "serial_no": certificate_serial(certificate),
                "effective_time": format_rfc3339(certificate.not_valid_before_utc.timestamp()),
                "expire_time": format_rfc3339(certificate.not_valid_after_utc.timestamp()),
                "encrypt_certificate": {
                    "algorithm": aead.ALGORITHM,
                    "associated_data": ASSOCIATED_DATA,
                    "nonce": entry_nonce,
                    "ciphertext": aead.encrypt(api_v3_key, entry_nonce, ASSOCIATED_DATA, certificate_pem(certificate)),
                },
            }
        )
    return dumps({"data": data})


def certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def load_certificate(pem: bytes | str) -> x509.Certificate:
    """A PEM certificate from configuration; :class:`ConfigError` if it is not one."""
    try:
        return x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
    except ValueError:
        raise ConfigError("not a PEM certificate") from None


def self_signed_certificate(
    private_key: rsa.RSAPrivateKey,
    serial: str | int,
    *,
    not_before: float,
    not_after: float,
    common_name: str = "silverpay WeChat Pay simulator",
    organization: str = "silverpay",
) -> x509.Certificate:
    """A self-signed end-entity certificate for ``private_key`` with a chosen ``serial``.

    ``serial`` is an int or hex text (as WeChat shows serials); the simulator's platform
    certificate and test merchant certificates (whose real CN is the mchid) are made with it.
    """
    number = int(serial, 16) if isinstance(serial, str) else serial
    if not 0 < number < MAX_SERIAL:
        raise ValueError("a certificate serial must be positive and below 2**159")
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,
        key_encipherment=True,  # platform keys also encrypt sensitive request fields
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(number)
        .not_valid_before(datetime.fromtimestamp(not_before, UTC))
        .not_valid_after(datetime.fromtimestamp(not_after, UTC))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .sign(private_key, hashes.SHA256())
    )
