"""The merchant's v3 identity, loaded and checked once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa

from silverpay.errors import ConfigError
from silverpay.wechat.v3 import aead
from silverpay.wechat.v3.keys import is_public_key_id, load_private_key, load_public_key


@dataclass(frozen=True)
class V3Credentials:
    """Who the merchant is in v3: its API certificate serial and private key, its APIv3 key, and
    the platform's public key when WeChat gave it one (public-key mode; else certificates)."""

    mch_serial: str
    private_key: rsa.RSAPrivateKey
    api_v3_key: str
    public_key_id: str = ""
    public_key: rsa.RSAPublicKey | None = None

    @classmethod
    def from_pem(
        cls,
        *,
        mch_serial: str,
        private_key_pem: bytes | str,
        api_v3_key: str,
        public_key_id: str = "",
        public_key_pem: bytes | str | None = None,
    ) -> V3Credentials:
        """:class:`ConfigError` for anything that cannot work, naming the setting but never a value."""
        if not mch_serial.strip():
            raise ConfigError("the merchant certificate serial is missing")
        if len(api_v3_key.encode()) != aead.KEY_BYTES:
            raise ConfigError(f"the APIv3 key must be {aead.KEY_BYTES} bytes")
        if bool(public_key_id) != bool(public_key_pem):
            raise ConfigError("the WeChat Pay public key and its id go together: give both or neither")
        if public_key_id and not is_public_key_id(public_key_id):
            raise ConfigError("the WeChat Pay public key id must start with PUB_KEY_ID_")
        return cls(
            mch_serial=mch_serial.strip(),
            private_key=load_private_key(private_key_pem),
            api_v3_key=api_v3_key,
            public_key_id=public_key_id,
            public_key=load_public_key(public_key_pem) if public_key_pem else None,
        )
