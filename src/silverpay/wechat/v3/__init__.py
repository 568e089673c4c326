"""WeChat Pay API v3: JSON bodies, RSA signatures and AES-256-GCM resources (SPEC §3).

The protocol core is pure: no HTTP, no files, no clock. Keys come in as objects (or PEM bytes),
time as an argument, so the gateway and the simulator share every byte-level rule.

- :mod:`.keys`          RSA keys, certificate serials and WeChat Pay public key ids
- :mod:`.signing`       request ``Authorization`` and ``Wechatpay-*`` response/notification signatures
- :mod:`.aead`          AEAD_AES_256_GCM with the APIv3 key
- :mod:`.paysign`       the RSA ``paySign`` of ``wx.requestPayment``
- :mod:`.certificates`  ``GET /v3/certificates`` bodies and self-signed test certificates
- :mod:`.notification`  notification envelopes: verify, then decrypt
- :mod:`.error_map`     ``{"code","message"}`` + HTTP status → silverpay exceptions
- :mod:`.json_body`     strict JSON in, compact JSON out
- :mod:`.models`        the JSON objects silverpay reads, as strict Pydantic models
- :mod:`.resources`     v3 transaction/refund objects ↔ the seam's neutral types
- :mod:`.credentials`   the merchant's v3 identity, checked at start-up

On top of it, the I/O (httpx, asyncio) behind the seam of :mod:`silverpay.wechat.gateway`:

- :mod:`.platform_keys` the keys that verify WeChat: public key and/or downloaded certificates
- :mod:`.auth`          request signing and answer verification as an ``httpx.Auth``
- :mod:`.client`        :class:`~.client.V3PayClient`: prepay, query, close, refund, bills, paySign
- :mod:`.notify`        :class:`~.notify.V3Verifier`: notifications with their headers
"""
