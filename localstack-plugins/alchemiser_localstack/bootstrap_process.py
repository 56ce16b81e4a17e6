"""The function's `bootstrap` as a local process: its environment, starting it, its output into
the function's log, noticing its exit, and stopping it (SIGTERM, then SIGKILL after 2 s). Each
start is a new generation, so that an exit can be told apart from an earlier process's.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException

from alchemiser_localstack.function_log import FunctionLog

LOG = logging.getLogger(__name__)


def find_bootstrap(code_dir: Path) -> Path:
    """The executable `bootstrap` of the unzipped code (made executable when it is not)."""
    for candidate in (code_dir / "bootstrap", Path("/opt/bootstrap")):
        if candidate.is_file():
            if not os.access(candidate, os.X_OK):
                candidate.chmod(0o755)
            return candidate
    raise LambdaRuntimeException(
        f"no bootstrap in {code_dir}: the alchemiser-process executor runs custom runtimes "
        "(provided.al2023) whose zip contains an executable named bootstrap"
    )


def process_environment(
    env_vars: dict[str, str], user_env: dict[str, str], runtime_api: str, code_dir: Path, tmp_dir: Path
) -> dict[str, str]:
    """The bootstrap's environment: what LocalStack computed for the function (`env_vars`, the
    function's own variables `user_env` among them) plus what the sandbox would give it."""
    env = {k: str(v) for k, v in env_vars.items() if v is not None}
    env["AWS_LAMBDA_RUNTIME_API"] = runtime_api
    env["LAMBDA_TASK_ROOT"] = str(code_dir)
    env["LAMBDA_RUNTIME_DIR"] = str(code_dir)
    if "PATH" not in user_env:
        env["PATH"] = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    for key in ("LANG", "LC_ALL", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        if key in os.environ and key not in env:
            env[key] = os.environ[key]
    env.setdefault("HOME", str(tmp_dir))
    env.setdefault("TMPDIR", str(tmp_dir))
    # LocalStack hands out STS-assumed-role credentials; the team's convention is test/test.
    # Functions that set their own credentials keep them.
    if os.environ.get("ALCHEMISER_LAMBDA_TEST_CREDENTIALS", "1") == "1" and "AWS_ACCESS_KEY_ID" not in user_env:
        env["AWS_ACCESS_KEY_ID"] = "test"
        env["AWS_SECRET_ACCESS_KEY"] = "test"
        env.pop("AWS_SESSION_TOKEN", None)
    # AWS_ENDPOINT_URL: LocalStack sets http://127.0.0.1:<port> (get_endpoint_from_executor);
    # a function's own AWS_ENDPOINT_URL wins because LocalStack applies user env last.
    return env


class BootstrapProcess:
    """At most one bootstrap process at a time. `lock` is the caller's: it guards the process and
    its generation together with the caller's own state. `on_start()` is called under it as a new
    generation begins (before the process starts); `on_exit(generation, status)`, on a thread of
    its own, when a process has exited."""

    def __init__(
        self,
        name: str,
        log: FunctionLog,
        lock: threading.RLock,
        on_start: Callable[[], None],
        on_exit: Callable[[int, int], None],
    ) -> None:
        self.name = name
        self.log = log
        self.lock = lock
        self.on_start = on_start
        self.on_exit = on_exit
        self.proc: subprocess.Popen | None = None
        self.generation = 0

    def start(self, bootstrap: Path, code_dir: Path, env: dict[str, str]) -> None:
        with self.lock:
            self.on_start()
            self.generation += 1
            generation = self.generation
            try:
                self.proc = subprocess.Popen(
                    [str(bootstrap)],
                    cwd=str(code_dir),
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    close_fds=True,
                )
            except OSError as e:
                raise LambdaRuntimeException(f"cannot execute {bootstrap}: {e}") from e
            proc = self.proc
        self.log.write(f"[alchemiser-process] started {bootstrap} pid {proc.pid}\n", file_only=True)
        threading.Thread(target=self._pump_output, args=(proc,), name=f"lambda-out-{self.name}", daemon=True).start()
        threading.Thread(
            target=self._watch_exit, args=(proc, generation), name=f"lambda-wait-{self.name}", daemon=True
        ).start()

    def _pump_output(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            self.log.write(raw.decode("utf-8", errors="replace"))
        proc.stdout.close()

    def _watch_exit(self, proc: subprocess.Popen, generation: int) -> None:
        self.on_exit(generation, proc.wait())

    def alive(self) -> bool:
        with self.lock:
            return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """Stops the process (SIGTERM, SIGKILL after 2 s); what it did not finish is over."""
        with self.lock:
            proc = self.proc
            self.proc = None
            self.generation += 1
        if proc is None or proc.poll() is not None:
            return
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                LOG.warning("bootstrap pid %s did not die", proc.pid)
        except ProcessLookupError:
            pass
