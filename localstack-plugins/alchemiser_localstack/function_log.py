"""The log of one execution environment's bootstrap: every line it prints, and what the executor
notes about it (started, exited, each invocation's outcome), kept three ways -- appended to a file
(`<workdir>/<function>/<environment>.log`), held for the next invocation's log (START ... END,
REPORT: what LocalStack sends to CloudWatch and `LogType=Tail`), and the last 256 KiB for
`RuntimeExecutor.get_logs()`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path

MAX_KEPT_LOG_CHARS = 256 * 1024


class FunctionLog:
    """Lines go to the invocation running now (`in_invocation()`), or, printed before the first
    invocation or between two, to the next one's log."""

    def __init__(self, path: Path, in_invocation: Callable[[], bool]):
        self.path = path
        self.in_invocation = in_invocation
        self.lock = threading.Lock()
        self.file = path.open("a", buffering=1, encoding="utf-8", errors="replace")
        self.invocation_lines: list[str] = []
        self.init_lines: list[str] = []
        self.kept: list[str] = []
        self.kept_size = 0

    def write(self, line: str, file_only: bool = False) -> None:
        """One line (a newline is added when it has none); `file_only`: only into the file."""
        if not line.endswith("\n"):
            line += "\n"
        with self.lock:
            with contextlib.suppress(ValueError):  # closed during stop
                self.file.write(line)
            if file_only:
                return
            if self.in_invocation():
                self.invocation_lines.append(line)
            else:
                self.init_lines.append(line)
            self.kept.append(line)
            self.kept_size += len(line)
            while self.kept_size > MAX_KEPT_LOG_CHARS and len(self.kept) > 1:
                self.kept_size -= len(self.kept.pop(0))

    def take_invocation_lines(self) -> list[str]:
        """The lines of the invocation that ends now: those printed before it, then its own."""
        with self.lock:
            lines = self.init_lines + self.invocation_lines
            self.init_lines = []
            self.invocation_lines = []
        return lines

    def kept_text(self) -> str:
        with self.lock:
            return "".join(self.kept)

    def close(self) -> None:
        with self.lock, contextlib.suppress(Exception):
            self.file.close()


def invocation_log(request_id: str, version: str, lines: list[str], duration_ms: float, memory_mb: str) -> str:
    """An invocation's log as Lambda writes it: START, the function's lines, END and REPORT."""
    return (
        f"START RequestId: {request_id} Version: {version}\n"
        + "".join(lines)
        + f"END RequestId: {request_id}\n"
        + f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        + f"Billed Duration: {max(1, int(duration_ms + 0.999))} ms\tMemory Size: {memory_mb} MB\t"
        + "Max Memory Used: 0 MB\t\n"
    )
