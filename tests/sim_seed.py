"""The run's simulator seed. Every simulator a test starts (in-process or ``silverpay sim --seed``)
rolls its fault dice from it, so a failing run replays with ``pytest --sim-seed N``; the header of
every run names its N. A new one is drawn per run unless given (or SILVERPAY_TEST_SIM_SEED is set)."""

from __future__ import annotations

import os
import secrets

_seed: int | None = None


def choose(given: int | None) -> int:
    global _seed  # noqa: PLW0603 - set once per process, at configure time
    if given is None:
        variable = os.environ.get("SILVERPAY_TEST_SIM_SEED")
        given = int(variable) if variable else secrets.randbelow(2**31)
    _seed = given
    return given


def sim_seed() -> int:
    if _seed is None:  # imported outside pytest (a helper run by hand)
        return choose(None)
    return _seed
