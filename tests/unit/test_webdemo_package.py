"""The browser demo ships everything it serves inside the package (an installed wheel has no clients/)."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

from silverpay import webdemo

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "clients" / "miniprogram" / "silverpay.js"
PACKAGED = REPO / "src" / "silverpay" / "webdemo" / "static" / "silverpay.js"


def test_packaged_client_module_is_the_mini_program_one() -> None:
    assert PACKAGED.read_bytes() == SOURCE.read_bytes(), (
        "src/silverpay/webdemo/static/silverpay.js differs from clients/miniprogram/silverpay.js; "
        "edit the latter and run: cp clients/miniprogram/silverpay.js src/silverpay/webdemo/static/silverpay.js"
    )


def test_every_file_the_demo_serves_is_package_data() -> None:
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = package_data["silverpay"]
    static = Path(webdemo.__file__).parent / "static"
    files = sorted(p.relative_to(static.parent.parent).as_posix() for p in static.rglob("*") if p.is_file())
    assert "webdemo/static/silverpay.js" in files
    assert "webdemo/static/index.html" in files
    for name in files:
        assert any(fnmatch(name, pattern) for pattern in patterns), f"{name} is not in package-data {patterns}"
    assert "parents[" not in Path(webdemo.__file__).read_text(), "the demo must not reach outside the package"
