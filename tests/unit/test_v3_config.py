"""v3 settings: what the service refuses to start without, and where key material comes from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from silverpay.config import Settings
from silverpay.errors import ConfigError
from silverpay.sim.config import DEMO_API_V3_KEY
from silverpay.wechat.v3 import keys

KEY = keys.generate_private_key()
BASE: dict[str, Any] = {
    "_env_file": None, "wechat_appid": "wx1", "wechat_secret": "s", "wechat_mch_id": "1900000109",
    "jwt_secret": "j" * 32, "notify_url": "https://m.test/api/v1/wechat/v3/notify", "wechat_api_version": "v3",
}  # fmt: skip


def test_v3_needs_its_own_credentials_not_the_v2_key() -> None:
    with pytest.raises(ConfigError) as missing:
        Settings(**BASE).check_ready()
    named = missing.value.message
    assert "SILVERPAY_WECHAT_API_V3_KEY" in named and "SILVERPAY_WECHAT_MCH_SERIAL" in named
    assert "SILVERPAY_WECHAT_PRIVATE_KEY_PATH" in named and "SILVERPAY_WECHAT_API_KEY" not in named


def test_keys_from_files(tmp_path: Path) -> None:
    private, public = tmp_path / "apiclient_key.pem", tmp_path / "pub_key.pem"
    private.write_bytes(keys.private_key_pem(KEY))
    public.write_bytes(keys.public_key_pem(KEY.public_key()))
    settings = Settings(**BASE, wechat_api_v3_key="k" * 32, wechat_mch_serial="ABC123",
                        wechat_private_key_path=str(private), wechat_public_key_path=str(public),
                        wechat_public_key_id="PUB_KEY_ID_01")  # fmt: skip
    settings.check_ready()
    credentials = settings.v3_credentials()
    assert credentials.mch_serial == "ABC123" and credentials.public_key_id == "PUB_KEY_ID_01"
    assert credentials.public_key is not None


def test_unreadable_or_wrong_keys_name_the_setting_not_the_secret(tmp_path: Path) -> None:
    settings = Settings(**BASE, wechat_api_v3_key="k" * 32, wechat_mch_serial="ABC123",
                        wechat_private_key_path=str(tmp_path / "missing.pem"))  # fmt: skip
    with pytest.raises(ConfigError, match="SILVERPAY_WECHAT_PRIVATE_KEY_PATH"):
        settings.v3_credentials()
    short = Settings(**BASE, wechat_api_v3_key="tooshort", wechat_mch_serial="ABC123",
                     wechat_private_key_pem=keys.private_key_pem(KEY).decode())  # fmt: skip
    with pytest.raises(ConfigError, match="32 bytes") as raised:
        short.v3_credentials()
    assert "tooshort" not in raised.value.message


def test_demo_mode_fills_the_public_demo_api_v3_key() -> None:
    settings = Settings(_env_file=None, demo_mode=True, wechat_api_version="v3")  # type: ignore[call-arg]
    assert settings.wechat_api_v3_key.get_secret_value() == DEMO_API_V3_KEY
