"""What LocalStack's init does for one execution environment, without the container: it takes the
invocations LocalStack sends, hands them to the bootstrap one at a time through the Runtime API,
enforces the function's timeout, and tells LocalStack how each ended -- and how the runtime's start
went. Its parts, one job each:

  * bootstrap_process.py: the bootstrap as a local process (environment, start, exit, stop);
  * function_log.py: what the process prints, per invocation and kept;
  * runtime_api.py: the HTTP server (the Runtime API for the bootstrap, /invoke for LocalStack);
  * localstack_callbacks.py: ready/error/logs/response, posted to LocalStack's gateway.

As on AWS, a crash or a timeout ends the sandbox: the process is killed and the next invocation
starts a fresh one; one that fails its init then fails what waits for it, instead of hanging.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from localstack import config
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion

from alchemiser_localstack.bootstrap_process import BootstrapProcess, find_bootstrap, process_environment
from alchemiser_localstack.function_log import FunctionLog, invocation_log
from alchemiser_localstack.localstack_callbacks import LocalStackCallbacks
from alchemiser_localstack.runtime_api import LOCAL_HOST, RuntimeApiServer


def workdir() -> Path:
    """Where the environments keep their logs and tmp directories (ALCHEMISER_LAMBDA_WORKDIR)."""
    base = os.environ.get("ALCHEMISER_LAMBDA_WORKDIR")
    if base:
        return Path(base)
    return Path(config.dirs.tmp) / "alchemiser-lambda"


class Invocation:
    """One invocation, from LocalStack's /invoke payload to its answer (`done`)."""

    def __init__(self, payload: dict):
        self.request_id: str = payload["invoke-id"]
        self.function_arn: str = payload.get("invoked-function-arn", "")
        self.body: bytes = (payload.get("payload") or "").encode("utf-8")
        self.trace_id: str = payload.get("trace-id", "")
        self.client_context: str | None = payload.get("client-context")
        self.received = time.monotonic()
        self.started: float | None = None  # when the bootstrap fetched it
        self.generation = 0  # which bootstrap process fetched it
        self.timed_out = False
        self.deadline_ms: int = 0
        self.done = threading.Event()
        self.timer: threading.Timer | None = None


