"""Settings: environment variables with the prefix ``SILVERPAY_`` (and an optional ``.env``), read once.

Demo mode (``silverpay demo``) fills every WeChat credential with the simulator's public demo
values and generates a throw-away JWT secret; outside demo mode the credentials and JWT secret
must be given, and the service refuses to start without them.

``WECHAT_API_VERSION`` picks the WeChat Pay protocol: ``v2`` (XML, the API key) or ``v3`` (JSON,
the merchant API certificate's private key and serial, the APIv3 key, and the platform's public
key with its id, or none for certificate mode). Key material is given as a file path or, for
containers and the demo, as PEM text; it is read when the service starts, never logged.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from silverpay.demo import defaults as demo
from silverpay.errors import ConfigError
from silverpay.store.db import PoolSettings
from silverpay.wechat.v3.credentials import V3Credentials

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./silverpay.db"
# Requests hold a connection only for a transaction of a few round trips: a few serve many.
API_DB_CONNECTIONS = 6
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")  # where a plain-http notify URL is acceptable


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SILVERPAY_", env_file=".env", extra="ignore")

    demo_mode: bool = False
    database_url: str = DEFAULT_DATABASE_URL
    auto_migrate: bool = True  # run Alembic migrations when the service starts
    log_format: Literal["text", "json"] = "text"  # json: one JSON object per line

    wechat_appid: str = ""
    wechat_secret: SecretStr = SecretStr("")
    wechat_mch_id: str = ""
    wechat_api_key: SecretStr = SecretStr("")
    wechat_sign_type: Literal["MD5", "HMAC-SHA256"] = "HMAC-SHA256"
    wechat_pay_base: str = "https://api.mch.weixin.qq.com"
    wechat_login_base: str = "https://api.weixin.qq.com"
    wechat_timeout_s: float = Field(10.0, gt=0, le=60)

    wechat_api_version: Literal["v2", "v3"] = "v2"
    wechat_api_v3_key: SecretStr = SecretStr("")  # 32 bytes, set in the merchant platform
    wechat_mch_serial: str = ""  # the merchant API certificate's serial (v3 Authorization serial_no)
    wechat_private_key_path: str = ""  # the merchant API certificate's private key (apiclient_key.pem)
    wechat_private_key_pem: SecretStr = SecretStr("")  # … or the key itself
    wechat_public_key_path: str = ""  # the WeChat Pay public key (pub_key.pem): public-key mode
    wechat_public_key_pem: str = ""  # … or the key itself
    wechat_public_key_id: str = ""  # PUB_KEY_ID_…, the name WeChat signs with that key under
    wechat_platform_refresh_s: float = Field(60.0, ge=1, le=86400)  # min. gap between certificate downloads

    notify_url: str = ""  # the public URL WeChat POSTs payment results to
    jwt_secret: SecretStr = SecretStr("")
    token_ttl_s: int = Field(7200, ge=60, le=30 * 86400)
    admin_token: SecretStr = SecretStr("")  # the machines' bearer token: the owner role
    console_idle_timeout_s: int = Field(1800, ge=60, le=7 * 86400)  # operator sessions idle this long end
    console_session_max_s: int = Field(12 * 3600, ge=300, le=30 * 86400)  # … and any session this old
    console_login_max_failures: int = Field(5, ge=1, le=1000)  # failed sign-ins per account before a lock
    console_login_ip_max_failures: int = Field(20, ge=1, le=100_000)  # … per client address
    console_login_lock_s: int = Field(900, ge=1, le=86400)  # how long a lock lasts
    console_timezone: str = "Asia/Shanghai"  # times in the console when the browser does not say its zone
    console_secure_cookie: bool | None = None  # the session cookie's Secure flag; default: on outside demo mode
    order_ttl_s: int = Field(1800, ge=360, le=7 * 86400)  # unpaid orders expire after this
    refund_notify_url: str = ""  # default: NOTIFY_URL with its last segment replaced by refund-notify
    wechat_cert_path: str = ""  # merchant client certificate (PEM) for secapi/pay/refund (mutual TLS)
    wechat_key_path: str = ""

    db_pool_size: int | None = Field(None, ge=1, le=500)  # connections per pool and process; default below
    db_pool_recycle_s: int = Field(1800, ge=30, le=86400)  # replace a connection after this long
    db_pgbouncer: bool = False  # PostgreSQL behind PgBouncer in transaction mode: no named prepared statements

    embedded_worker: bool = True  # run the background worker inside `serve`
    sweep_schedule_s: str = "15,30,60,120,300,600,1800"  # query delays for pending payments; the last repeats
    worker_concurrency: int = Field(4, ge=1, le=64)
    worker_batch: int = Field(50, ge=1, le=1000)
    worker_poll_s: float = Field(1.0, gt=0, le=60)
    wechat_rate_limit_per_s: float = Field(20.0, gt=0, le=100_000)  # calls to WeChat per second, per worker
    webhook_timeout_s: float = Field(10.0, gt=0, le=60)  # a delivery answered 2xx within this is delivered
    webhook_lease_s: float = Field(60.0, gt=0, le=3600)  # a claimed delivery is another worker's again after this
    webhook_concurrency: int = Field(16, ge=1, le=256)  # deliveries in flight per worker

    wechat_msg_token: SecretStr = SecretStr("")  # the mini-program's message-push Token (console: 消息推送)
    wechat_msg_aes_key: SecretStr = SecretStr("")  # its EncodingAESKey (43 characters): safe mode
    shipping_enabled: bool = True  # upload shipping info to WeChat (shipping management 发货信息管理)
    shipping_poll_s: int = Field(21600, ge=10, le=7 * 86400)  # a shipped order's state is read this often
    shipping_retry_s: str = "5,10,20,40,60,120,300,600"  # delays between upload retries (10060001, timeouts)

    @field_validator("sweep_schedule_s", "shipping_retry_s")
    @classmethod
    def _schedule(cls, value: str) -> str:
        try:
            delays = [int(part) for part in value.split(",")]
        except ValueError:
            raise ValueError("comma-separated whole seconds, e.g. 15,30,60") from None
        if not delays or any(d <= 0 for d in delays):
            raise ValueError("every delay must be a positive number of seconds")
        return value

    @field_validator("wechat_msg_aes_key")
    @classmethod
    def _aes_key(cls, value: SecretStr) -> SecretStr:
        key = value.get_secret_value()
        if key and len(key) != 43:
            raise ValueError("an EncodingAESKey has 43 characters")
        return value

    @property
    def shipping_retry_schedule(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.shipping_retry_s.split(","))

    @property
    def sweep_schedule(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.sweep_schedule_s.split(","))

    def pool(self) -> PoolSettings:
        """Connections per process: the worker's concurrency plus API_DB_CONNECTIONS for requests,
        unless SILVERPAY_DB_POOL_SIZE says otherwise."""
        size = self.db_pool_size or self.worker_concurrency + API_DB_CONNECTIONS
        return PoolSettings(size=size, recycle_s=self.db_pool_recycle_s, pgbouncer=self.db_pgbouncer)

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
            if not self.wechat_api_v3_key.get_secret_value():
                self.wechat_api_v3_key = SecretStr(demo.DEMO_API_V3_KEY)
            if not self.jwt_secret.get_secret_value():
                self.jwt_secret = SecretStr(secrets.token_urlsafe(32))
            if not self.admin_token.get_secret_value():
                self.admin_token = SecretStr(demo.DEMO_ADMIN_TOKEN)
            if not self.wechat_msg_token.get_secret_value():
                self.wechat_msg_token = SecretStr(demo.DEMO_MSG_TOKEN)
                self.wechat_msg_aes_key = SecretStr(demo.DEMO_MSG_AES_KEY)
        return self

    def check_ready(self, *, api: bool = True) -> None:
        """Refuse to start without the settings the process uses (called by each entry point).

        Every process calls WeChat Pay, so it needs the merchant's credentials. The API (``api``,
        `silverpay serve`) also logs mini-program users in (the app secret), signs their tokens (the
        JWT secret) and has WeChat notify it (the notify URL, made up by `serve` in demo mode); the
        background jobs (`worker`, `reconcile`) do none of that. A notify URL that is given is
        checked in every process: one that WeChat cannot call is refused.
        """
        protocol: tuple[tuple[str, str], ...]
        if self.wechat_api_version == "v3":
            protocol = (
                ("SILVERPAY_WECHAT_API_V3_KEY", self.wechat_api_v3_key.get_secret_value()),
                ("SILVERPAY_WECHAT_MCH_SERIAL", self.wechat_mch_serial),
                ("SILVERPAY_WECHAT_PRIVATE_KEY_PATH",
                 self.wechat_private_key_path or self.wechat_private_key_pem.get_secret_value()),
            )  # fmt: skip
        else:
            protocol = (("SILVERPAY_WECHAT_API_KEY", self.wechat_api_key.get_secret_value()),)
        needed = [("SILVERPAY_WECHAT_APPID", self.wechat_appid), ("SILVERPAY_WECHAT_MCH_ID", self.wechat_mch_id),
                  *protocol]  # fmt: skip
        if api:
            needed += [
                ("SILVERPAY_WECHAT_SECRET", self.wechat_secret.get_secret_value()),
                ("SILVERPAY_JWT_SECRET", self.jwt_secret.get_secret_value()),
                ("SILVERPAY_NOTIFY_URL", self.notify_url),
            ]
        missing = [name for name, value in needed if not value]
        if missing:
            hint = "" if self.demo_mode else " (or run in demo mode: SILVERPAY_DEMO_MODE=1)"
            raise ConfigError(f"missing settings: {', '.join(missing)}{hint}")
        if api and len(self.jwt_secret.get_secret_value()) < 32:
            raise ConfigError("SILVERPAY_JWT_SECRET must be at least 32 characters")
        # The demo and the in-process tests name made-up hosts over plain http: any host then.
        for setting, url in (("SILVERPAY_NOTIFY_URL", self.notify_url),
                             ("SILVERPAY_REFUND_NOTIFY_URL", self.refund_notify_url)):  # fmt: skip
            if url:
                check_notify_url(setting, url, any_http_host=self.demo_mode)

    def v3_credentials(self) -> V3Credentials:
        """The merchant's v3 identity, keys read from their files or PEM settings (ConfigError if unusable)."""
        private_pem = _pem(self.wechat_private_key_path, self.wechat_private_key_pem.get_secret_value(),
                           "SILVERPAY_WECHAT_PRIVATE_KEY_PATH")  # fmt: skip
        public_pem = _pem(self.wechat_public_key_path, self.wechat_public_key_pem, "SILVERPAY_WECHAT_PUBLIC_KEY_PATH")
        try:
            return V3Credentials.from_pem(
                mch_serial=self.wechat_mch_serial,
                private_key_pem=private_pem,
                api_v3_key=self.wechat_api_v3_key.get_secret_value(),
                public_key_id=self.wechat_public_key_id,
                public_key_pem=public_pem or None,
            )
        except ConfigError as error:
            raise ConfigError(f"WeChat Pay v3 credentials: {error.message}") from None


