"""The composition root: ``built(settings)`` opens database pools, HTTP clients, the WeChat pay
client and notification verifier for every entry point (the web app, the worker, reconciliation).
It imports no web framework, so the command-line jobs start fast."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from silverpay.clock import Clock, system_clock
from silverpay.config import Settings
from silverpay.service.context import OperatorPolicy, ServiceContext
from silverpay.store.db import Database, open_database
from silverpay.wechat.gateway import NotificationVerifier, PayClient
from silverpay.wechat.metered import MeteredLoginClient, MeteredPayClient
from silverpay.wechat.miniapp.push import PushKeys
from silverpay.wechat.miniapp.shipping import ShippingClient


@dataclass(frozen=True)
class WechatPay:
    """The two halves of the seam to WeChat Pay, for the configured API version."""

    client: PayClient
    verifier: NotificationVerifier


def wechat_pay(
    settings: Settings, http: httpx.AsyncClient, *, cert_http: httpx.AsyncClient | None, clock: Clock
) -> WechatPay:
    if settings.wechat_api_version == "v3":
        from silverpay.wechat.v3.client import V3PayClient  # here: the rest of this module is not v3's
        from silverpay.wechat.v3.notify import V3Verifier

        credentials = settings.v3_credentials()
        # v3 needs no client certificate: every request is signed with the merchant key instead.
        client = V3PayClient(http, base_url=settings.wechat_pay_base, appid=settings.wechat_appid,
                             mch_id=settings.wechat_mch_id, credentials=credentials, clock=clock,
                             refresh_interval_s=settings.wechat_platform_refresh_s)  # fmt: skip
        verifier = V3Verifier(client.platform, appid=settings.wechat_appid, mch_id=settings.wechat_mch_id,
                              api_v3_key=credentials.api_v3_key)  # fmt: skip
        return WechatPay(MeteredPayClient(client, "v3"), verifier)
    from silverpay.wechat.v2.client import V2PayClient
    from silverpay.wechat.v2.notify import V2Verifier
    from silverpay.wechat.v2.signing import SignType

    api_key = settings.wechat_api_key.get_secret_value()
    v2 = V2PayClient(http, cert_http=cert_http, base_url=settings.wechat_pay_base, appid=settings.wechat_appid,
                     mch_id=settings.wechat_mch_id, api_key=api_key, sign_type=SignType(settings.wechat_sign_type),
                     clock=clock)  # fmt: skip
    v2_verifier = V2Verifier(appid=settings.wechat_appid, mch_id=settings.wechat_mch_id, api_key=api_key)
    return WechatPay(MeteredPayClient(v2, "v2"), v2_verifier)


@dataclass(frozen=True)
class Built:
    ctx: ServiceContext
    database: Database

    @property
    def engine(self) -> AsyncEngine:
        return self.database.engine


@contextlib.asynccontextmanager
async def built(
    settings: Settings,
    *,
    http: httpx.AsyncClient | None = None,
    clock: Clock = system_clock,
    pay: WechatPay | None = None,
) -> AsyncIterator[Built]:
    """Everything a use case needs, open for the block: database pools, HTTP clients, the WeChat
    seam. ``http`` and ``pay`` are the test seams (a client on an ASGI transport, or fakes). Checks
    what every process needs (WeChat Pay's credentials); the web app checks its own needs first."""
    settings.check_ready(api=False)
    async with contextlib.AsyncExitStack() as stack:
        client = (
            http
            if http is not None
            else await stack.enter_async_context(httpx.AsyncClient(timeout=settings.wechat_timeout_s, trust_env=False))
        )
        cert_client = None
        if settings.wechat_cert_path and http is None:
            cert = (settings.wechat_cert_path, settings.wechat_key_path or settings.wechat_cert_path)
            cert_client = await stack.enter_async_context(
                httpx.AsyncClient(timeout=settings.wechat_timeout_s, trust_env=False, cert=cert)
            )
        # WeChat keys first: a key that cannot load must stop start-up before anything is opened.
        seam = pay or wechat_pay(settings, client, cert_http=cert_client, clock=clock)
        database = await stack.enter_async_context(open_database(settings.database_url, settings.pool()))
        login = MeteredLoginClient(client, settings.wechat_login_base, settings.wechat_appid,
                                   settings.wechat_secret.get_secret_value())  # fmt: skip
        shipping = None
        if settings.shipping_enabled:
            from silverpay.service.access_token import DatabaseTokenProvider

            tokens = DatabaseTokenProvider(database.sessions, client, settings.wechat_login_base, settings.wechat_appid,
                                           settings.wechat_secret.get_secret_value(), clock=clock)  # fmt: skip
            shipping = ShippingClient(client, settings.wechat_login_base, tokens)
        push_keys = None
        if settings.wechat_msg_token.get_secret_value():
            push_keys = PushKeys(settings.wechat_msg_token.get_secret_value(), settings.wechat_appid,
                                 settings.wechat_msg_aes_key.get_secret_value())  # fmt: skip
        ctx = ServiceContext(
            sessions=database.sessions,
            ledger=database.ledger,
            pay=seam.client,
            verifier=seam.verifier,
            login=login,
            clock=clock,
            appid=settings.wechat_appid,
            notify_url=settings.notify_url,
            jwt_secret=settings.jwt_secret.get_secret_value(),
            token_ttl_s=settings.token_ttl_s,
            order_ttl_s=settings.order_ttl_s,
            refund_notify_url=settings.effective_refund_notify_url,
            sweep_schedule_s=settings.sweep_schedule,
            operators=OperatorPolicy(
                idle_timeout_s=settings.console_idle_timeout_s,
                max_age_s=settings.console_session_max_s,
                max_failures=settings.console_login_max_failures,
                max_ip_failures=settings.console_login_ip_max_failures,
                lock_s=settings.console_login_lock_s,
            ),
            mch_id=settings.wechat_mch_id,
            shipping=shipping,
            push_keys=push_keys,
            shipping_poll_s=settings.shipping_poll_s,
            shipping_retry_s=settings.shipping_retry_schedule,
        )
        yield Built(ctx, database)
