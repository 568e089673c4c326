"""API v3 signatures (SPEC §3.1, §3.2): SHA256withRSA, PKCS#1 v1.5, Base64.

Two messages, every line ending in ``\\n``, the last one included:

- a request (merchant → WeChat), signed with the merchant key and sent in ``Authorization``:
  ``METHOD\\nURL_PATH_WITH_QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n``;
- a response or notification (WeChat → merchant), signed with a platform key and sent in the
  ``Wechatpay-*`` headers: ``TIMESTAMP\\nNONCE\\nBODY\\n``.

Bodies are the exact bytes on the wire, and timestamps and nonces stay the strings that were sent:
a message is rebuilt from them, never from re-serialised JSON or a re-formatted number.

Every refusal is a :class:`SignatureError` whose ``code`` is a :class:`Failure`, so a caller can
tell an unknown serial (refresh the platform certificates, then retry once) from a bad signature.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from silverpay.errors import SignatureError
from silverpay.wechat.v3.keys import certificate_serial, load_private_key, load_public_key, normalize_serial

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
SIGNTEST_PREFIX = "WECHATPAY/SIGNTEST/"  # WeChat's probe traffic: must never verify (SPEC §3.2)
MAX_SKEW_S = 300  # "不得超过5分钟": five minutes either way is still accepted

HEADER_TIMESTAMP = "Wechatpay-Timestamp"
HEADER_NONCE = "Wechatpay-Nonce"
HEADER_SIGNATURE = "Wechatpay-Signature"
HEADER_SERIAL = "Wechatpay-Serial"
HEADER_SIGNATURE_TYPE = "Wechatpay-Signature-Type"

AUTHORIZATION_FIELDS = ("mchid", "nonce_str", "signature", "timestamp", "serial_no")

_TIMESTAMP = re.compile(r"[0-9]{1,12}\Z")
# Printable ASCII without '"', ',' and '\': no value can break out of its quotes or its line.
_TOKEN = re.compile(r"[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]{1,128}\Z")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}\Z")
_PAIR = re.compile(r'\s*([a-z_]+)="([^"]*)"\s*\Z')


class Failure(StrEnum):
    """The ``code`` of each :class:`SignatureError` raised here."""

    MISSING = "SIGNATURE_MISSING"  # a required header or field is absent
    MALFORMED = "SIGNATURE_MALFORMED"  # present but not of the required form
    UNSUPPORTED_TYPE = "SIGNATURE_TYPE_UNSUPPORTED"
    PROBE = "SIGNATURE_PROBE"  # WECHATPAY/SIGNTEST/…: answer as to any bad signature
    STALE = "SIGNATURE_STALE"  # timestamp more than MAX_SKEW_S away from now
    UNKNOWN_SERIAL = "SIGNATURE_UNKNOWN_SERIAL"  # no key with that serial: refresh, then retry once
    MCHID_MISMATCH = "SIGNATURE_MCHID_MISMATCH"
    INVALID = "SIGNATURE_INVALID"  # the signature does not verify with the named key


def _fail(failure: Failure, message: str) -> SignatureError:
    return SignatureError(message, code=failure.value)


def nonce_str() -> str:
    """32 random uppercase hex characters, the shape of the doc's ``nonce_str`` examples."""
    return secrets.token_hex(16).upper()


