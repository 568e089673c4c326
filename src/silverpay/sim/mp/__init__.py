"""The mini-program platform's server APIs (``api.weixin.qq.com``) in the simulator: access tokens,
shipping-info management and its message pushes. Rules in :mod:`.tokens` and :mod:`.shipping`
(they answer WeChat's errcodes directly: this API family has one wire format), the HTTP face in
:mod:`.wire`, the control API in :mod:`.control`, records in :mod:`.store`.
"""
