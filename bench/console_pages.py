"""Times the operator console's pages as a browser asks for them: one keep-alive HTTP/1.1
connection to `alchemiser console`, each page asked WARMUP times, then RUNS times timed from the
request to the last byte of the answer; every answer must be 200 (JSON pages: JSON).

Usage: console_pages.py URL OUT_FILE [--runs N] [--warmup N] [--workflows N] NAME=PATH...
  A PATH holding {older_page} gets the token of the workflows list's second page.
Writes {"workflows": N, "runs": N, "pages": [{name, path, p50_ms, p95_ms, max_ms, bytes}]}.
"""

import argparse
import http.client
import json
import math
import sys
import time
import urllib.parse


def percentile(sorted_values, percent):
    """Nearest rank, as the console's own overview computes it."""
    rank = max(1, math.ceil(percent * len(sorted_values) / 100))
    return sorted_values[rank - 1]


def fetch(connection, path):
    connection.request("GET", path, headers={"Accept": "text/html"})
    response = connection.getresponse()
    body = response.read()
    return response.status, response.getheader("Content-Type", ""), body


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("out")
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workflows", type=int, default=None)
    parser.add_argument("pages", nargs="+")
    args = parser.parse_args()
    address = urllib.parse.urlparse(args.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)

    status, _, body = fetch(connection, "/workflows?format=json")
    if status != 200:
        sys.exit(f"/workflows?format=json answered {status}: {body[:200]!r}")
    older = json.loads(body).get("older_page") or ""

    results = []
    for page in args.pages:
        name, _, path = page.partition("=")
        path = path.replace("{older_page}", urllib.parse.quote(older, safe=""))
        timings = []
        size = 0
        for attempt in range(args.warmup + args.runs):
            started = time.perf_counter()
            status, content_type, body = fetch(connection, path)
            elapsed_ms = (time.perf_counter() - started) * 1000
            if status != 200:
                sys.exit(f"{name} ({path}) answered {status}: {body[:300]!r}")
            if "format=json" in path:
                if not content_type.startswith("application/json"):
                    sys.exit(f"{name} ({path}) answered {content_type}, not JSON")
                json.loads(body)
            if attempt >= args.warmup:
                timings.append(elapsed_ms)
                size = len(body)
        timings.sort()
        results.append(
            {
                "name": name,
                "path": path,
                "runs": len(timings),
                "p50_ms": round(percentile(timings, 50), 1),
                "p95_ms": round(percentile(timings, 95), 1),
                "max_ms": round(timings[-1], 1),
                "bytes": size,
            }
        )
        print(
            f"{name}: p50 {results[-1]['p50_ms']} ms, p95 {results[-1]['p95_ms']} ms ({size:,} bytes)", file=sys.stderr
        )
    with open(args.out, "w") as out:
        json.dump({"workflows": args.workflows, "runs": args.runs, "pages": results}, out, indent=1)


if __name__ == "__main__":
    main()