def check_notify_url(setting: str, url: str, *, any_http_host: bool = False) -> None:
    """A URL WeChat can POST results to: absolute https (http only on this machine, for local
    trials, or on any host with ``any_http_host``), no query string (SPEC §2.3: WeChat refuses
    one). Every process of a deployment must name the same one: a prepay remembers the URL it was
    issued with."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise ConfigError(f"{setting} is not a URL: {url!r}") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigError(f"{setting} must be an absolute https URL such as https://pay.example.com/api/v1/wechat/"
                          f"notify, not {url!r}")  # fmt: skip
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS and not any_http_host:
        raise ConfigError(f"{setting} must use https (plain http only for localhost, 127.0.0.1 or ::1): {url!r}")
    if parts.query or parts.fragment:
        raise ConfigError(f"{setting} must not carry a query string or fragment (WeChat refuses them): {url!r}")


def local_notify_url(base_url: str, api_version: str) -> str:
    """The payment-notification URL of a service reached at ``base_url`` (the demo's: the simulator
    posts there)."""
    return f"{base_url.rstrip('/')}/api/v1/wechat/{'v3/' if api_version == 'v3' else ''}notify"


def _pem(path: str, text: str, setting: str) -> str:
    """A PEM from its file (the path wins) or its text; ``""`` when neither is set."""
    if not path:
        return text
    try:
        return Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        raise ConfigError(f"{setting}: cannot read {path}") from None
