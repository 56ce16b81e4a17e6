"""boto3 side of the publisher benchmark, and the rule-to-SQS set-up (run by scripts/bench).

  boto3_publisher.py bench SAMPLES [--modes single,batched] [--json FILE]
      Publishes every entry of SAMPLES (JSON lines with Source, DetailType, Detail, Resources, as
      written by `bench_publisher --samples-out`) to a fresh bus without rules: one entry per
      PutEvents (the Python system's way) and/or 10 entries per PutEvents, sequentially, one
      boto3 client, default botocore settings. The bus is deleted afterwards.
  boto3_publisher.py rule-setup            -> JSON {bus, rule, queue_url}: a bus with a rule that
                                              delivers every alchemiser.* event to a fresh SQS queue
  boto3_publisher.py rule-count QUEUE_URL N [--timeout S]
                                           -> JSON {messages, waited_s}: waits until QUEUE holds N
  boto3_publisher.py rule-teardown BUS RULE QUEUE_URL

Endpoint: LOCALSTACK_ENDPOINT (default http://127.0.0.1:4566); credentials test/test, us-east-1
(tests/support/emulators.py). The clients keep botocore's default settings, as the Python system's.
"""

import argparse
import json
import os
import sys
import time
import uuid

import boto3

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))  # for support.emulators
from support.emulators import client  # noqa: E402 (needs the path above)


def put_all(events, entries, bus, batch):
    failed = 0
    for start in range(0, len(entries), batch):
        chunk = [dict(entry, EventBusName=bus) for entry in entries[start : start + batch]]
        failed += events.put_events(Entries=chunk).get("FailedEntryCount", 0)
    return failed


def bench(args):
    with open(args.samples) as f:
        entries = [json.loads(line) for line in f if line.strip()]
    events = client("events")
    bus = f"alchemiser-bench-py-{uuid.uuid4().hex[:8]}"
    events.create_event_bus(Name=bus)
    results = []
    try:
        for mode in args.modes.split(","):
            batch = {"single": 1, "batched": 10}[mode]
            put_all(events, entries[:1], bus, 1)  # warm-up: connection, credentials, endpoint
            started = time.perf_counter()
            failed = put_all(events, entries, bus, batch)
            seconds = time.perf_counter() - started
            delivered = len(entries) - failed
            rate = delivered / seconds
            label = "one entry per PutEvents" if batch == 1 else f"batched ({batch} per PutEvents)"
            print(f"boto3 {label:<28} delivered={delivered} failed={failed} in {seconds:.2f}s ({rate:.0f} events/s)")
            results.append(
                {
                    "mode": mode,
                    "batch_size": batch,
                    "events": len(entries),
                    "delivered": delivered,
                    "failed": failed,
                    "seconds": seconds,
                    "events_per_s": rate,
                }
            )
    finally:
        events.delete_event_bus(Name=bus)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"bus": bus, "boto3": boto3.__version__, "results": results}, f)
    return 0 if all(r["failed"] == 0 for r in results) else 1


def rule_setup(_args):
    suffix = uuid.uuid4().hex[:8]
    bus, rule = f"alchemiser-bench-rule-{suffix}", f"alchemiser-bench-all-{suffix}"
    events, sqs = client("events"), client("sqs")
    events.create_event_bus(Name=bus)
    queue_url = sqs.create_queue(QueueName=f"alchemiser-bench-{suffix}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name=rule, EventBusName=bus, State="ENABLED", EventPattern=json.dumps({"source": [{"prefix": "alchemiser."}]})
    )
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
    print(json.dumps({"bus": bus, "rule": rule, "queue_url": queue_url}))
    return 0


def rule_count(args):
    sqs = client("sqs")
    started = time.perf_counter()
    count = 0
    while True:
        attributes = sqs.get_queue_attributes(
            QueueUrl=args.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        count = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
        if count >= args.n or time.perf_counter() - started > args.timeout:
            break
        time.sleep(0.2)
    print(json.dumps({"messages": count, "waited_s": round(time.perf_counter() - started, 3)}))
    return 0 if count >= args.n else 1


def rule_teardown(args):
    events, sqs = client("events"), client("sqs")
    for step in (
        lambda: events.remove_targets(Rule=args.rule, EventBusName=args.bus, Ids=["queue"]),
        lambda: events.delete_rule(Name=args.rule, EventBusName=args.bus),
        lambda: events.delete_event_bus(Name=args.bus),
        lambda: sqs.delete_queue(QueueUrl=args.queue_url),
    ):
        try:
            step()
        except Exception as error:  # best effort: report and go on
            print(f"teardown: {error}", file=sys.stderr)
    return 0


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("bench")
    p.add_argument("samples")
    p.add_argument("--modes", default="single,batched")
    p.add_argument("--json")
    p.set_defaults(run=bench)
    p = sub.add_parser("rule-setup")
    p.set_defaults(run=rule_setup)
    p = sub.add_parser("rule-count")
    p.add_argument("queue_url")
    p.add_argument("n", type=int)
    p.add_argument("--timeout", type=float, default=60)
    p.set_defaults(run=rule_count)
    p = sub.add_parser("rule-teardown")
    p.add_argument("bus")
    p.add_argument("rule")
    p.add_argument("queue_url")
    p.set_defaults(run=rule_teardown)
    args = parser.parse_args()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
