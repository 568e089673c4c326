"""The public demo credentials: what `silverpay demo`, demo mode and the simulator use when no
SILVERPAY_WECHAT_* variable is set. Documented in the README; never real secrets."""

from __future__ import annotations

DEMO_APPID = "wx8a3fc5d0b7e21946"
DEMO_SECRET = "demo0app0secret00000000000000000"  # noqa: S105 - public demo value
DEMO_MCH_ID = "1900000109"
DEMO_API_KEY = "DemoApiKeyDemoApiKeyDemoApiKey32"
DEMO_API_V3_KEY = "DemoApiV3KeyDemoApiV3KeyDemo0032"  # 32 bytes: AEAD_AES_256_GCM needs exactly that
DEMO_ADMIN_TOKEN = "demo-admin-token"  # noqa: S105 - public demo value, demo mode only
DEMO_OPERATOR_EMAIL = "demo@silverpay.local"  # the demo's console owner; its password is new each run
DEMO_MSG_TOKEN = "demo0push0token"  # noqa: S105 - public demo value: the message-push Token
DEMO_MSG_AES_KEY = "DemoPushEncodingAesKeyDemoPushEncodingAesK0"  # 43 characters: the push's EncodingAESKey
