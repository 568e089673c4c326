"""bench/notify.py --profile: py-spy on the running server, and where its samples went by package."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

# Layers the lead asked about: the share of samples whose stack passes through each.
LAYERS = ("silverpay", "fastapi", "starlette", "anyio", "uvicorn", "h11", "httptools", "pydantic", "sqlalchemy",
          "greenlet", "asyncpg", "asyncio", "xml", "defusedxml", "logging", "json", "hmac", "hashlib")  # fmt: skip
_PROCESS = re.compile(r'process \d+:"[^"]*"(;|$)')  # --subprocesses' root frames; a command line may hold ";"
_FILE = re.compile(r"\(([^():]+?)(?::\d+)?\)$")
# Leaf frames of threads that merely wait (anyio's idle worker threads): py-spy does not always
# recognise them as idle, so they are left out here.
_WAITING = ("Condition.wait (threading.py", "Queue.get (queue.py", "EpollSelector.select (selectors.py")


def py_spy() -> str:
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if found is None:
        raise SystemExit("--profile needs py-spy: pip install -e '.[bench]'")
    return found


class Profiler:
    """``py-spy record --subprocesses --format raw`` (folded stacks, idle samples left out) of ``pid``."""

    def __init__(self, pid: int, output: Path) -> None:
        self.output = output
        self.log = output.with_suffix(".log")
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [py_spy(), "record", "--pid", str(pid), "--subprocesses", "--format", "raw", "--rate", "100",
                 "--output", str(output)],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        time.sleep(1.0)  # py-spy attaches to the process tree before it samples; give it that second

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)  # py-spy writes the profile on Ctrl-C
        self.process.wait(timeout=60)
        if not self.output.exists():
            raise SystemExit(f"py-spy wrote no profile; see {self.log}")


def package(frame: str) -> str:
    """The top-level package (or stdlib module) of a folded frame 'function (path/file.py:123)'."""
    match = _FILE.search(frame)
    if match is None:
        return frame.split(" ", 1)[0]  # "process 123:..." and other non-Python frames
    path = match[1]
    if "site-packages/" in path:
        path = path.rsplit("site-packages/", 1)[1]
    elif "/lib/python3" in path:
        path = path.split("/lib/python3", 1)[1].split("/", 1)[-1]
    elif "/src/" in path:
        path = path.rsplit("/src/", 1)[1]
    top = path.split("/", 1)[0]
    return top.removesuffix(".py")


def function(frame: str) -> str:
    """'function (path/file.py:123)' → 'function (path/file.py)': lines of one function together."""
    return re.sub(r":\d+\)$", ")", frame)


# Frames every main-thread stack shares: the launcher (runpy, multiprocessing's spawn, the CLI,
# uvicorn.run) and the event loop's own machinery. What is below them is the work.
_LAUNCHER = ("(<frozen runpy>", "(<string>", "(multiprocessing/", "(silverpay/__main__.py", "(silverpay/cli.py",
             "(typer/", "(click/", "(uvicorn/main.py", "(uvicorn/server.py", "(uvicorn/_compat.py",
             "(uvicorn/_subprocess.py", "(uvicorn/supervisors/", "(asyncio/runners.py", "(asyncio/base_events.py",
             "(asyncio/events.py", "(uvloop/")  # fmt: skip


def _launcher(frame: str) -> bool:
    return any(part in frame for part in _LAUNCHER)


def root(frames: list[str]) -> str:
    """Where a stack starts: the main thread, another thread, or a greenlet, which py-spy shows
    apart from the coroutine that switched into it (SQLAlchemy runs its sync ORM code in greenlets)."""
    if frames[0].startswith("Thread._bootstrap"):
        return "other threads"
    return "main thread" if _launcher(frames[0]) else "greenlets"


def callback(frames: list[str]) -> list[str]:
    """The frames below the launcher and the event loop; the loop's own work (select, running
    callbacks; with uvloop, time in C is charged to the last Python frame) keeps its last frame."""
    for i, frame in enumerate(frames):
        if not _launcher(frame):
            return frames[i:]
    return frames[-1:]


def summary(folded: Path, top: int = 12) -> str:
    """Inclusive shares for LAYERS and the packages whose code the samples were in (self time)."""
    total = waiting = native = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    roots: Counter[str] = Counter()
    for line in folded.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = _PROCESS.sub("", stack).split(";")
        if frames == [""]:  # a thread without Python frames (native code only)
            native += count
            continue
        if frames[-1].startswith(_WAITING):
            waiting += count
            continue
        roots[root(frames)] += count
        frames = callback(frames)
        packages = {package(frame) for frame in frames}
        total += count
        for layer in LAYERS:
            if layer in packages:
                inclusive[layer] += count
        own[package(frames[-1])] += count
        functions[function(frames[-1])] += count
        for name in {function(frame) for frame in frames if package(frame) == "silverpay"}:
            ours[name] += count
    if total == 0:
        return "profile: no samples"
    lines = [f"profile: {total} samples on CPU; left out: {waiting} of threads waiting, {native} without Python frames",
             "  stacks start in: " + ", ".join(f"{name} {count / total:.1%}" for name, count in roots.most_common()),
             "  stack passes through (inclusive, below the event loop; greenlet stacks do not show who switched"
             " into them):"]  # fmt: skip
    lines += [f"    {layer:<12} {inclusive[layer] / total:6.1%}" for layer in LAYERS if inclusive[layer]]
    lines.append("  code running when sampled (self, by package):")
    lines += [f"    {name:<12} {count / total:6.1%}" for name, count in own.most_common(top)]
    lines.append("  silverpay's frames (inclusive):")
    lines += [f"    {count / total:6.1%}  {name}" for name, count in ours.most_common(top)]
    lines.append("  hottest functions (self):")
    lines += [f"    {count / total:6.1%}  {name}" for name, count in functions.most_common(top)]
    return "\n".join(lines)
