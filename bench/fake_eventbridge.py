"""A fake EventBridge endpoint with a cloud-like round trip, for the latency benchmark
(scripts/bench-latency). Standard library only.

  fake_eventbridge.py [--port 0] [--port-file FILE] [--delay-ms 25] [--reject-entries CODE]

Listens on 127.0.0.1 (HTTP/1.1, connections kept alive, one thread per connection) and answers
the AWS JSON 1.1 requests (header X-Amz-Target) an EventBridge client sends, each after a fixed
delay (--delay-ms: the round trip to AWS, 20-40 ms from outside the region):

  AWSEvents.PutEvents          1..10 entries, else 400 ValidationException; every entry gets an
                               EventId (or, with --reject-entries CODE, ErrorCode CODE: e.g.
                               AccessDeniedException, which publishers do not retry)
  AWSEvents.DescribeEventBus   every bus exists (Name, Arn)
  AWSEvents.CreateEventBus / AWSEvents.DeleteEventBus   accepted
  anything else                400 UnknownOperationException

Not answered with the delay:

  GET /stats          JSON {put_requests, put_requests_invalid, entries_accepted,
                      entries_rejected, max_in_flight, in_flight, distinct_event_ids,
                      other_requests}: put_requests counts the valid PutEvents requests;
                      max_in_flight is the most PutEvents requests handled at once;
                      distinct_event_ids counts the distinct `event_id`s of the accepted entries'
                      Detail (a JSON string); put_window_s is the time from the first PutEvents
                      received to the last answered
  POST /stats/reset   zeroes them

--port 0 takes an ephemeral port; --port-file FILE gets the port once the server listens (written
to FILE.tmp, then renamed), so a script can wait for it.
"""

import argparse
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ACCOUNT = "000000000000"
REGION = "us-east-1"
JSON_11 = "application/x-amz-json-1.1"


class Stats:
    """The counters of /stats, shared by the handler threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.put_requests = 0
            self.entries_accepted = 0
            self.entries_rejected = 0
            self.max_in_flight = 0
            self.put_requests_invalid = 0
            self.other_requests = 0
            self.first_put = self.last_put = None  # time.monotonic() of the first start, last end
            self.event_ids = set()
            # in_flight is not reset: requests being handled now still end (and decrement).
            self.in_flight = getattr(self, "in_flight", 0)

    def enter(self):
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.first_put is None:
                self.first_put = time.monotonic()

    def leave(self):
        with self.lock:
            self.in_flight -= 1
            self.last_put = time.monotonic()

    def snapshot(self):
        with self.lock:
            return {
                "put_requests": self.put_requests,
                "put_requests_invalid": self.put_requests_invalid,
                "entries_accepted": self.entries_accepted,
                "entries_rejected": self.entries_rejected,
                "max_in_flight": self.max_in_flight,
                "in_flight": self.in_flight,
                "distinct_event_ids": len(self.event_ids),
                "other_requests": self.other_requests,
                "put_window_s": (
                    round(self.last_put - self.first_put, 3) if self.first_put and self.last_put else None
                ),
            }


def event_id_of(entry):
    """The `event_id` of an entry's Detail (a JSON string), or None."""
    try:
        detail = json.loads(entry.get("Detail") or "null")
    except (TypeError, ValueError):
        return None
    return detail.get("event_id") if isinstance(detail, dict) else None


def bus_arn(name):
    return f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse their connections
    # Without these an answer leaves as two segments (headers, then body) and Nagle's algorithm
    # holds the second until the client's delayed ACK: ~40 ms more per request.
    disable_nagle_algorithm = True
    wbufsize = -1  # buffered: headers and body are written in one go, on flush
    server_version = "FakeEventBridge/1"
    # Set by main() on the class: the options and the counters.
    delay_s = 0.025
    reject_code = None
    stats = Stats()

    def log_message(self, format, *args):  # noqa: A002 (the base class's signature)
        pass  # one line per request would cost more than the request

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after the chunk
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(self, status, document, content_type=JSON_11, extra=()):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def error(self, status, code, message):
        self.reply(status, {"__type": code, "message": message}, extra=[("x-amzn-ErrorType", code)])

    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path.rstrip("/") == "/stats":
            self.reply(200, self.stats.snapshot(), content_type="application/json")
        else:
            self.error(404, "NotFound", f"no {self.path} here (GET /stats)")

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.read_body()
        if self.path.rstrip("/") == "/stats/reset":
            self.stats.reset()
            self.reply(200, self.stats.snapshot(), content_type="application/json")
            return
        target = self.headers.get("X-Amz-Target", "")
        try:
            request = json.loads(body or b"{}")
        except ValueError as error:
            self.error(400, "SerializationException", f"body is not JSON: {error}")
            return
        if target == "AWSEvents.PutEvents":
            self.stats.enter()
            try:
                time.sleep(self.delay_s)
                self.put_events(request)
            finally:
                self.stats.leave()
            return
        with self.stats.lock:
            self.stats.other_requests += 1
        time.sleep(self.delay_s)
        name = request.get("Name") or "default"
        if target == "AWSEvents.DescribeEventBus":
            self.reply(200, {"Name": name, "Arn": bus_arn(name)})
        elif target == "AWSEvents.CreateEventBus":
            self.reply(200, {"EventBusArn": bus_arn(name)})
        elif target == "AWSEvents.DeleteEventBus":
            self.reply(200, {})
        else:
            self.error(400, "UnknownOperationException", f"this fake does not answer {target or 'no X-Amz-Target'}")

    def put_events(self, request):
        entries = request.get("Entries")
        if not isinstance(entries, list) or not 1 <= len(entries) <= 10:
            count = len(entries) if isinstance(entries, list) else 0
            with self.stats.lock:
                self.stats.put_requests_invalid += 1
            self.error(
                400,
                "ValidationException",
                f"1 validation error detected: Value at 'entries' failed to satisfy constraint: "
                f"Member must have length between 1 and 10 (got {count})",
            )
            return
        if self.reject_code:
            answers = [{"ErrorCode": self.reject_code, "ErrorMessage": "rejected by the fake"} for _ in entries]
        else:
            answers = [{"EventId": str(uuid.uuid4())} for _ in entries]
        ids = [] if self.reject_code else [event_id_of(entry) for entry in entries]
        with self.stats.lock:
            self.stats.put_requests += 1
            if self.reject_code:
                self.stats.entries_rejected += len(entries)
            else:
                self.stats.entries_accepted += len(entries)
                self.stats.event_ids.update(i for i in ids if i is not None)
        self.reply(200, {"FailedEntryCount": len(entries) if self.reject_code else 0, "Entries": answers})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many clients connecting at once
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0: an ephemeral port")
    parser.add_argument("--port-file", help="write the port here once listening")
    parser.add_argument("--delay-ms", type=float, default=25.0, help="delay of every EventBridge answer")
    parser.add_argument("--reject-entries", metavar="CODE", help="answer every entry with ErrorCode CODE")
    args = parser.parse_args()
    Handler.delay_s = args.delay_ms / 1000
    Handler.reject_code = args.reject_entries
    server = Server(("127.0.0.1", args.port), Handler)
    port = server.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(f"{port}\n")
        os.replace(args.port_file + ".tmp", args.port_file)
    mode = f"rejecting every entry with {args.reject_entries}" if args.reject_entries else "accepting"
    print(f"fake EventBridge on http://127.0.0.1:{port}, {args.delay_ms:g} ms per request, {mode}", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