class LambdaInit:
    """The init of one execution environment (`executor_id`) of `function_version`, with the
    environment LocalStack computed (`env_vars`) and the unzipped code in `code_dir`. Its Runtime
    API serves from construction; `spawn()` starts the bootstrap; `close()` ends it all."""

    def __init__(
        self, executor_id: str, function_version: FunctionVersion, env_vars: dict[str, str], code_dir: Path
    ) -> None:
        self.executor_id = executor_id
        self.function_version = function_version
        self.env_vars = env_vars
        self.code_dir = code_dir
        self.timeout_s = float(env_vars.get("AWS_LAMBDA_FUNCTION_TIMEOUT") or 3)
        self.memory_mb = env_vars.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or "128"
        self.version = env_vars.get("AWS_LAMBDA_FUNCTION_VERSION") or "$LATEST"

        self.lock = threading.RLock()
        self.pending: queue.Queue[Invocation] = queue.Queue()
        self.current: Invocation | None = None
        self.initialised = threading.Event()  # bootstrap asked for its first invocation
        self.ready_reported = False
        self.startup_failed = False
        self.stopping = False

        directory = workdir() / function_version.id.function_name
        directory.mkdir(parents=True, exist_ok=True)
        self.tmp_dir = directory / f"{executor_id}-tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.log = FunctionLog(directory / f"{executor_id}.log", in_invocation=lambda: self.current is not None)
        self.callbacks = LocalStackCallbacks(executor_id)
        self.process = BootstrapProcess(
            executor_id, self.log, self.lock, on_start=self.initialised.clear, on_exit=self._process_exited
        )
        self.api = RuntimeApiServer(self, executor_id)
        self.port = self.api.port

    @property
    def log_path(self) -> Path:
        return self.log.path

    # ---------------------------------------------------------------- the bootstrap process
    def spawn(self) -> None:
        bootstrap = find_bootstrap(self.code_dir)
        env = process_environment(
            self.env_vars,
            self.function_version.config.environment or {},
            f"{LOCAL_HOST}:{self.port}",
            self.code_dir,
            self.tmp_dir,
        )
        # The new process has not asked for an invocation yet (cleared as its generation begins).
        self.process.start(bootstrap, self.code_dir, env)

    def _process_exited(self, generation: int, code: int) -> None:
        if self.stopping:
            return
        self.log.write(f"[alchemiser-process] bootstrap exited with status {code}\n")
        with self.lock:
            inv = self.current
            same_process = generation == self.process.generation
            initialised = self.initialised.is_set()
        if inv is not None and inv.generation == generation and not inv.timed_out and not inv.done.is_set():
            # crashed while handling an invocation
            self.finish(
                inv,
                is_error=True,
                body=json.dumps(
                    {
                        "errorType": "Runtime.ExitError",
                        "errorMessage": (
                            f"RequestId: {inv.request_id} Error: Runtime exited with error: exit status {code}"
                        ),
                    }
                ).encode(),
            )
            return
        if same_process and not initialised:
            # exited before asking for its first invocation
            self.report_status_error(
                {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"Runtime exited with error: exit status {code}",
                }
            )

    # ---------------------------------------------------------------- the runtime's start
    def report_ready(self) -> None:
        with self.lock:
            if self.ready_reported:
                return
            self.ready_reported = True
        self.callbacks.ready()

    def report_status_error(self, error: dict) -> None:
        with self.lock:
            first_start = not self.ready_reported
            if first_start and self.startup_failed:
                return
            if first_start:
                self.startup_failed = True
        if first_start:
            self.callbacks.init_error(error)
        else:
            # LocalStack already considers this environment ready: fail what waits for it instead
            self.fail_pending(error)

    def fail_pending(self, error: dict) -> None:
        """Fail every queued invocation (a re-spawned runtime failed its init)."""
        while True:
            try:
                inv = self.pending.get_nowait()
            except queue.Empty:
                return
            self.finish(inv, is_error=True, body=json.dumps(error).encode())

    # ---------------------------------------------------------------- invocations
    def accept_invoke(self, payload: dict) -> None:
        inv = Invocation(payload)
        self.pending.put(inv)
        if not self.process.alive() and not self.stopping:
            # the previous process died (crash/timeout): re-initialise, like a fresh sandbox
            try:
                self.spawn()
            except Exception as e:  # report as an invocation error
                self.finish(
                    inv,
                    is_error=True,
                    body=json.dumps({"errorType": "Runtime.InvalidEntrypoint", "errorMessage": str(e)}).encode(),
                )

    def next_invocation(self) -> Invocation | None:
        """Called by the bootstrap's GET /next; blocks until an invocation arrives."""
        if not self.initialised.is_set():
            self.initialised.set()
            self.report_ready()
        while not self.stopping:
            try:
                inv = self.pending.get(timeout=1)
            except queue.Empty:
                continue
            if inv.done.is_set():
                continue
            with self.lock:
                self.current = inv
                inv.generation = self.process.generation
            inv.started = time.monotonic()
            inv.deadline_ms = int(time.time() * 1000 + self.timeout_s * 1000)
            inv.timer = threading.Timer(self.timeout_s, self.on_timeout, args=(inv,))
            inv.timer.daemon = True
            inv.timer.start()
            return inv
        return None

    def lookup(self, request_id: str) -> Invocation | None:
        with self.lock:
            inv = self.current
        if inv is not None and inv.request_id == request_id:
            return inv
        return None

    def finish(self, inv: Invocation, is_error: bool, body: bytes) -> None:
        """Send logs then the result of `inv` to LocalStack, once."""
        with self.lock:
            if inv.done.is_set():
                return
            inv.done.set()
            if inv.timer:
                inv.timer.cancel()
        # give the output pump a moment to read lines the bootstrap wrote just before answering
        time.sleep(0.005)
        duration_ms = (time.monotonic() - (inv.started or inv.received)) * 1000
        with self.lock:
            if self.current is inv:
                self.current = None
        lines = self.log.take_invocation_lines()
        self.log.write(
            f"[alchemiser-process] {inv.request_id} {'error' if is_error else 'ok'} in {duration_ms:.1f} ms\n",
            file_only=True,
        )
        self.callbacks.invocation_logs(
            inv.request_id, invocation_log(inv.request_id, self.version, lines, duration_ms, self.memory_mb)
        )
        self.callbacks.invocation_result(inv.request_id, is_error, body)

    def on_timeout(self, inv: Invocation) -> None:
        if inv.done.is_set():
            return
        ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        message = f"{ts} {inv.request_id} Task timed out after {self.timeout_s:.2f} seconds"
        self.log.write(message + "\n")
        inv.timed_out = True
        # AWS resets the sandbox after a timeout: kill the process; the next invoke spawns a new one.
        self.process.kill()
        self.finish(
            inv,
            is_error=True,
            body=json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}).encode(),
        )

    # ---------------------------------------------------------------- lifecycle
    def close(self) -> None:
        self.stopping = True
        self.process.kill()
        self.api.close()
        self.log.close()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def logs(self) -> str:
        return self.log.kept_text()
