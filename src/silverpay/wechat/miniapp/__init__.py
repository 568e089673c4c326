"""The mini-program platform's server APIs (``api.weixin.qq.com``), not WeChat Pay:

- :mod:`.token`: the stable ``access_token`` (``/cgi-bin/stable_token``) and an in-process cache;
- :mod:`.shipping`: shipping-info management (``/wxa/sec/order/…``), neutral types in and out;
- :mod:`.push`: the message-push (消息推送) receiver's checks and decryption, and the encryption the
  simulator uses.
"""
