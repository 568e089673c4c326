"""The one exception hierarchy of silverpay.

    SilverpayError                 every error we raise on purpose
    ├── ConfigError                settings that cannot work (missing secret, bad URL)
    └── ProtocolError              bytes from or for WeChat that break the wire rules
        ├── XmlError               unsafe, oversized, nested or malformed XML
        ├── SignatureError         a signature that is missing, unknown or does not verify
        └── DecryptionError        an encrypted field that does not decrypt

Each error carries a stable UPPER_SNAKE ``code`` (used in JSON error bodies) and a message that
never contains secrets: callers must not interpolate keys, tokens or sign strings into it.
"""

from __future__ import annotations


class SilverpayError(Exception):
    code = "INTERNAL"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ConfigError(SilverpayError):
    code = "CONFIG"


class ProtocolError(SilverpayError):
    code = "PROTOCOL"


class XmlError(ProtocolError):
    code = "XML_FORMAT_ERROR"


class SignatureError(ProtocolError):
    code = "SIGNATURE_INVALID"


class DecryptionError(ProtocolError):
    code = "DECRYPTION_FAILED"
