"""boto3 side of the publisher benchmark, the rule-to-SQS set-up (run by scripts/bench) and the
dead-letter queue of the redrive benchmark (run by scripts/bench-latency).

  boto3_publisher.py bench SAMPLES [--modes single,batched] [--json FILE] [--endpoint URL]
                     [--bus NAME]
      Publishes every entry of SAMPLES (JSON lines with Source, DetailType, Detail, Resources, as
      written by `bench_publisher --samples-out`) to a fresh bus without rules: one entry per
      PutEvents (the Python system's way) and/or 10 entries per PutEvents, sequentially (as a
      Python user writes it), one boto3 client, default botocore settings. The bus is deleted
      afterwards. --endpoint: the EventBridge endpoint (default LocalStack's; e.g. the fake one of
      bench/fake_eventbridge.py); --bus NAME: publish to this bus, neither created nor deleted.
  boto3_publisher.py rule-setup            -> JSON {bus, rule, queue_url}: a bus with a rule that
                                              delivers every alchemiser.* event to a fresh SQS queue
  boto3_publisher.py rule-count QUEUE_URL N [--timeout S]
                                           -> JSON {messages, waited_s}: waits until QUEUE holds N
  boto3_publisher.py rule-teardown BUS RULE QUEUE_URL
  boto3_publisher.py dlq-fill ENVELOPE N   -> JSON {queue_url, messages}: a fresh SQS queue holding N
                                              dead letters as an EventBridge rule's DLQ holds them:
                                              the body ENVELOPE (an EventBridge event) with a fresh
                                              `id` and `detail.event_id` each, and the String
                                              attributes ERROR_CODE, ERROR_MESSAGE, RULE_ARN, TARGET_ARN
  boto3_publisher.py queue-depth QUEUE_URL -> JSON {messages}: visible + in flight
  boto3_publisher.py queue-delete QUEUE_URL

Endpoint: LOCALSTACK_ENDPOINT (default http://127.0.0.1:4566), or bench's --endpoint; credentials test/test, us-east-1
(tests/support/emulators.py). The clients keep botocore's default settings, as the Python system's.
"""

import argparse
import copy
import json
import os
import sys
import time
import uuid

import boto3

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))  # for support.emulators
from support.emulators import LOCALSTACK, client  # noqa: E402 (needs the path above)


def put_all(events, entries, bus, batch):
    failed = 0
    for start in range(0, len(entries), batch):
        chunk = [dict(entry, EventBusName=bus) for entry in entries[start : start + batch]]
        failed += events.put_events(Entries=chunk).get("FailedEntryCount", 0)
    return failed


def bench(args):
    with open(args.samples) as f:
        entries = [json.loads(line) for line in f if line.strip()]
    events = client("events", args.endpoint)
    bus = args.bus or f"alchemiser-bench-py-{uuid.uuid4().hex[:8]}"
    if not args.bus:
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
                    "requests": -(-len(entries) // batch),
                }
            )
    finally:
        if not args.bus:
            events.delete_event_bus(Name=bus)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"bus": bus, "endpoint": args.endpoint, "boto3": boto3.__version__, "results": results}, f)
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


def dlq_fill(args):
    with open(args.envelope) as f:
        template = json.load(f)
    sqs = client("sqs")
    suffix = uuid.uuid4().hex[:8]
    queue_url = sqs.create_queue(QueueName=f"alchemiser-bench-dlq-{suffix}")["QueueUrl"]
    bus = "alchemiser-trading-events-bench"  # the bus of stage `bench`
    attributes = {
        "ERROR_CODE": "SDK_CLIENT_ERROR",
        "ERROR_MESSAGE": "Unable to invoke Lambda (bench dead letter)",
        "RULE_ARN": f"arn:aws:events:us-east-1:000000000000:rule/{bus}/alchemiser-bench-portfolio",
        "TARGET_ARN": "arn:aws:lambda:us-east-1:000000000000:function:alchemiser-portfolio-bench",
    }
    message_attributes = {name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()}
    for start in range(0, args.n, 10):
        entries = []
        for i in range(start, min(args.n, start + 10)):
            event = copy.deepcopy(template)
            event["id"] = str(uuid.uuid4())
            event["detail"]["event_id"] = str(uuid.uuid4())
            entries.append({"Id": str(i), "MessageBody": json.dumps(event), "MessageAttributes": message_attributes})
        failed = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed", [])
        if failed:
            print(f"dlq-fill: {len(failed)} messages not sent: {failed[:1]}", file=sys.stderr)
            return 1
    print(json.dumps({"queue_url": queue_url, "messages": args.n}))
    return 0


def queue_depth(args):
    attributes = client("sqs").get_queue_attributes(
        QueueUrl=args.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    count = int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
    print(json.dumps({"messages": count}))
    return 0


def queue_delete(args):
    client("sqs").delete_queue(QueueUrl=args.queue_url)
    return 0


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("bench")
    p.add_argument("samples")
    p.add_argument("--modes", default="single,batched")
    p.add_argument("--json")
    p.add_argument("--endpoint", default=LOCALSTACK, help="EventBridge endpoint (default: LocalStack's)")
    p.add_argument("--bus", help="publish to this existing bus (not created, not deleted)")
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
    p = sub.add_parser("dlq-fill")
    p.add_argument("envelope")
    p.add_argument("n", type=int)
    p.set_defaults(run=dlq_fill)
    p = sub.add_parser("queue-depth")
    p.add_argument("queue_url")
    p.set_defaults(run=queue_depth)
    p = sub.add_parser("queue-delete")
    p.add_argument("queue_url")
    p.set_defaults(run=queue_delete)
    args = parser.parse_args()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
