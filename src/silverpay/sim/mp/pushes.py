"""The mini-program's message pushes, made and queued on the notifier.

A push goes to the app's configured URL, signed in the query and, in safe mode, encrypted with its
EncodingAESKey (:func:`silverpay.wechat.miniapp.push.build_push`), in JSON or XML. WeChat documents
its push retries for messages: "五秒内收不到响应会断掉连接，并且重新发起请求，总共重试三次", and a
reply of ``success`` or an empty body as the acknowledgement. So: four attempts, 5 s apart (scaled by
``--time-scale``), and only an HTTP 200 whose body is ``success`` or empty acknowledges.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from urllib.parse import urlencode

import httpx

from silverpay.sim.faults import FaultInjector
from silverpay.sim.mp.store import AppSettings, MpState
from silverpay.sim.notifier import Channel, Notifier
from silverpay.wechat.miniapp.push import PushFormat, PushKeys, PushMode, build_push

PUSH_KIND = "mp_push"
PUSH_RETRY_DELAYS_S = (5.0, 5.0, 5.0)
# FromUserName of the platform's own events: a fixed system openid.
SYSTEM_OPENID = "o_WeChatTradeManageSystemUser0"
CONTENT_TYPES = {PushFormat.JSON: "application/json", PushFormat.XML: "text/xml; charset=utf-8"}


def acknowledged(response: httpx.Response) -> bool:
    return response.status_code == 200 and response.content.strip() in (b"success", b"")


CHANNEL = Channel(PUSH_RETRY_DELAYS_S, acknowledged)


def original_id(app: AppSettings) -> str:
    """The mini-program's original id (gh_ + 12 hex), stable per appid unless configured."""
    return app.original_id or "gh_" + hashlib.sha256(app.appid.encode()).hexdigest()[:12]


class Pusher:
    def __init__(self, mp: MpState, notifier: Notifier, injector: FaultInjector) -> None:
        self._mp = mp
        self._notifier = notifier
        self._injector = injector

    def push(
        self, appid: str, event: str, fields: Mapping[str, str | int], now: float, *, mch_id: str = "", ref: str = ""
    ) -> bool:
        """Queue ``event`` for ``appid``; False when the app has no push URL (nothing is sent).
        ``ref`` (the out_trade_no) files the attempts under the payment in ``GET /sim/v1/notifications``."""
        app = self._mp.app(appid)
        if not app.push_url:
            return False
        message: dict[str, str | int] = {
            "ToUserName": original_id(app), "FromUserName": SYSTEM_OPENID, "CreateTime": int(now),
            "MsgType": "event", "Event": event, **fields,
        }  # fmt: skip
        fmt = PushFormat(app.push_format)
        keys = PushKeys(app.push_token, appid, app.push_aes_key)
        nonce = str(secrets.randbelow(10**10))
        query, body = build_push(keys, message, mode=PushMode(app.push_mode), fmt=fmt, timestamp=str(int(now)),
                                 nonce=nonce)  # fmt: skip
        url = app.push_url + ("&" if "?" in app.push_url else "?") + urlencode(query)
        self._notifier.enqueue(PUSH_KIND, mch_id, ref, url, body.decode(), content_type=CONTENT_TYPES[fmt],
                               drop_rate=self._injector.faults.push_drop_rate)  # fmt: skip
        return True
