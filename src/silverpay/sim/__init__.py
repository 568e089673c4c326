"""The offline WeChat platform simulator: login, Pay v2, notifications, and a control API."""
