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
- :mod:`.times`         RFC 3339 times as WeChat writes them
- :mod:`.json_body`     strict JSON in, compact JSON out
- :mod:`.resources`     v3 transaction/refund objects ↔ the gateway's neutral types

On top of it, the I/O (httpx, asyncio) that makes it a :class:`~silverpay.wechat.gateway.PayGateway`:

- :mod:`.platform_keys` the keys that verify WeChat: public key and/or downloaded certificates
- :mod:`.client`        signed calls: sign, send, verify the answer, map errors
- :mod:`.gateway`       :class:`~.gateway.V3Gateway`, and v3 notifications with their headers
"""