def canonical_url(url: str) -> str:
    """The URL as signed: path and ``?query`` exactly as sent, without scheme and host."""
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def _raw(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def request_message(method: str, url: str, timestamp: str | int, nonce: str, body: bytes | str = b"") -> bytes:
    """``METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n``; ``url`` is path plus query, ``body`` empty for GET."""
    return f"{method}\n{url}\n{timestamp}\n{nonce}\n".encode() + _raw(body) + b"\n"


def response_message(timestamp: str | int, nonce: str, body: bytes | str = b"") -> bytes:
    """``TIMESTAMP\\nNONCE\\nBODY\\n``; an empty body (204) still ends in ``\\n``."""
    return f"{timestamp}\n{nonce}\n".encode() + _raw(body) + b"\n"


def sign(private_key: rsa.RSAPrivateKey, message: bytes) -> str:
    """Base64 SHA256withRSA (PKCS#1 v1.5, deterministic) of ``message``."""
    signature = private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify_signature(public_key: rsa.RSAPublicKey, message: bytes, signature: str) -> None:
    """Raise :class:`SignatureError` unless ``signature`` is ``message`` signed by ``public_key``."""
    if signature.startswith(SIGNTEST_PREFIX):
        raise _fail(Failure.PROBE, "signature is a WECHATPAY/SIGNTEST probe")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise _fail(Failure.INVALID, "signature is not Base64") from None
    try:
        public_key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise _fail(Failure.INVALID, "signature does not verify") from None


def check_timestamp(timestamp: str, *, now: float, max_skew_s: float = MAX_SKEW_S) -> int:
    """The timestamp as an int; :class:`SignatureError` if malformed or too far from ``now``."""
    if not _TIMESTAMP.match(timestamp):
        raise _fail(Failure.MALFORMED, "timestamp is not unix seconds")
    value = int(timestamp)
    if abs(now - value) > max_skew_s:
        raise _fail(Failure.STALE, f"timestamp is more than {max_skew_s:g} s away from now")
    return value


def _token(value: str, name: str) -> str:
    if not _TOKEN.match(value):
        raise _fail(Failure.MALFORMED, f"{name} has a forbidden character or length")
    return value


def _signature_value(value: str, name: str) -> str:
    # The probe prefix is not Base64, but it must reach verification to be reported as a probe.
    if not (value.startswith(SIGNTEST_PREFIX) or _BASE64.match(value)):
        raise _fail(Failure.MALFORMED, f"{name} is not Base64")
    return value


@dataclass(frozen=True)
class Authorization:
    """The ``Authorization`` header of a merchant request; ``timestamp`` stays the string sent."""

    mchid: str
    nonce_str: str
    signature: str
    timestamp: str
    serial_no: str

    def header_value(self) -> str:
        # Field order of the doc example and wechatpayv3; receivers accept any order (SPEC §3.1).
        pairs = ",".join(f'{name}="{getattr(self, name)}"' for name in AUTHORIZATION_FIELDS)
        return f"{SIGNATURE_TYPE} {pairs}"

    @classmethod
    def parse(cls, value: str | None) -> Authorization:
        """Strictly parse a header: the v3 scheme, then the five fields once each, in any order.

        Unknown, repeated, empty or unquoted fields are refused (``SIGNATURE_MALFORMED``), absent
        ones too (``SIGNATURE_MISSING``); a value can hold no ``"``, ``,``, ``\\`` or whitespace.
        """
        if not value or not value.strip():
            raise _fail(Failure.MISSING, "Authorization header is missing")
        scheme, _, params = value.strip().partition(" ")
        # Auth schemes are case-insensitive (RFC 9110 §11.1); everything after it is exact.
        if scheme.upper() != SIGNATURE_TYPE:
            raise _fail(Failure.UNSUPPORTED_TYPE, f"Authorization scheme is not {SIGNATURE_TYPE}")
        if not params.strip():
            raise _fail(Failure.MISSING, "Authorization has no parameters")
        fields: dict[str, str] = {}
        for item in params.split(","):
            match = _PAIR.match(item)
            if match is None:
                raise _fail(Failure.MALFORMED, 'Authorization parameters are not name="value" pairs')
            name, field_value = match.groups()
            if name not in AUTHORIZATION_FIELDS:
                raise _fail(Failure.MALFORMED, f"Authorization has an unknown field {name!r}")
            if name in fields:
                raise _fail(Failure.MALFORMED, f"Authorization repeats the field {name!r}")
            fields[name] = field_value
        missing = [name for name in AUTHORIZATION_FIELDS if name not in fields]
        if missing:
            raise _fail(Failure.MISSING, f"Authorization lacks {', '.join(missing)}")
        if not _TIMESTAMP.match(fields["timestamp"]):
            raise _fail(Failure.MALFORMED, "Authorization timestamp is not unix seconds")
        return cls(
            mchid=_token(fields["mchid"], "mchid"),
            nonce_str=_token(fields["nonce_str"], "nonce_str"),
            signature=_signature_value(fields["signature"], "signature"),
            timestamp=fields["timestamp"],
            serial_no=_token(fields["serial_no"], "serial_no"),
        )


@dataclass(frozen=True)
class WechatpayHeaders:
    """The ``Wechatpay-*`` headers that sign a response or a notification."""

    timestamp: str
    nonce: str
    signature: str
    serial: str
    signature_type: str = SIGNATURE_TYPE

    def as_dict(self) -> dict[str, str]:
        return {
            HEADER_TIMESTAMP: self.timestamp,
            HEADER_NONCE: self.nonce,
            HEADER_SIGNATURE: self.signature,
            HEADER_SERIAL: self.serial,
            HEADER_SIGNATURE_TYPE: self.signature_type,
        }

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> WechatpayHeaders:
        """Read them case-insensitively; missing, repeated or malformed ones are refused.

        An absent ``Wechatpay-Signature-Type`` means the one type there is (wechatpay-java
        ``RequestParam``: "默认为WECHATPAY2-SHA256-RSA2048"); any other value is refused.
        """
        wanted = {name.lower(): name for name in (*cls._required(), HEADER_SIGNATURE_TYPE)}
        found: dict[str, str] = {}
        for name, value in headers.items():
            key = name.lower()
            if key in wanted:
                if key in found:
                    raise _fail(Failure.MALFORMED, f"{wanted[key]} header is repeated")
                found[key] = value.strip()
        for name in cls._required():
            if not found.get(name.lower()):
                raise _fail(Failure.MISSING, f"{name} header is missing")
        signature_type = found.get(HEADER_SIGNATURE_TYPE.lower()) or SIGNATURE_TYPE
        if signature_type != SIGNATURE_TYPE:
            raise _fail(Failure.UNSUPPORTED_TYPE, f"{HEADER_SIGNATURE_TYPE} is not {SIGNATURE_TYPE}")
        return cls(
            timestamp=found[HEADER_TIMESTAMP.lower()],
            nonce=_token(found[HEADER_NONCE.lower()], HEADER_NONCE),
            signature=_signature_value(found[HEADER_SIGNATURE.lower()], HEADER_SIGNATURE),
            serial=_token(found[HEADER_SERIAL.lower()], HEADER_SERIAL),
            signature_type=signature_type,
        )

    @staticmethod
    def _required() -> tuple[str, ...]:
        return (HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE, HEADER_SERIAL)


class Signer:
    """One RSA private key and the serial that names it.

    The merchant signs requests with its API certificate key (serial = merchant certificate
    serial); the simulator signs responses and notifications with its platform key (serial =
    platform certificate serial or ``PUB_KEY_ID_…``).
    """

    def __init__(self, serial_no: str, private_key: rsa.RSAPrivateKey | bytes | str) -> None:
        self.serial_no = serial_no
        self._key = private_key if isinstance(private_key, rsa.RSAPrivateKey) else load_private_key(private_key)

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self._key.public_key()

    def sign(self, message: bytes) -> str:
        return sign(self._key, message)

    def authorization(
        self, *, mchid: str, method: str, url: str, body: bytes | str = b"", timestamp: int | str, nonce: str
    ) -> str:
        """The ``Authorization`` header value for one request; ``url`` may be absolute."""
        path = canonical_url(url)
        signature = self.sign(request_message(method, path, timestamp, nonce, body))
        return Authorization(mchid, nonce, signature, str(timestamp), self.serial_no).header_value()

    def wechatpay_headers(self, body: bytes | str = b"", *, timestamp: int | str, nonce: str) -> dict[str, str]:
        """The ``Wechatpay-*`` headers that sign a response or notification ``body``."""
        signature = self.sign(response_message(timestamp, nonce, body))
        return WechatpayHeaders(str(timestamp), nonce, signature, self.serial_no).as_dict()


class Verifier:
    """RSA public keys by serial, and the checks that use them.

    Holds platform certificate serials and WeChat Pay public key ids side by side, so certificate
    mode, public-key mode and the switch between them (both configured) all verify: each message
    names its key in ``Wechatpay-Serial``. The simulator uses one with merchant certificate
    serials to verify ``Authorization``.
    """

    def __init__(self, keys: Mapping[str, rsa.RSAPublicKey] | None = None, *, max_skew_s: float = MAX_SKEW_S) -> None:
        self.max_skew_s = max_skew_s
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        for serial, key in (keys or {}).items():
            self.add_key(serial, key)

    def add_key(self, serial: str, key: rsa.RSAPublicKey | bytes | str) -> None:
        """Trust ``key`` for ``serial`` (a public key id, or a certificate serial with a bare key)."""
        if not serial.strip():
            raise ValueError("a key needs a serial")
        self._keys[normalize_serial(serial)] = key if isinstance(key, rsa.RSAPublicKey) else load_public_key(key)

    def add_certificate(self, certificate: x509.Certificate) -> str:
        """Trust a certificate's RSA key under its own serial; returns that serial."""
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("certificate does not hold an RSA key")
        serial = certificate_serial(certificate)
        self._keys[serial] = key
        return serial

    def remove(self, serial: str) -> None:
        self._keys.pop(normalize_serial(serial), None)

    def copy(self) -> Verifier:
        return Verifier(self._keys, max_skew_s=self.max_skew_s)

    @property
    def serials(self) -> frozenset[str]:
        return frozenset(self._keys)

    def __contains__(self, serial: object) -> bool:
        return isinstance(serial, str) and normalize_serial(serial) in self._keys

    def key_for(self, serial: str) -> rsa.RSAPublicKey:
        key = self._keys.get(normalize_serial(serial))
        if key is None:
            raise _fail(Failure.UNKNOWN_SERIAL, "no key is known for the serial")
        return key

    def verify_response(self, headers: Mapping[str, str], body: bytes | str, *, now: float) -> WechatpayHeaders:
        """Check a response or notification signed by WeChat; returns its parsed headers.

        Probes and stale timestamps are refused before the serial is looked up, so neither can
        make the caller refresh certificates.
        """
        signed = WechatpayHeaders.from_headers(headers)
        if signed.signature.startswith(SIGNTEST_PREFIX):
            raise _fail(Failure.PROBE, "signature is a WECHATPAY/SIGNTEST probe")
        check_timestamp(signed.timestamp, now=now, max_skew_s=self.max_skew_s)
        key = self.key_for(signed.serial)
        verify_signature(key, response_message(signed.timestamp, signed.nonce, body), signed.signature)
        return signed

    def verify_request(
        self,
        authorization: str | None,
        *,
        method: str,
        url: str,
        body: bytes | str = b"",
        now: float,
        mchid: str | None = None,
    ) -> Authorization:
        """Check a merchant's ``Authorization`` (the simulator's side); returns the parsed header.

        ``url`` is what the request line carried (absolute or path+query); ``mchid``, when given,
        must be the merchant the header names.
        """
        auth = Authorization.parse(authorization)
        if mchid is not None and auth.mchid != mchid:
            raise _fail(Failure.MCHID_MISMATCH, "Authorization names another merchant")
        if auth.signature.startswith(SIGNTEST_PREFIX):
            raise _fail(Failure.PROBE, "signature is a WECHATPAY/SIGNTEST probe")
        check_timestamp(auth.timestamp, now=now, max_skew_s=self.max_skew_s)
        key = self.key_for(auth.serial_no)
        message = request_message(method, canonical_url(url), auth.timestamp, auth.nonce_str, body)
        verify_signature(key, message, auth.signature)
        return auth
