"""What every ``api.weixin.qq.com`` JSON call shares: one POST, one body read, one errcode.

Answers are JSON objects with ``errcode`` (0 or absent on success) and ``errmsg``. Anything that
leaves the outcome unknown — a transport error, a timeout, a status other than 200, a body that is
not a JSON object — is :class:`UpstreamUnavailable`. Messages never hold the URL: it may carry the
access_token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from silverpay.errors import ProtocolError, UpstreamUnavailable
from silverpay.wechat.v3.json_body import dumps, loads_object

MAX_ERRMSG_CHARS = 200
# Frequency and availability: WeChat did nothing, try again later.
BUSY = {-1: "system busy", 44990: "frequency limit", 45009: "daily quota reached", 45011: "minute quota reached"}


async def post_json(
    http: httpx.AsyncClient, url: str, payload: Mapping[str, Any], *, what: str, params: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """POST ``payload`` as compact UTF-8 JSON; the answer's object, whatever its errcode."""
    try:
        response = await http.post(
            url, params=params, content=dumps(payload), headers={"Content-Type": "application/json"}
        )
    except httpx.HTTPError as exc:  # the URL may hold the token: name the error only
        raise UpstreamUnavailable(f"{what} unreachable ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise UpstreamUnavailable(f"{what} answered HTTP {response.status_code}")
    try:
        # WeChat serves some of these answers as text/plain: ignore the content type.
        return loads_object(response.content, what=f"{what} answer")
    except ProtocolError:
        raise UpstreamUnavailable(f"{what} answered something that is not a JSON object") from None


def errcode_of(body: Mapping[str, Any]) -> int:
    """The answer's errcode; 0 when absent. A non-integer errcode is not a WeChat answer."""
    errcode = body.get("errcode", 0)
    if isinstance(errcode, bool) or not isinstance(errcode, int):
        raise UpstreamUnavailable("answer has a non-integer errcode")
    return errcode


def errmsg_of(body: Mapping[str, Any]) -> str:
    errmsg = body.get("errmsg", "")
    return str(errmsg)[:MAX_ERRMSG_CHARS] if isinstance(errmsg, str) else ""
