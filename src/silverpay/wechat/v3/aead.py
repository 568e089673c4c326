"""AEAD_AES_256_GCM with the APIv3 key (SPEC §3.3): notification resources and platform certificates.

RFC 5116 AEAD_AES_256_GCM: a 32-byte key, a 12-byte nonce, and a ciphertext that carries its 16-byte
tag at the end; WeChat sends nonce and associated data as ASCII text and the ciphertext in Base64.
A failed tag means the data was not encrypted for this merchant (or was altered): DecryptionError.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import string

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from silverpay.errors import ConfigError, DecryptionError

ALGORITHM = "AEAD_AES_256_GCM"
KEY_BYTES = 32
NONCE_BYTES = 12  # RFC 5116 §5.2: N_MIN = N_MAX = 12 octets
_NONCE_ALPHABET = string.ascii_letters + string.digits


def _key(api_v3_key: str | bytes) -> AESGCM:
    key = api_v3_key.encode() if isinstance(api_v3_key, str) else api_v3_key
    if len(key) != KEY_BYTES:
        # A 16-byte key would silently give AES-128-GCM, which is not what WeChat uses.
        raise ConfigError(f"the APIv3 key must be {KEY_BYTES} bytes")
    return AESGCM(key)


def _nonce(nonce: str) -> bytes | None:
    raw = nonce.encode()
    return raw if len(raw) == NONCE_BYTES else None


def new_nonce() -> str:
    """12 random letters and digits, the shape of WeChat's ``nonce`` fields."""
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(NONCE_BYTES))


def encrypt(api_v3_key: str | bytes, nonce: str, associated_data: str, plaintext: bytes | str) -> str:
    """Base64(ciphertext ‖ tag), as WeChat puts it in ``ciphertext`` (the simulator's side)."""
    data = plaintext.encode() if isinstance(plaintext, str) else plaintext
    raw_nonce = _nonce(nonce)
    if raw_nonce is None:
        raise ValueError(f"nonce must be {NONCE_BYTES} bytes")
    sealed = _key(api_v3_key).encrypt(raw_nonce, data, associated_data.encode())
    return base64.b64encode(sealed).decode("ascii")


def decrypt(api_v3_key: str | bytes, nonce: str, associated_data: str, ciphertext: str) -> bytes:
    """The plaintext bytes; :class:`DecryptionError` if it is malformed, altered or not for this key."""
    aesgcm = _key(api_v3_key)  # ConfigError first: a wrong-length key is ours, not the sender's
    raw_nonce = _nonce(nonce)
    if raw_nonce is None:
        raise DecryptionError(f"nonce must be {NONCE_BYTES} bytes")
    try:
        sealed = base64.b64decode(ciphertext, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError("ciphertext is not Base64") from None
    try:
        return aesgcm.decrypt(raw_nonce, sealed, associated_data.encode())
    except InvalidTag:
        raise DecryptionError("ciphertext does not decrypt with this merchant's APIv3 key") from None


def decrypt_text(api_v3_key: str | bytes, nonce: str, associated_data: str, ciphertext: str) -> str:
    """:func:`decrypt` for UTF-8 plaintexts (JSON resources, certificate PEM)."""
    try:
        return decrypt(api_v3_key, nonce, associated_data, ciphertext).decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptionError("plaintext is not UTF-8") from None
