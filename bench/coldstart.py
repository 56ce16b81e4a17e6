"""Cold-start proxy: starts a Lambda function process N times against a minimal Lambda Runtime
API emulator (this file, bound to 127.0.0.1) and times process start -> first response POST.

Each start gets one event (with a fresh event id, so the function's DynamoDB idempotency claim is
new every time) from GET /2018-06-01/runtime/invocation/next, with the headers
Lambda-Runtime-Aws-Request-Id, Lambda-Runtime-Deadline-Ms and Lambda-Runtime-Invoked-Function-Arn.
An envelope arrives as this account's EventBridge delivers it (account 000000000000, us-east-1,
the function's own); an event given fresh ids loses its signature, which cannot hold for the
changed event (the bench's functions take its sources unsigned). When the function POSTs
.../response (or .../error), the harness reads VmHWM (peak RSS) from /proc/<pid>/status, then
kills the process. A start counts only when the function handled the event: a response whose
`status` is not `handled` (a refusal, a recorded failure) is a failed start, with its reason.

Usage:
  coldstart.py --name NAME --runs N --event FILE [--env-file FILE] [--copy-file SRC:VAR]
               [--fresh-ids] [--fresh-workflows] [--wrap SOURCE] [--count-dynamodb]
               -- COMMAND [ARGS...]

  --event FILE      the event (JSON): an EventBridge envelope or a bare detail
  --wrap SOURCE     wrap a bare detail in an EventBridge envelope with this source
  --fresh-ids       give every start a fresh detail.event_id (and envelope id)
  --fresh-workflows also a fresh detail.correlation_id: every start records into a workflow of its
                    own, so that each does the same ledger work (not one more entry each time)
  --env-file FILE   KEY=VALUE lines added to the function's environment
  --copy-file SRC:VAR  copy SRC to a fresh temporary file per start and set VAR to its path
  --count-dynamodb  first one untimed start whose DynamoDB requests (AWS_ENDPOINT_URL_DYNAMODB)
                    go through a recording proxy (this file): their operations, in order, are
                    reported as "dynamodb_calls"

Prints one JSON object: {"name", "runs", "median_ms", "min_ms", "max_ms", "init_median_ms",
"peak_rss_kb_median", "peak_rss_kb_max", "samples_ms", "errors", "dynamodb_calls"}.
"""

import argparse
import contextlib
import copy
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

API = "/2018-06-01/runtime"
ACCOUNT, REGION = "000000000000", "us-east-1"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{{name}}"


class Run:
    """What the emulator knows about the current start."""

    def __init__(self, event_bytes, request_id, name):
        self.event_bytes = event_bytes
        self.request_id = request_id
        self.name = name
        self.delivered = False
        self.first_next_at = None
        self.responded_at = None
        self.outcome = None  # "response" | "error" | "init_error"
        self.body = b""
        self.done = threading.Event()  # a response or an error arrived
        self.over = threading.Event()  # the harness finished with this start


