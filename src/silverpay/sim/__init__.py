"""The offline WeChat platform simulator: login, Pay v2 and v3, notifications, and a control API."""
