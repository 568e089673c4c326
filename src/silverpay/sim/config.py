"""Who the simulator knows: merchants, their API keys and the mini-programs bound to them.

The demo values below are public and documented in the README; they are what both the simulator
and `silverpay demo` use when no SILVERPAY_WECHAT_* variable is set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEMO_APPID = "wx8a3fc5d0b7e21946"
DEMO_SECRET = "demo0app0secret00000000000000000"  # noqa: S105 - public demo value
DEMO_MCH_ID = "1900000109"
DEMO_API_KEY = "DemoApiKeyDemoApiKeyDemoApiKey32"
DEMO_ADMIN_TOKEN = "demo-admin-token"  # noqa: S105 - public demo value, demo mode only

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


@dataclass(frozen=True)
class App:
    appid: str
    secret: str
    mch_id: str | None  # the merchant the mini-program is bound to for payments, if any


@dataclass(frozen=True)
class Merchant:
    mch_id: str
    api_key: str


@dataclass
class SimConfig:
    merchants: dict[str, Merchant] = field(default_factory=dict)
    apps: dict[str, App] = field(default_factory=dict)
    time_scale: float = 1.0  # multiplies notification retry delays (0.001 for tests and demos)
    seed: int | None = None  # makes fault injection repeatable
    state_path: str | None = None  # SQLite file that keeps trades across restarts

    @classmethod
    def single(
        cls,
        *,
        appid: str = DEMO_APPID,
        secret: str = DEMO_SECRET,
        mch_id: str = DEMO_MCH_ID,
        api_key: str = DEMO_API_KEY,
        time_scale: float = 1.0,
        seed: int | None = None,
        state_path: str | None = None,
    ) -> SimConfig:
        return cls(
            merchants={mch_id: Merchant(mch_id, api_key)},
            apps={appid: App(appid, secret, mch_id)},
            time_scale=time_scale,
            seed=seed,
            state_path=state_path,
        )
