"""A LocalStack Lambda runtime executor that runs the function's `bootstrap` as a local process.

LocalStack's Docker executor starts a container whose entrypoint is LocalStack's "init" (a Go build of
the Lambda runtime interface emulator). The init serves the Lambda Runtime API to the function inside
the container and talks to LocalStack over HTTP:

  init -> LocalStack  POST /_localstack_lambda/<env>/status/<executor>/ready     (runtime initialised)
                      POST /_localstack_lambda/<env>/status/<executor>/error     (init failed)
  LocalStack -> init  POST http://<container>:<port>/invoke  {"invoke-id", "invoked-function-arn",
                                                              "payload", "trace-id"}
  init -> LocalStack  POST /_localstack_lambda/<executor>/invocations/<id>/logs      {"logs": "..."}
                      POST /_localstack_lambda/<executor>/invocations/<id>/response  (raw payload)
                      POST /_localstack_lambda/<executor>/invocations/<id>/error     (error JSON)

This executor keeps LocalStack's side untouched (it reuses LocalStack's own ExecutorEndpoint, the class
the Docker executor uses) and replaces the container + init with:

  * `InitServer`: a small threaded HTTP server on 127.0.0.1:<free port> that plays the init. It serves
    the Runtime API (/2018-06-01/runtime/...) to the bootstrap, accepts LocalStack's /invoke, and posts
    ready/error/logs/response back to LocalStack's gateway exactly as the init does.
  * the function's `bootstrap`, spawned from the unzipped code directory LocalStack prepared
    (FunctionVersion.config.code.get_unzipped_code_location()), with the environment LocalStack computed
    (ExecutionEnvironment.get_environment_variables()) plus AWS_LAMBDA_RUNTIME_API.

Only Zip packages with a `bootstrap` file (runtimes provided.al2023 / provided.al2 / provided, or any
runtime whose zip carries a bootstrap) are supported. Layers and container images are not.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from localstack import config
from localstack.aws.api.lambda_ import PackageType
from localstack.services.lambda_.invocation.executor_endpoint import ExecutorEndpoint
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

LOG = logging.getLogger(__name__)

RUNTIME_API_PREFIX = "/2018-06-01/runtime"
NAMESPACE = "/_localstack_lambda"
# internal calls to LocalStack's own gateway must never go through a proxy
NO_PROXY = {"http": "", "https": ""}
MAX_KEPT_LOG_CHARS = 256 * 1024


def _local_host() -> str:
    return "127.0.0.1"


def _gateway_url() -> str:
    override = os.environ.get("ALCHEMISER_LAMBDA_GATEWAY_URL")
    if override:
        return override.rstrip("/")
    listen = config.GATEWAY_LISTEN[0]
    host = listen.host
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    return f"http://{host}:{listen.port}"


def _workdir() -> Path:
    base = os.environ.get("ALCHEMISER_LAMBDA_WORKDIR")
    if base:
        return Path(base)
    return Path(config.dirs.tmp) / "alchemiser-lambda"


class Invocation:
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


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a bootstrap killed mid-request (timeout, stop) leaves broken pipes: not worth a traceback
        LOG.debug("init server: error serving %s", client_address, exc_info=True)


class InitServer:
    """Plays LocalStack's init for one execution environment: Runtime API + /invoke + callbacks."""

    def __init__(self, executor: ProcessRuntimeExecutor, env_vars: dict[str, str], code_dir: Path):
        self.executor = executor
        self.env_vars = env_vars
        self.code_dir = code_dir
        self.gateway = _gateway_url()
        self.session = requests.Session()
        self.session.trust_env = False
        self.timeout_s = float(env_vars.get("AWS_LAMBDA_FUNCTION_TIMEOUT") or 3)
        self.memory_mb = env_vars.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or "128"
        self.version = env_vars.get("AWS_LAMBDA_FUNCTION_VERSION") or "$LATEST"

        self.lock = threading.RLock()
        self.pending: queue.Queue[Invocation] = queue.Queue()
        self.current: Invocation | None = None
        self.proc: subprocess.Popen | None = None
        self.proc_generation = 0
        self.initialised = threading.Event()  # bootstrap asked for its first invocation
        self.ready_reported = False
        self.startup_failed = False
        self.stopping = False
        self.log_lock = threading.Lock()
        self.invocation_log: list[str] = []
        self.init_log: list[str] = []
        self.all_logs: list[str] = []
        self.all_logs_size = 0

        workdir = _workdir() / executor.function_version.id.function_name
        workdir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir = workdir / f"{executor.id}-tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{executor.id}.log"
        self.log_file = self.log_path.open("a", buffering=1, encoding="utf-8", errors="replace")

        handler = self._make_handler()
        self.httpd = _QuietServer((_local_host(), 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.http_thread = threading.Thread(
            target=self.httpd.serve_forever, name=f"lambda-init-{executor.id}", daemon=True
        )
        self.http_thread.start()

    # ---------------------------------------------------------------- process management
    def process_env(self) -> dict[str, str]:
        env = {k: str(v) for k, v in self.env_vars.items() if v is not None}
        user_env = self.executor.function_version.config.environment or {}
        env["AWS_LAMBDA_RUNTIME_API"] = f"{_local_host()}:{self.port}"
        env["LAMBDA_TASK_ROOT"] = str(self.code_dir)
        env["LAMBDA_RUNTIME_DIR"] = str(self.code_dir)
        if "PATH" not in user_env:
            env["PATH"] = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
        for key in ("LANG", "LC_ALL", "SSL_CERT_FILE", "SSL_CERT_DIR"):
            if key in os.environ and key not in env:
                env[key] = os.environ[key]
        env.setdefault("HOME", str(self.tmp_dir))
        env.setdefault("TMPDIR", str(self.tmp_dir))
        # LocalStack hands out STS-assumed-role credentials; the team's convention is test/test.
        # Functions that set their own credentials keep them.
        if os.environ.get("ALCHEMISER_LAMBDA_TEST_CREDENTIALS", "1") == "1" and "AWS_ACCESS_KEY_ID" not in user_env:
            env["AWS_ACCESS_KEY_ID"] = "test"
            env["AWS_SECRET_ACCESS_KEY"] = "test"
            env.pop("AWS_SESSION_TOKEN", None)
        # AWS_ENDPOINT_URL: LocalStack sets http://127.0.0.1:<port> (get_endpoint_from_executor);
        # a function's own AWS_ENDPOINT_URL wins because LocalStack applies user env last.
        return env

    def spawn(self) -> None:
        bootstrap = self.find_bootstrap()
        with self.lock:
            self.initialised.clear()
            self.proc_generation += 1
            generation = self.proc_generation
            try:
                self.proc = subprocess.Popen(
                    [str(bootstrap)],
                    cwd=str(self.code_dir),
                    env=self.process_env(),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    close_fds=True,
                )
            except OSError as e:
                raise LambdaRuntimeException(f"cannot execute {bootstrap}: {e}") from e
            proc = self.proc
        self._log_line(f"[alchemiser-process] started {bootstrap} pid {proc.pid}\n", file_only=True)
        threading.Thread(
            target=self._pump_output, args=(proc,), name=f"lambda-out-{self.executor.id}", daemon=True
        ).start()
        threading.Thread(
            target=self._watch_exit,
            args=(proc, generation),
            name=f"lambda-wait-{self.executor.id}",
            daemon=True,
        ).start()

    def find_bootstrap(self) -> Path:
        for candidate in (self.code_dir / "bootstrap", Path("/opt/bootstrap")):
            if candidate.is_file():
                if not os.access(candidate, os.X_OK):
                    candidate.chmod(0o755)
                return candidate
        raise LambdaRuntimeException(
            f"no bootstrap in {self.code_dir}: the alchemiser-process executor runs custom runtimes "
            "(provided.al2023) whose zip contains an executable named bootstrap"
        )

    def _pump_output(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            self._log_line(raw.decode("utf-8", errors="replace"))
        proc.stdout.close()

    def _log_line(self, line: str, init: bool = False, file_only: bool = False) -> None:
        if not line.endswith("\n"):
            line += "\n"
        with self.log_lock:
            with contextlib.suppress(ValueError):  # closed during stop
                self.log_file.write(line)
            if file_only:
                return
            if init or self.current is None:
                self.init_log.append(line)
            else:
                self.invocation_log.append(line)
            self.all_logs.append(line)
            self.all_logs_size += len(line)
            while self.all_logs_size > MAX_KEPT_LOG_CHARS and len(self.all_logs) > 1:
                self.all_logs_size -= len(self.all_logs.pop(0))

    def _watch_exit(self, proc: subprocess.Popen, generation: int) -> None:
        code = proc.wait()
        if self.stopping:
            return
        self._log_line(f"[alchemiser-process] bootstrap exited with status {code}\n")
        with self.lock:
            inv = self.current
            same_process = generation == self.proc_generation
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

    def fail_pending(self, error: dict) -> None:
        """Fail every queued invocation (a re-spawned runtime failed its init)."""
        while True:
            try:
                inv = self.pending.get_nowait()
            except queue.Empty:
                return
            self.finish(inv, is_error=True, body=json.dumps(error).encode())

    def kill_process(self) -> None:
        with self.lock:
            proc = self.proc
            self.proc = None
            self.proc_generation += 1
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

    def process_alive(self) -> bool:
        with self.lock:
            return self.proc is not None and self.proc.poll() is None

    # ---------------------------------------------------------------- callbacks to LocalStack
    def _post(self, path: str, data: bytes | None = None, json_body=None) -> None:
        url = f"{self.gateway}{NAMESPACE}{path}"
        try:
            response = self.session.post(url, data=data, json=json_body, proxies=NO_PROXY, timeout=30)
            if response.status_code >= 300:
                LOG.warning("callback %s answered %s: %s", url, response.status_code, response.text[:300])
        except requests.RequestException as e:
            LOG.warning("callback %s failed: %s", url, e)

    def report_ready(self) -> None:
        with self.lock:
            if self.ready_reported:
                return
            self.ready_reported = True
        self._post(f"/{self.executor.id}/status/{self.executor.id}/ready", json_body={})

    def report_status_error(self, error: dict) -> None:
        with self.lock:
            first_start = not self.ready_reported
            if first_start and self.startup_failed:
                return
            if first_start:
                self.startup_failed = True
        if first_start:
            self._post(f"/{self.executor.id}/status/{self.executor.id}/error", json_body=error)
        else:
            # LocalStack already considers this environment ready: fail what waits for it instead
            self.fail_pending(error)

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
        with self.log_lock:
            lines = self.init_log + self.invocation_log
            self.init_log = []
            self.invocation_log = []
        logs = (
            f"START RequestId: {inv.request_id} Version: {self.version}\n"
            + "".join(lines)
            + f"END RequestId: {inv.request_id}\n"
            + f"REPORT RequestId: {inv.request_id}\tDuration: {duration_ms:.2f} ms\t"
            + f"Billed Duration: {max(1, int(duration_ms + 0.999))} ms\tMemory Size: {self.memory_mb} MB\t"
            + "Max Memory Used: 0 MB\t\n"
        )
        self._log_line(
            f"[alchemiser-process] {inv.request_id} {'error' if is_error else 'ok'} in {duration_ms:.1f} ms\n",
            file_only=True,
        )
        executor_id = self.executor.id
        self._post(f"/{executor_id}/invocations/{inv.request_id}/logs", json_body={"logs": logs})
        kind = "error" if is_error else "response"
        self._post(f"/{executor_id}/invocations/{inv.request_id}/{kind}", data=body)

    def on_timeout(self, inv: Invocation) -> None:
        if inv.done.is_set():
            return
        ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        message = f"{ts} {inv.request_id} Task timed out after {self.timeout_s:.2f} seconds"
        self._log_line(message + "\n")
        inv.timed_out = True
        # AWS resets the sandbox after a timeout: kill the process; the next invoke spawns a new one.
        self.kill_process()
        self.finish(
            inv,
            is_error=True,
            body=json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}).encode(),
        )

    # ---------------------------------------------------------------- invocations
    def accept_invoke(self, payload: dict) -> None:
        inv = Invocation(payload)
        self.pending.put(inv)
        if not self.process_alive() and not self.stopping:
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
                inv.generation = self.proc_generation
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

    def _make_handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):  # quiet
                LOG.debug("init %s: " + fmt, server.executor.id, *args)

            def _body(self) -> bytes:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _reply(self, status: int, body: bytes = b"", headers: dict | None = None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if body and not (headers and "Content-Type" in headers):
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def _json(self, status: int, obj) -> None:
                self._reply(status, json.dumps(obj).encode())

            def do_GET(self):
                if self.path == f"{RUNTIME_API_PREFIX}/invocation/next":
                    inv = server.next_invocation()
                    if inv is None:
                        self._json(HTTPStatus.GONE, {"errorMessage": "environment stopping"})
                        return
                    headers = {
                        "Content-Type": "application/json",
                        "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": inv.function_arn,
                        "Lambda-Runtime-Trace-Id": inv.trace_id,
                    }
                    if inv.client_context:
                        headers["Lambda-Runtime-Client-Context"] = inv.client_context
                    self._reply(HTTPStatus.OK, inv.body, headers)
                    return
                self._json(HTTPStatus.NOT_FOUND, {"errorMessage": f"unknown path {self.path}"})

            def do_POST(self):
                body = self._body()
                path = self.path
                if path == "/invoke":
                    try:
                        payload = json.loads(body)
                    except ValueError:
                        self._json(HTTPStatus.BAD_REQUEST, {"errorMessage": "invalid invoke payload"})
                        return
                    self._reply(HTTPStatus.OK)
                    threading.Thread(target=server.accept_invoke, args=(payload,), daemon=True).start()
                    return
                if path == f"{RUNTIME_API_PREFIX}/init/error":
                    self._json(HTTPStatus.ACCEPTED, {"status": "OK"})
                    server.report_status_error(_error_json(body, self.headers))
                    return
                prefix = f"{RUNTIME_API_PREFIX}/invocation/"
                if path.startswith(prefix):
                    rest = path[len(prefix) :]
                    request_id, _, kind = rest.partition("/")
                    inv = server.lookup(request_id)
                    if inv is None or inv.done.is_set():
                        self._json(
                            HTTPStatus.BAD_REQUEST,
                            {
                                "errorMessage": f"unknown or finished request id {request_id}",
                                "errorType": "InvalidRequestID",
                            },
                        )
                        return
                    if kind == "response":
                        self._json(HTTPStatus.ACCEPTED, {"status": "OK"})
                        server.finish(inv, is_error=False, body=body)
                        return
                    if kind == "error":
                        self._json(HTTPStatus.ACCEPTED, {"status": "OK"})
                        server.finish(inv, is_error=True, body=_error_json_bytes(body, self.headers))
                        return
                self._json(HTTPStatus.NOT_FOUND, {"errorMessage": f"unknown path {path}"})

        return Handler

    # ---------------------------------------------------------------- lifecycle
    def close(self) -> None:
        self.stopping = True
        self.kill_process()
        try:
            self.httpd.shutdown()
            self.httpd.server_close()
        except Exception:  # noqa: BLE001
            pass
        with self.log_lock, contextlib.suppress(Exception):
            self.log_file.close()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def logs(self) -> str:
        with self.log_lock:
            return "".join(self.all_logs)


def _error_json(body: bytes, headers) -> dict:
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        if "errorType" not in parsed and headers.get("Lambda-Runtime-Function-Error-Type"):
            parsed["errorType"] = headers.get("Lambda-Runtime-Function-Error-Type")
        return parsed
    return {
        "errorMessage": body.decode("utf-8", errors="replace"),
        "errorType": headers.get("Lambda-Runtime-Function-Error-Type") or "Unhandled",
    }


def _error_json_bytes(body: bytes, headers) -> bytes:
    return json.dumps(_error_json(body, headers)).encode()


class ProcessRuntimeExecutor(RuntimeExecutor):
    """RuntimeExecutor plugin `alchemiser-process` (LAMBDA_RUNTIME_EXECUTOR=alchemiser-process)."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        # LocalStack's own endpoint object: registers /_localstack_lambda/<id>/... routes in the gateway,
        # posts /invoke to container_address:container_port and waits for the callbacks.
        self.executor_endpoint = ExecutorEndpoint(self.id, container_address=_local_host())
        self.init_server: InitServer | None = None

    def start(self, env_vars: dict[str, str]) -> None:
        self.executor_endpoint.start()
        fv = self.function_version
        if fv.config.package_type != PackageType.Zip or not fv.config.code:
            raise LambdaRuntimeException(
                "alchemiser-process executor: only Zip packages are supported (no container images)"
            )
        if fv.config.layers:
            LOG.warning("alchemiser-process executor: layers are ignored for %s", fv.qualified_arn)
        fv.config.code.prepare_for_execution()
        code_dir = Path(fv.config.code.get_unzipped_code_location())
        self.init_server = InitServer(self, env_vars, code_dir)
        self.executor_endpoint.container_port = self.init_server.port
        LOG.debug(
            "alchemiser-process: environment %s for %s: runtime API on 127.0.0.1:%s, code %s, log %s",
            self.id,
            fv.qualified_arn,
            self.init_server.port,
            code_dir,
            self.init_server.log_path,
        )
        self.init_server.spawn()
        # LocalStack's startup timer (LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT) calls stop() if this hangs.
        self.executor_endpoint.wait_for_startup()

    def stop(self) -> None:
        if self.init_server is not None:
            self.init_server.close()
        try:
            self.executor_endpoint.shutdown()
        except Exception as e:  # noqa: BLE001
            LOG.debug("error stopping executor endpoint %s: %s", self.id, e)

    def get_address(self) -> str:
        return _local_host()

    def get_endpoint_from_executor(self) -> str:
        # what the function sees as LocalStack's host (LOCALSTACK_HOSTNAME, AWS_ENDPOINT_URL)
        return _local_host()

    def get_runtime_endpoint(self) -> str:
        return f"{_gateway_url()}{self.executor_endpoint.get_endpoint_prefix()}"

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        return self.executor_endpoint.invoke(payload)

    def get_logs(self) -> str:
        if self.init_server is None:
            return "environment not started"
        return self.init_server.logs()

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        # No image pull, no init download: only unzip the code (LocalStack caches it on disk).
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        return True


def new_request_id() -> str:  # for tests/tools
    return str(uuid.uuid4())
