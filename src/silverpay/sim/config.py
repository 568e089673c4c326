"""Who the simulator knows: merchants, their API keys and the mini-programs bound to them.

Unless told otherwise it knows the public demo credentials of :mod:`silverpay.demo.defaults`, the
ones `silverpay demo` and demo mode use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from silverpay.demo.defaults import (  # re-exported: the simulator's defaults are the demo's
    DEMO_ADMIN_TOKEN,
    DEMO_API_KEY,
    DEMO_API_V3_KEY,
    DEMO_APPID,
    DEMO_MCH_ID,
    DEMO_SECRET,
)

__all__ = ["DEMO_ADMIN_TOKEN", "DEMO_API_KEY", "DEMO_API_V3_KEY", "DEMO_APPID", "DEMO_MCH_ID", "DEMO_SECRET"]

# WeChat's notification retry delays (SPEC §2.10), seconds after each failed attempt: 16 attempts.
NOTIFY_RETRY_DELAYS_S = (
    15,
    15,
    30,
    180,
    600,
    1200,
    1800,
    1800,
    1800,
    3600,
    10800,
    10800,
    10800,
    21600,
    21600,
)
NOTIFY_TIMEOUT_S = 5.0
CODE_TTL_S = 300
PREPAY_TTL_S = 2 * 3600
CLOSE_MIN_AGE_S = 5 * 60
# Shipping management. WeChat publishes no auto-confirm period (SHIPPING.md §1.6 [unsure]); the
# simulator's default is 10 days after shipping completes, settlement at confirmation.
AUTO_CONFIRM_S = 10 * 86400
REMIND_SHIPPING_AFTER_S = 48 * 3600


@dataclass(frozen=True)
class App:
    appid: str
    secret: str
    mch_id: str | None  # the merchant the mini-program is bound to for payments, if any


@dataclass(frozen=True)
class PushConfig:
    """A mini-program's message-push settings (console: 开发设置 > 消息推送)."""

    url: str
    token: str = field(repr=False)
    aes_key: str = field(default="", repr=False)  # EncodingAESKey: 43 characters (safe mode)
    mode: str = "plain"  # plain | safe
    format: str = "json"  # json | xml


@dataclass(frozen=True)
class Merchant:
    mch_id: str
    api_key: str
    # API v3 identity: the merchant API certificate serial and its public key (certificate or
    # public key PEM), and the APIv3 key. Without a serial and key the merchant cannot call v3.
    api_v3_key: str = DEMO_API_V3_KEY
    mch_serial: str = ""
    mch_public_key_pem: str = ""

    @property
    def has_v3(self) -> bool:
        return bool(self.mch_serial and self.mch_public_key_pem)


# How the platform signs v3 answers that name no key and every v3 notification (SPEC §3.2):
# with its platform certificate, with its WeChat Pay public key (PUB_KEY_ID_…), or, as during
# WeChat's switch from one to the other, with either at random.
PLATFORM_MODES = ("certificate", "public_key", "mixed")


@dataclass
class SimConfig:
    merchants: dict[str, Merchant] = field(default_factory=dict)
    apps: dict[str, App] = field(default_factory=dict)
    time_scale: float = 1.0  # multiplies notification retry delays (0.001 for tests and demos)
    seed: int | None = None  # makes fault injection repeatable
    state_path: str | None = None  # SQLite file that keeps trades across restarts
    platform_key_pem: bytes | None = None  # the platform's RSA private key; generated when absent
    platform_mode: str = "certificate"  # one of PLATFORM_MODES
    auto_confirm_s: float = AUTO_CONFIRM_S  # shipped → receipt confirmed automatically (simulated time)
    settlement_delay_s: float = 0.0  # receipt confirmed → settled
    pushes: dict[str, PushConfig] = field(default_factory=dict)  # by appid: applied at start

    @classmethod
    def single(
        cls,
        *,
        appid: str = DEMO_APPID,
        secret: str = DEMO_SECRET,
        mch_id: str = DEMO_MCH_ID,
        api_key: str = DEMO_API_KEY,
        api_v3_key: str = DEMO_API_V3_KEY,
        mch_serial: str = "",
        mch_public_key_pem: str = "",
        time_scale: float = 1.0,
        seed: int | None = None,
        state_path: str | None = None,
        platform_key_pem: bytes | None = None,
        platform_mode: str = "certificate",
        push: PushConfig | None = None,
        auto_confirm_s: float = AUTO_CONFIRM_S,
        settlement_delay_s: float = 0.0,
    ) -> SimConfig:
        if platform_mode not in PLATFORM_MODES:
            raise ValueError(f"platform_mode must be one of {', '.join(PLATFORM_MODES)}")
        return cls(
            merchants={mch_id: Merchant(mch_id, api_key, api_v3_key, mch_serial, mch_public_key_pem)},
            apps={appid: App(appid, secret, mch_id)},
            time_scale=time_scale,
            seed=seed,
            state_path=state_path,
            platform_key_pem=platform_key_pem,
            platform_mode=platform_mode,
            auto_confirm_s=auto_confirm_s,
            settlement_delay_s=settlement_delay_s,
            pushes={appid: push} if push is not None else {},
        )
