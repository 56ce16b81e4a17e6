"""Turns the measurements scripts/bench collected in WORK_DIR into the table (stdout) and one JSON
document (OUT_FILE): each figure next to its target and PASS / MISS ("info" rows have no target).

Usage: report.py WORK_DIR OUT_FILE REPO_ROOT [--only SECTION,...]
  --only: just these sections (publisher, latency, coldstart, workflow, console, test);
  scripts/bench-latency run alone reports `latency`, scripts/bench-console `console`.
"""

import datetime
import json
import os
import sys

MIB = 1024 * 1024
# The functions are the routing table's handlers (lib/events/routes.json), the one list.
with open(os.path.join(os.path.dirname(__file__), "..", "lib", "events", "routes.json")) as _routes:
    FUNCTIONS = json.load(_routes)["handlers"]


def load(work, name):
    path = os.path.join(work, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def rate(doc, mode):
    for result in (doc or {}).get("results", []):
        if result["mode"] == mode and result["failed"] == 0:
            return result["events_per_s"]
    return None


SECTIONS = ("publisher", "latency", "coldstart", "workflow", "console", "test")


def console_rows(work, row):
    """The operator console's pages on a big local ledger (scripts/bench-console)."""
    doc = load(work, "console-pages.json")
    workflows = (doc or {}).get("workflows")
    g = (
        f"operator console, local ledger of {workflows:,} workflows: time to the last byte of a page, "
        f"p95 of {(doc or {}).get('runs', '?')} (bench/console_pages.py)"
        if workflows
        else "operator console, local ledger"
    )
    if doc is None:
        row(g, "every page", None, "ms", "p95 < 300 ms", False)
        return
    for page in doc["pages"]:
        p95 = page["p95_ms"]
        row(
            g,
            page["name"],
            p95,
            "ms",
            "p95 < 300 ms",
            p95 < 300,
            f"p50 {page['p50_ms']} ms, max {page['max_ms']} ms, {page['bytes']:,} bytes",
        )


def latency_rows(work, row):
    """Publishing at a cloud-like round trip (scripts/bench-latency, the fake EventBridge)."""
    config = load(work, "latency-config.json") or {}
    rtt_ms, in_flight = config.get("rtt_ms"), config.get("in_flight")
    rust_b, rust_s = load(work, "latency-rust-batched.json"), load(work, "latency-rust-sequential.json")
    rb, rs = rate(rust_b, "batched"), rate(rust_s, "sequential")
    bb = rate(load(work, "latency-boto3-batched.json"), "batched")
    bs = rate(load(work, "latency-boto3-single.json"), "single")
    ceiling = in_flight * 10 * 1000 / rtt_ms if rtt_ms and in_flight else None
    sequential_ceiling = 10 * 1000 / rtt_ms if rtt_ms else None

    def of_ceiling(value, limit):
        return f"{value / limit:.0%} of the ceiling {limit:,.0f} events/s" if value and limit else ""

    g = (
        f"publisher, {config.get('events', '?')} events to a fake EventBridge answering after "
        f"{rtt_ms or '?'} ms (bench/fake_eventbridge.py; AWS: 20-40 ms)"
    )
    fake = load(work, "latency-fake-rust-batched.json") or {}
    note = of_ceiling(rb, ceiling)
    if fake:
        note += f"; the fake saw at most {fake.get('max_in_flight')} PutEvents at once"
    row(g, f"Rust publisher, 10 per PutEvents, {in_flight or '?'} in flight", rb, "events/s", note=note)
    row(g, "Rust publisher, 10 per PutEvents, sequential", rs, "events/s", note=of_ceiling(rs, sequential_ceiling))
    row(g, "boto3, batched by 10 (sequential)", bb, "events/s", note=of_ceiling(bb, sequential_ceiling))
    row(
        g,
        "boto3, one entry per PutEvents (Python system)",
        bs,
        "events/s",
        note=of_ceiling(bs, sequential_ceiling and sequential_ceiling / 10),
    )
    row(
        g,
        f"ceiling: {in_flight or '?'} in flight x 10 entries / RTT",
        ceiling and round(ceiling),
        "events/s",
        note=f"sequential: 10 entries / RTT = {sequential_ceiling:,.0f} events/s" if sequential_ceiling else "",
    )
    ratio = rb / bb if rb and bb else None
    row(
        g,
        "Rust concurrent / boto3 batched",
        ratio and round(ratio, 1),
        "x",
        ">= 5x",
        ratio is not None and ratio >= 5,
    )

    g = f"operator commands ({config.get('cli', 'alchemiser')}) against the fake, {rtt_ms or '?'} ms per request"

    def count(key):
        return f"{config[key]:,}" if isinstance(config.get(key), int) else "?"

    for name, what, unit in (
        ("redrive", f"dlq redrive --all, {count('redrive_messages')} dead letters (SQS in LocalStack)", "messages/s"),
        ("drain", f"outbox drain, {count('drain_events')} events kept in a file outbox", "events/s"),
    ):
        doc = load(work, f"latency-{name}.json")
        if doc is None:
            row(g, what, None, unit, "all arrive, once", False)
            continue
        printed = " ".join((doc.get("printed") or "nothing").split()[:3])  # the counts, not the paths
        checks = f"printed {printed}, {doc.get('distinct_ids')} distinct ids at the fake"
        if "queue_left" in doc:
            checks += f", {doc['queue_left']} left in the queue"
        note = (
            f"{doc['seconds']:.1f} s; {checks}; {doc.get('put_requests')} PutEvents, "
            f"at most {doc.get('max_in_flight')} at once"
        )
        if doc.get("put_window_s") is not None:
            note += f", first to last in {doc['put_window_s']:.1f} s"
        row(g, what, doc.get("per_s"), unit, "all arrive, once", bool(doc.get("ok")), note)


def main():
    work, out_file, repo = sys.argv[1:4]
    only = set(SECTIONS)
    if len(sys.argv) > 4:
        if len(sys.argv) != 6 or sys.argv[4] != "--only" or not set(sys.argv[5].split(",")) <= only:
            sys.exit(f"usage: report.py WORK_DIR OUT_FILE REPO_ROOT [--only {','.join(SECTIONS)}]")
        only = set(sys.argv[5].split(","))
    rows = []
    section = [SECTIONS[0]]  # of the rows added now

    def row(group, metric, value, unit, target=None, ok=None, note=""):
        verdict = "info" if ok is None else ("PASS" if ok else "MISS")
        if value is None:
            verdict, shown = ("MISS" if target else "n/a"), "not measured"
        elif isinstance(value, float):
            shown = f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
        else:
            shown = f"{value:,}" if isinstance(value, int) else str(value)
        rows.append(
            {
                "section": section[0],
                "group": group,
                "metric": metric,
                "value": value,
                "unit": unit,
                "shown": shown,
                "target": target or "",
                "verdict": verdict,
                "note": note,
            }
        )

    # 1. Publisher throughput (bus without rules), side by side.
    rust_b, rust_s = load(work, "publisher-rust-batched.json"), load(work, "publisher-rust-single.json")
    boto = load(work, "publisher-boto3.json")
    rb, rs = rate(rust_b, "batched"), rate(rust_s, "single")
    bs, bb = rate(boto, "single"), rate(boto, "batched")
    events = next((r["events"] for r in (rust_b or {}).get("results", [])), None)
    g = f"publisher, {events or '?'} events to LocalStack (bus without rules)"
    row(g, "Rust publisher, batched (10 per PutEvents)", rb, "events/s")
    row(g, "Rust publisher, one entry per PutEvents", rs, "events/s")
    row(g, "boto3, one entry per PutEvents (Python system)", bs, "events/s")
    row(g, "boto3, batched by 10", bb, "events/s")
    ratio = rb / bs if rb and bs else None
    row(g, "Rust batched / boto3 one-by-one", ratio and round(ratio, 1), "x", ">= 6x", ratio is not None and ratio >= 6)
    ratio = rb / bb if rb and bb else None
    row(
        g, "Rust batched / boto3 batched", ratio and round(ratio, 2), "x", ">= 1.0x", ratio is not None and ratio >= 1.0
    )
    rule, count = load(work, "publisher-rule.json"), load(work, "rule-count.json")
    rr = rate(rule, "batched")
    note = "LocalStack's own rule delivery caps this (~230 ev/s on this machine kind)"
    if count is not None:
        note += f"; {count['messages']} messages reached the SQS queue"
    row(g, "Rust batched, bus with a rule -> SQS", rr, "events/s", note=note)

    # 1b. At a cloud-like round trip (scripts/bench-latency).
    section[0] = "latency"
    latency_rows(work, row)

    # 2. Cold start proxy, 3. zip size and peak RSS. The monitor and the Python function do the
    # same work on the same event: the same DynamoDB calls, in the same moto (bench/python_function.py).
    section[0] = "coldstart"
    python = load(work, "coldstart-python.json") or {}
    monitor = load(work, "coldstart-monitor.json") or {}
    p_ms, p_init = python.get("median_ms"), python.get("init_median_ms")
    g = "cold start: process start -> first response POST (local Runtime API), median"
    for function in FUNCTIONS:
        doc = load(work, f"coldstart-{function}.json") or {}
        ms = doc.get("median_ms")
        note = f"{doc.get('runs', 0)} starts; init (first /next) {doc.get('init_median_ms')} ms"
        if doc.get("killed_and_retried"):
            note += f"; {doc['killed_and_retried']} starts killed from outside (SIGKILL), retried"
        if doc.get("error_count"):
            note += f"; {doc['error_count']} failed starts: {doc['errors'][:1]}"
        if function == "monitor":
            ok = ms is not None and p_ms is not None and ms * 20 <= p_ms
            ratio = f"1/{p_ms / ms:.0f} of Python doing the same DynamoDB calls" if ms and p_ms else None
            row(
                g,
                "Rust monitor (release bootstrap): WorkflowCompleted, claim + ledger + completion in moto",
                ms,
                "ms",
                "<= 1/20 of Python",
                ok,
                note + (f"; {ratio}" if ratio else ""),
            )
        else:
            row(g, f"Rust {function} (release bootstrap)", ms, "ms", note=note)
    row(
        g,
        "Python (boto3 + pydantic): the same event, the monitor's DynamoDB calls in the same moto",
        p_ms,
        "ms",
        note=f"{python.get('runs', 0)} starts; {python.get('versions', '')}",
    )
    rust_calls, python_calls = monitor.get("dynamodb_calls"), python.get("dynamodb_calls")
    row(
        g,
        "DynamoDB calls of one start, Rust monitor / Python",
        f"{len(rust_calls)} / {len(python_calls)}" if rust_calls is not None and python_calls is not None else None,
        "",
        "the same calls",
        rust_calls is not None and rust_calls == python_calls,
        f"monitor: {', '.join(rust_calls or ['not recorded'])}; Python: {', '.join(python_calls or ['not recorded'])}",
    )
    init = monitor.get("init_median_ms")
    row(
        g,
        "Rust monitor, init only (start -> first GET /next)",
        init,
        "ms",
        note=f"1/{p_init / init:.0f} of Python's init" if init and p_init else "",
    )
    row(
        g,
        "Python, init only: import boto3 + pydantic, create the DynamoDB client",
        p_init,
        "ms",
        note="the rest of each figure is the invocation: parsing, the DynamoDB calls, the answer",
    )

    g = "per function"
    for function in FUNCTIONS:
        zip_path = os.path.join(repo, "target", "lambda", function, "bootstrap.zip")
        size = os.path.getsize(zip_path) if os.path.exists(zip_path) else None
        row(
            g,
            f"{function}: bootstrap.zip",
            size and round(size / MIB, 2),
            "MiB",
            "<= 4 MiB",
            size is not None and size <= 4 * MIB,
            f"{size:,} bytes" if size else "",
        )
    for function in FUNCTIONS:
        doc = load(work, f"coldstart-{function}.json") or {}
        kb = doc.get("peak_rss_kb_max")
        row(
            g,
            f"{function}: peak RSS, one invocation (VmHWM)",
            kb and round(kb * 1024 / 1e6, 1),
            "MB",
            "<= 24 MB",
            kb is not None and kb * 1024 <= 24e6,
            f"max of {doc.get('runs', 0)} starts",
        )

    # 4. In-memory workflows per second on one core.
    section[0] = "workflow"
    wf = load(work, "workflow.json") or {}
    g = "in-memory workflows (criterion, taskset -c 0)"
    median = wf.get("criterion_median_per_s")
    row(
        g,
        "workflows/s, criterion median",
        median and round(median),
        "/s",
        ">= 20,000/s",
        median is not None and median >= 20000,
    )
    row(g, "workflows/s, the bench's plain 1-second figure", wf.get("plain_per_s"), "/s")
    sim = load(work, "simulation.json") or {}
    seconds = sim.get("seconds")
    row(
        "simulation (alchemiser simulate, taskset -c 0)",
        "10,000 workflows under cloud faults, invariants checked",
        seconds,
        "s",
        "<= 60 s, 0 violations",
        None if seconds is None else (seconds <= 60 and sim.get("ok") is True),
        f"seed {sim.get('seed', '?')}" + ("" if sim.get("ok", True) else ": a violation, see simulation.log"),
    )

    # 4c. The operator console's pages (scripts/bench-console).
    section[0] = "console"
    console_rows(work, row)

    # 5. Clean scripts/test wall time (recorded by scripts/test itself).
    section[0] = "test"
    test = load(os.path.join(repo, "bench-results"), "test-wall-time.json")
    g = "scripts/test"
    if test:
        seconds = test.get("seconds")
        row(
            g,
            "clean scripts/test wall time",
            seconds and round(seconds / 60, 1),
            "min",
            "<= 25 min",
            seconds is not None and seconds <= 25 * 60,
            f"recorded {test.get('finished_at', '?')}, exit {test.get('exit_status', '?')}, "
            f"{test.get('cores', '?')} cores, mode {test.get('mode', '?')}",
        )
    else:
        row(
            g,
            "clean scripts/test wall time",
            None,
            "min",
            "<= 25 min",
            None,
            "not measured yet (scripts/test writes bench-results/test-wall-time.json)",
        )
        rows[-1]["verdict"] = "n/a"

    rows = [r for r in rows if r["section"] in only]
    document = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": load(work, "machine.json"),
        "rows": rows,
        "raw": {name[:-5]: load(work, name) for name in sorted(os.listdir(work)) if name.endswith(".json")},
    }
    with open(out_file, "w") as f:
        json.dump(document, f, indent=1)

    width = max(len(r["metric"]) for r in rows)
    group = None
    for r in rows:
        if r["group"] != group:
            group = r["group"]
            print(f"\n{group}")
        value = f"{r['shown']} {r['unit']}" if r["value"] is not None else r["shown"]
        print(f"  {r['metric']:<{width}}  {value:>16}  {r['target']:<18} {r['verdict']:<5} {r['note']}".rstrip())
    misses = [r for r in rows if r["verdict"] == "MISS"]
    print(f"\n{len(misses)} MISS, {sum(r['verdict'] == 'PASS' for r in rows)} PASS; JSON: {out_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
