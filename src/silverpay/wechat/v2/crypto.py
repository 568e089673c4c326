"""The encrypted ``req_info`` of refund notifications (SPEC §2.11).

AES-256-ECB with PKCS#7; the key is the 32 ASCII characters of the lowercase hex MD5 of the API
v2 key. ECB is WeChat's choice, not ours: there is nothing to configure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from silverpay.errors import DecryptionError


def _cipher(api_key: str) -> Cipher[modes.ECB]:
    key = hashlib.md5(api_key.encode(), usedforsecurity=False).hexdigest().encode()
    return Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305 - WeChat's protocol, see module doc


def encrypt_req_info(plaintext: str, api_key: str) -> str:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext.encode()) + padder.finalize()
    encryptor = _cipher(api_key).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def decrypt_req_info(req_info: str, api_key: str) -> str:
    """The plaintext ``<root>…</root>``; :class:`DecryptionError` if it is not ours."""
    try:
        blob = base64.b64decode(req_info, validate=True)
        decryptor = _cipher(api_key).decryptor()
        padded = decryptor.update(blob) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        plain = unpadder.update(padded) + unpadder.finalize()
        return plain.decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise DecryptionError("req_info does not decrypt with this merchant's key") from None
