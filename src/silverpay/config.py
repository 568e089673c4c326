"""Settings: environment variables with the prefix ``SILVERPAY_`` (and an optional ``.env``), read once.

Demo mode (``silverpay demo``) fills every WeChat credential with the simulator's public demo
values and generates a throw-away JWT secret; outside demo mode the credentials and JWT secret
must be given, and the service refuses to start without them.
"""

from __future__ import annotations

import secrets
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from silverpay.errors import ConfigError
from silverpay.sim import config as demo

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./silverpay.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SILVERPAY_", env_file=".env", extra="ignore")

    demo_mode: bool = False
    database_url: str = DEFAULT_DATABASE_URL
    auto_migrate: bool = True  # run Alembic migrations when the service starts

    wechat_appid: str = ""
    wechat_secret: SecretStr = SecretStr("")
    wechat_mch_id: str = ""
    wechat_api_key: SecretStr = SecretStr("")
    wechat_sign_type: Literal["MD5", "HMAC-SHA256"] = "HMAC-SHA256"
    wechat_pay_base: str = "https://api.mch.weixin.qq.com"
    wechat_login_base: str = "https://api.weixin.qq.com"
    wechat_timeout_s: float = Field(10.0, gt=0, le=60)

    notify_url: str = ""  # the public URL WeChat POSTs payment results to
    jwt_secret: SecretStr = SecretStr("")
    token_ttl_s: int = Field(7200, ge=60, le=30 * 86400)
    admin_token: SecretStr = SecretStr("")
    order_ttl_s: int = Field(1800, ge=360, le=7 * 86400)  # unpaid orders expire after this
    refund_notify_url: str = ""  # default: NOTIFY_URL with its last segment replaced by refund-notify
    wechat_cert_path: str = ""  # merchant client certificate (PEM) for secapi/pay/refund (mutual TLS)
    wechat_key_path: str = ""

    embedded_worker: bool = True  # run the background worker inside `serve`
    sweep_schedule_s: str = "15,30,60,120,300,600,1800"  # query delays for pending payments; the last repeats
    worker_concurrency: int = Field(4, ge=1, le=64)
    worker_batch: int = Field(50, ge=1, le=1000)
    worker_poll_s: float = Field(1.0, gt=0, le=60)
    wechat_rate_limit_per_s: float = Field(20.0, gt=0, le=1000)  # calls to WeChat per second, per worker

    @field_validator("sweep_schedule_s")
    @classmethod
    def _schedule(cls, value: str) -> str:
        try:
            delays = [int(part) for part in value.split(",")]
        except ValueError:
            raise ValueError("comma-separated whole seconds, e.g. 15,30,60") from None
        if not delays or any(d <= 0 for d in delays):
            raise ValueError("every delay must be a positive number of seconds")
        return value

    @property
    def sweep_schedule(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.sweep_schedule_s.split(","))

    @property
    def effective_refund_notify_url(self) -> str:
        if self.refund_notify_url or not self.notify_url:
            return self.refund_notify_url
        return self.notify_url.rstrip("/").rsplit("/", 1)[0] + "/refund-notify"

    @model_validator(mode="after")
    def _complete(self) -> Settings:
        if self.demo_mode:
            self.wechat_appid = self.wechat_appid or demo.DEMO_APPID
            self.wechat_mch_id = self.wechat_mch_id or demo.DEMO_MCH_ID
            if not self.wechat_secret.get_secret_value():
                self.wechat_secret = SecretStr(demo.DEMO_SECRET)
            if not self.wechat_api_key.get_secret_value():
                self.wechat_api_key = SecretStr(demo.DEMO_API_KEY)
            if not self.jwt_secret.get_secret_value():
                self.jwt_secret = SecretStr(secrets.token_urlsafe(32))
            if not self.admin_token.get_secret_value():
                self.admin_token = SecretStr(demo.DEMO_ADMIN_TOKEN)
        return self

    def check_ready(self) -> None:
        """Refuse to serve real traffic with missing credentials (called by the composition root)."""
        missing = [
            name
            for name, value in (
                ("SILVERPAY_WECHAT_APPID", self.wechat_appid),
                ("SILVERPAY_WECHAT_SECRET", self.wechat_secret.get_secret_value()),
                ("SILVERPAY_WECHAT_MCH_ID", self.wechat_mch_id),
                ("SILVERPAY_WECHAT_API_KEY", self.wechat_api_key.get_secret_value()),
                ("SILVERPAY_JWT_SECRET", self.jwt_secret.get_secret_value()),
                ("SILVERPAY_NOTIFY_URL", self.notify_url),
            )
            if not value
        ]
        if missing:
            raise ConfigError(f"missing settings: {', '.join(missing)} (or run in demo mode)")
        if len(self.jwt_secret.get_secret_value()) < 32:
            raise ConfigError("SILVERPAY_JWT_SECRET must be at least 32 characters")
