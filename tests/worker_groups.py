"""How make test spreads tests over pytest-xdist workers (``--dist loadgroup``): one by one, except
that the tests of an e2e or browser module sharing processes stay on one worker — a group per module
and stack (``[v2-sqlite]``, ``[postgresql]`` in the test id), or per module when its ids name none —
so each set of processes starts once in the run, not once per worker.

xdist's own ``xdist_group`` marker cannot do this here: it renames node ids, which pytest 9 no longer
lets a plugin do, so the groups are read from the ids themselves."""

from __future__ import annotations

import re
from typing import Any

import pytest

SHARED_PROCESSES = ("tests/e2e/", "tests/browser/")
STACK_ID = re.compile(r"\b(?:v[23]-)?(?:sqlite|postgresql|mysql)\b")


def group_of(nodeid: str) -> str:
    module, _, rest = nodeid.partition("::")
    if not module.startswith(SHARED_PROCESSES):
        return nodeid
    params = rest.partition("[")[2]
    stack = STACK_ID.search(params)
    return f"{module}[{stack.group(0)}]" if stack else module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ProcessGroups(LoadGroupScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return ProcessGroups(config, log)