class Emulator(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.run = None
        self.lock = threading.Lock()

    def handle_error(self, request, client_address):
        pass  # a killed function drops its held poll: expected


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path != f"{API}/invocation/next":
            self._reply(404, b'{"errorMessage":"not found"}')
            return
        run = self.server.run
        with self.server.lock:
            give = run is not None and not run.delivered
            if give:
                run.delivered = True
                run.first_next_at = time.perf_counter()
        if not give:
            # One invocation per process: hold the poll until the harness kills the process.
            if run is not None:
                run.over.wait(30)
            self._reply(503, b'{"errorMessage":"no more invocations"}')
            return
        deadline_ms = int(time.time() * 1000) + 30_000
        self._reply(
            200,
            run.event_bytes,
            {
                "Lambda-Runtime-Aws-Request-Id": run.request_id,
                "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN.format(name=run.name),
                "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};Sampled=0",
            },
        )

    def do_POST(self):
        now = time.perf_counter()
        body = self._body()
        run = self.server.run
        match = re.fullmatch(rf"{API}/invocation/([^/]+)/(response|error)", self.path)
        if match and run is not None and match.group(1) == run.request_id:
            run.responded_at = now
            run.outcome = match.group(2)
            run.body = body
            self._reply(202, b'{"status":"OK"}')
            run.done.set()
        elif self.path == f"{API}/init/error" and run is not None:
            run.responded_at = now
            run.outcome = "init_error"
            run.body = body
            self._reply(202, b'{"status":"OK"}')
            run.done.set()
        else:
            self._reply(404, b'{"errorMessage":"unknown request id or path"}')


# Headers of one hop (not forwarded), and the length the proxy sets itself.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}


class DynamoDbRecorder(http.server.ThreadingHTTPServer):
    """A forwarding proxy on 127.0.0.1 in front of DynamoDB (moto) that records the operation of
    each request (its X-Amz-Target), in order. Requests go on unchanged (moto checks no signature)."""

    daemon_threads = True

    def __init__(self, upstream):
        super().__init__(("127.0.0.1", 0), RecorderHandler)
        parts = urllib.parse.urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port or 80)
        self.operations = []
        self.lock = threading.Lock()

    def url(self):
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class RecorderHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.server.lock:
            self.server.operations.append((self.headers.get("X-Amz-Target") or "?").rsplit(".", 1)[-1])
        upstream = http.client.HTTPConnection(*self.server.upstream, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            upstream.request("POST", self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def peak_rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def fresh_id(value, suffix):
    """`value` with its uuid (or number) suffix replaced by `suffix`."""
    base = re.sub(r"-(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d+)$", "", value)
    return f"{base}-{suffix}"


def fresh_event(template, fresh_ids, wrap, fresh_workflows=False):
    event = copy.deepcopy(template)
    suffix = str(uuid.uuid4())
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else event
    if fresh_ids and isinstance(detail, dict) and "event_id" in detail:
        detail["event_id"] = fresh_id(detail["event_id"], suffix)
        if isinstance(detail.get("metadata"), dict):
            detail["metadata"].pop("signature", None)
    if fresh_workflows and isinstance(detail, dict) and "correlation_id" in detail:
        detail["correlation_id"] = fresh_id(detail["correlation_id"], suffix)
    if wrap and "detail" not in event:
        event = {
            "version": "0",
            "id": suffix,
            "detail-type": detail.get("event_type", "Event"),
            "source": wrap,
            "account": ACCOUNT,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": REGION,
            "resources": [
                f"correlation:{detail.get('correlation_id', '')}",
                f"causation:{detail.get('causation_id', '')}",
            ],
            "detail": detail,
        }
    elif "detail" in event:
        event.update(account=ACCOUNT, region=REGION)
        if fresh_ids and "id" in event:
            event["id"] = suffix
    return event


def refusal(body):
    """Why a function's answer is not `handled` (None when it is, or when it is not JSON)."""
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    if isinstance(answer, dict) and answer.get("status", "handled") != "handled":
        return f"answered {answer['status']}: {answer.get('reason', '')}"
    return None


def start_once(args, server, template, env, scratch, index):
    """One start of the function on one fresh event: ("response", total ms, init ms, peak RSS KiB),
    ("killed", ...) when a signal from outside ended it before it answered (shared machine), or
    ("error", why)."""
    event = fresh_event(template, args.fresh_ids, args.wrap, args.fresh_workflows)
    run = Run(json.dumps(event).encode(), str(uuid.uuid4()), args.name)
    run_env = dict(env)
    for spec in args.copy_file:
        source, variable = spec.rsplit(":", 1)
        target = os.path.join(scratch, f"{index}-{os.path.basename(source)}")
        shutil.copyfile(source, target)
        run_env[variable] = target
    server.run = run
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            args.command,
            env=run_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        finished = False
        while not finished:
            finished = run.done.wait(0.005)
            if not finished and (process.poll() is not None or time.perf_counter() - started > args.timeout):
                break
        peak = peak_rss_kb(process.pid) if finished else None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        run.over.set()
        refused = refusal(run.body) if finished and run.outcome == "response" else None
        if refused:
            return ("error", f"start {index}: {refused}")
        if finished and run.outcome == "response":
            init = (run.first_next_at - started) * 1000 if run.first_next_at is not None else None
            return ("response", (run.responded_at - started) * 1000, init, peak)
        if not finished and process.returncode is not None and process.returncode < 0:
            return ("killed",)
        log.seek(0)
        tail = log.read()[-600:].decode(errors="replace")
        why = run.outcome or (
            f"exited with {process.returncode} before answering"
            if not finished and process.returncode is not None
            else "timeout"
        )
        return ("error", f"start {index}: {why}: {run.body[:300].decode(errors='replace')} {tail}".strip())


def dynamodb_calls(args, server, template, env, scratch):
    """The DynamoDB operations of one untimed start, through a DynamoDbRecorder (None when it failed)."""
    upstream = env.get("AWS_ENDPOINT_URL_DYNAMODB") or env.get("AWS_ENDPOINT_URL")
    if not upstream:
        return None
    recorder = DynamoDbRecorder(upstream)
    threading.Thread(target=recorder.serve_forever, daemon=True).start()
    try:
        outcome = start_once(args, server, template, dict(env, AWS_ENDPOINT_URL_DYNAMODB=recorder.url()), scratch, -1)
    finally:
        recorder.shutdown()
    return list(recorder.operations) if outcome[0] == "response" else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--event", required=True)
    parser.add_argument("--env-file")
    parser.add_argument("--copy-file", action="append", default=[])
    parser.add_argument("--fresh-ids", action="store_true")
    parser.add_argument("--fresh-workflows", action="store_true")
    parser.add_argument("--wrap")
    parser.add_argument("--count-dynamodb", action="store_true")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--write-event", help="write one (fresh) event here and exit")
    parser.add_argument("command", nargs="*")
    args = parser.parse_args()

    with open(args.event) as f:
        template = json.load(f)
    if args.write_event:
        with open(args.write_event, "w") as f:
            json.dump(fresh_event(template, args.fresh_ids, args.wrap, args.fresh_workflows), f)
        return 0
    if not args.command:
        parser.error("give the function's command after --")

    env = dict(os.environ)
    if args.env_file:
        with open(args.env_file) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    key, value = line.split("=", 1)
                    env[key] = value

    server = Emulator()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address
    env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": f"{host}:{port}",
            "AWS_LAMBDA_FUNCTION_NAME": args.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{args.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        }
    )
    # As Lambda sets them (an env file's win).
    env.setdefault("AWS_REGION", REGION)
    env.setdefault("AWS_DEFAULT_REGION", env["AWS_REGION"])

    totals, inits, rss, errors = [], [], [], []
    killed = 0  # starts killed by a signal from outside before answering (shared machine): retried
    calls = None
    scratch = tempfile.mkdtemp(prefix="alchemiser-coldstart-")
    try:
        if args.count_dynamodb:
            calls = dynamodb_calls(args, server, template, env, scratch)
        index = -1
        while len(totals) + len(errors) < args.runs and index < 3 * args.runs:
            index += 1
            outcome = start_once(args, server, template, env, scratch, index)
            if outcome[0] == "response":
                _, total, init, peak = outcome
                totals.append(total)
                if init is not None:
                    inits.append(init)
                if peak is not None:
                    rss.append(peak)
            elif outcome[0] == "killed":
                killed += 1
            else:
                errors.append(outcome[1])
    finally:
        server.shutdown()
        shutil.rmtree(scratch, ignore_errors=True)

    def median(values):
        return round(statistics.median(values), 2) if values else None

    result = {
        "name": args.name,
        "runs": len(totals),
        "median_ms": median(totals),
        "min_ms": round(min(totals), 2) if totals else None,
        "max_ms": round(max(totals), 2) if totals else None,
        "init_median_ms": median(inits),
        "peak_rss_kb_median": int(statistics.median(rss)) if rss else None,
        "peak_rss_kb_max": max(rss) if rss else None,
        "samples_ms": [round(t, 2) for t in totals],
        "errors": errors[:5],
        "error_count": len(errors),
        "killed_and_retried": killed,
        "dynamodb_calls": calls,
    }
    print(json.dumps(result))
    return 0 if totals and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
