#!/usr/bin/env python3
"""Steps 3-6 of the end-to-end test, on the e2e stack deployed to LocalStack with the real
release builds of the functions (run by scripts/test-e2e-deploy --real-artifacts).

    workflow.py --facts .local/e2e-deploy/facts.json --alchemiser target/debug/alchemiser

3. Routing proof: every deployed rule gets an extra SQS target (test only); the Rust publisher
   (`alchemiser publish --example TYPE`) sends one event of each type; each rule's queue receives
   exactly the event types its rule routes, no more, no less.
4. Whole workflow: the strategy function is invoked as the schedule would (async, a Scheduled
   Event); the rules invoke portfolio, execution and monitor -- real binaries, through the
   process executor -- until WorkflowCompleted arrives; one correlation id, each causation id its
   predecessor's event id; the paper account shows the trades.
   A handler failure: a permanent one lands in the DLQ with its reason; a transient one is
   retried by Lambda's async invoke config and then succeeds.
5. Duplicates: the RebalancePlanned delivered twice more; the paper broker still shows one set of
   orders, and no second TradeExecuted appears.
6. Bad input: malformed events reach the functions, are recorded in the DLQ with their reason,
   and a valid workflow published right after still runs.

Prints one line per proven statement; exits 1 at the first failure.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.emulators
from support import emulators  # noqa: E402 (needs the path above)
from support.emulators import (  # noqa: E402
    LOCALSTACK,
    MOTO,
    REGION,
    REPO,
    CheckFailed,
    check,
    client_environment,
    receive_json,
)

OBSERVER_TARGET_ID = "e2e-observer"


def client(service: str, endpoint: str = LOCALSTACK):
    return emulators.client(service, endpoint, retries={"max_attempts": 3})


class Queues:
    """SQS queues the test reads, with everything received so far (messages are deleted)."""

    def __init__(self, sqs):
        self.sqs = sqs
        self.urls: dict[str, str] = {}
        self.seen: dict[str, list[dict]] = {}

    def create(self, name: str) -> str:
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": arn,
                }
            ],
        }
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
        self.urls[name] = url
        self.seen[name] = []
        return arn

    def poll(self, name: str) -> list[dict]:
        url = self.urls[name]
        while True:
            bodies = receive_json(self.sqs, url)
            if not bodies:
                return self.seen[name]
            self.seen[name].extend(bodies)

    def wait_for(self, name: str, predicate, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for body in self.poll(name):
                if predicate(body):
                    return body
            time.sleep(0.5)
        raise CheckFailed(f"timed out after {timeout:.0f}s waiting for {what} on {name}")

    def reset(self) -> None:
        for name in self.urls:
            self.poll(name)
            self.seen[name] = []


class Stack:
    def __init__(self, facts: dict, alchemiser: str):
        self.facts = facts
        self.alchemiser = alchemiser
        self.bus = facts["bus_name"]
        self.events = client("events")
        self.lam = client("lambda")
        self.logs = client("logs")
        self.ddb = client("dynamodb", MOTO)
        self.queues = Queues(client("sqs"))
        self.dlq_url = facts["dlq_url"]
        self.dlq_seen: list[dict] = []
        self.sqs = client("sqs")
        self.paper = Path(facts["functions"]["execution"]["environment"]["PAPER_BROKER_STATE"])
        self.table = facts["table_name"]
        self.outbox = Path(os.environ.get("E2E_OUT", REPO / ".local/e2e-deploy")) / "publish-outbox.jsonl"

    # -- helpers
    def publish(self, *args: str) -> str:
        env = dict(
            os.environ,
            **client_environment(LOCALSTACK),
            EVENTBRIDGE_BUS_NAME=self.bus,
            EVENTBRIDGE_OUTBOX_PATH=str(self.outbox),
            USE_EVENTBRIDGE="true",
        )
        result = subprocess.run([self.alchemiser, "publish", *args], env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise CheckFailed(f"alchemiser publish {' '.join(args)} failed: {result.stderr[-800:]}")
        return result.stdout + result.stderr

    def put_raw(self, source: str, detail_type: str, detail: str) -> None:
        response = self.events.put_events(
            Entries=[{"EventBusName": self.bus, "Source": source, "DetailType": detail_type, "Detail": detail}]
        )
        check(response["FailedEntryCount"] == 0, f"raw PutEvents of a {detail_type} accepted by EventBridge", response)

    def reset_paper_account(self) -> None:
        self.paper.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "examples/portfolio.json", self.paper)

    def paper_orders(self) -> list[dict]:
        return json.loads(self.paper.read_text()).get("orders", [])

    def dlq_records(self, timeout: float, predicate, what: str) -> dict:
        """The first DLQ record matching `predicate`, among those read so far or arriving."""
        deadline = time.monotonic() + timeout
        while True:
            for body in self.dlq_seen:
                if predicate(body):
                    return body
            if time.monotonic() >= deadline:
                break
            self.dlq_seen.extend(receive_json(self.sqs, self.dlq_url, wait_seconds=1))
        raise CheckFailed(f"timed out waiting for {what} in the DLQ; saw {json.dumps(self.dlq_seen)[:1500]}")

    def function_log(self, handler: str, needle: str, timeout: float) -> list[str]:
        group = f"/aws/lambda/{self.facts['functions'][handler]['name']}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                found = [
                    e["message"]
                    for e in self.logs.filter_log_events(logGroupName=group).get("events", [])
                    if needle in e["message"]
                ]
            except self.logs.exceptions.ResourceNotFoundException:
                found = []
            if found:
                return found
            time.sleep(1)
        return []

    def record(self, key: str) -> dict | None:
        item = self.ddb.get_item(TableName=self.table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
        return item

    # -- steps
    def observe(self) -> None:
        """Adds the test-only SQS targets: one per deployed rule, and one rule seeing everything."""
        for event_type, rule in self.facts["rules"].items():
            arn = self.queues.create(f"e2e-route-{event_type}")
            self.events.put_targets(
                Rule=rule["name"], EventBusName=self.bus, Targets=[{"Id": OBSERVER_TARGET_ID, "Arn": arn}]
            )
        arn = self.queues.create("e2e-observer-all")
        self.events.put_rule(
            Name="e2e-observer-all",
            EventBusName=self.bus,
            State="ENABLED",
            EventPattern=json.dumps({"source": [{"prefix": "alchemiser."}]}),
        )
        self.events.put_targets(
            Rule="e2e-observer-all", EventBusName=self.bus, Targets=[{"Id": OBSERVER_TARGET_ID, "Arn": arn}]
        )
        # Drain anything left from an earlier run.
        self.sqs.purge_queue(QueueUrl=self.dlq_url)

    def unobserve(self) -> None:
        for rule in self.facts["rules"].values():
            self.events.remove_targets(Rule=rule["name"], EventBusName=self.bus, Ids=[OBSERVER_TARGET_ID])
        self.events.remove_targets(Rule="e2e-observer-all", EventBusName=self.bus, Ids=[OBSERVER_TARGET_ID])
        self.events.delete_rule(Name="e2e-observer-all", EventBusName=self.bus)
        for url in self.queues.urls.values():
            self.sqs.delete_queue(QueueUrl=url)

    def routing_proof(self) -> None:
        self.reset_paper_account()
        routes = json.loads((REPO / "lib/events/routes.json").read_text())["routes"]
        for route in routes:
            self.publish("--example", route["event_type"], "--count", "1")

        def sample(event_type):
            return lambda b: (
                b["detail-type"] == event_type and b["detail"].get("source_component") == "alchemiser-publish-example"
            )

        for route in routes:
            self.queues.wait_for(
                "e2e-observer-all", sample(route["event_type"]), 30, f"the sample {route['event_type']}"
            )
        for route in routes:
            if route["consumer"] is None:
                continue
            name = f"e2e-route-{route['event_type']}"
            body = self.queues.wait_for(name, sample(route["event_type"]), 30, f"the sample {route['event_type']}")
            check(
                body["source"] == route["source"]
                and body["resources"]
                == [f"correlation:{body['detail']['correlation_id']}", f"causation:{body['detail']['causation_id']}"],
                f"{route['event_type']} arrives with Source {route['source']} and correlation/causation Resources",
                body,
            )
            decoded = subprocess.run(
                [self.alchemiser, "validate", "-"], input=json.dumps(body), capture_output=True, text=True
            )
            check(
                decoded.returncode == 0 and f"valid {route['event_type']}" in decoded.stdout,
                f"{route['event_type']} as delivered decodes back with the Rust contract",
                decoded.stderr,
            )
        # The samples start chains of their own (a SignalGenerated is planned and executed): let
        # them finish, so every queue has seen all it will, before counting types.
        time.sleep(8)
        for route in routes:
            if route["consumer"] is None:
                continue
            name = f"e2e-route-{route['event_type']}"
            types = {b["detail-type"] for b in self.queues.poll(name)}
            check(
                types == {route["event_type"]},
                f"the {route['consumer']} rule for {route['event_type']} routed exactly that type",
                types,
            )
        routed = {
            t
            for name, bodies in self.queues.seen.items()
            if name != "e2e-observer-all"
            for t in (b["detail-type"] for b in bodies)
        }
        check("WorkflowStarted" not in routed, "WorkflowStarted reaches no rule (archive only)", routed)

    def whole_workflow(self) -> dict:
        self.reset_paper_account()
        self.queues.reset()
        tick = {
            "version": "0",
            "id": f"e2e-tick-{uuid.uuid4()}",
            "detail-type": "Scheduled Event",
            "source": "aws.scheduler",
            "account": "000000000000",
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [],
            "detail": {},
        }
        started = time.monotonic()
        response = self.lam.invoke(
            FunctionName=self.facts["functions"]["strategy"]["name"],
            InvocationType="Event",
            Payload=json.dumps(tick).encode(),
        )
        check(response["StatusCode"] == 202, "strategy invoked asynchronously, as the schedule does", response)
        completed = self.queues.wait_for(
            "e2e-observer-all",
            lambda b: (
                b["detail-type"] in ("WorkflowCompleted", "WorkflowFailed")
                and b["detail"].get("source_component") != "alchemiser-publish-example"
            ),
            120,
            "the workflow's outcome",
        )
        check(
            completed["detail-type"] == "WorkflowCompleted",
            "the workflow completed",
            completed["detail"].get("failure_reason"),
        )
        elapsed = time.monotonic() - started
        correlation = completed["detail"]["correlation_id"]
        chain = [
            b["detail"] for b in self.queues.poll("e2e-observer-all") if b["detail"]["correlation_id"] == correlation
        ]
        by_type = {d["event_type"]: d for d in chain}
        order = ["WorkflowStarted", "SignalGenerated", "RebalancePlanned", "TradeExecuted", "WorkflowCompleted"]
        check(
            sorted(by_type) == sorted(order) and len(chain) == len(order),
            f"one event of each step in {elapsed:.1f}s: {' -> '.join(order)}",
            [d["event_type"] for d in chain],
        )
        for cause, effect in itertools.pairwise(order):
            check(
                by_type[effect]["causation_id"] == by_type[cause]["event_id"],
                f"{effect}.causation_id is {cause}.event_id",
                (by_type[effect]["causation_id"], by_type[cause]["event_id"]),
            )
        check(len({d["correlation_id"] for d in chain}) == 1, f"one correlation id on every event ({correlation})")
        monitor_queue = self.queues.wait_for(
            "e2e-route-WorkflowCompleted",
            lambda b: b["detail"]["correlation_id"] == correlation,
            10,
            "WorkflowCompleted on the monitor rule's queue",
        )
        check(
            monitor_queue["detail"]["event_id"] == by_type["WorkflowCompleted"]["event_id"],
            "the monitor rule delivered WorkflowCompleted",
        )
        orders = self.paper_orders()
        check(
            len(orders) == 2 and {o["side"] for o in orders} == {"buy", "sell"},
            "the paper account shows one SELL and one BUY",
            orders,
        )
        key = f"monitor#{by_type['WorkflowCompleted']['event_id']}"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (self.record(key) or {}).get("status", {}).get("S") != "COMPLETED":
            time.sleep(0.5)
        check(
            (self.record(key) or {}).get("status", {}).get("S") == "COMPLETED",
            "the monitor function handled WorkflowCompleted (its idempotency record is COMPLETED)",
        )
        return by_type

    def duplicates(self, chain: dict) -> None:
        plan = chain["RebalancePlanned"]
        path = Path(os.environ.get("E2E_OUT", REPO / ".local/e2e-deploy")) / "rebalance-planned.json"
        path.write_text(json.dumps(plan))
        before = self.paper_orders()
        for _ in range(2):
            self.publish("--event", str(path))
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(lines) < 2:
            lines = [
                line for line in self.function_log("execution", "duplicate delivery", 2) if plan["event_id"] in line
            ]
        check(len(lines) >= 2, "execution saw both redeliveries and skipped them as duplicates", lines)
        trades = [
            b["detail"]["event_id"]
            for b in self.queues.poll("e2e-observer-all")
            if b["detail-type"] == "TradeExecuted" and b["detail"]["causation_id"] == plan["event_id"]
        ]
        check(
            trades == [chain["TradeExecuted"]["event_id"]],
            "the plan's only TradeExecuted is the first one: no second for the redeliveries",
            trades,
        )
        check(self.paper_orders() == before, "the paper broker still shows one set of orders", len(self.paper_orders()))

    def failures(self) -> None:
        signal = json.loads((REPO / "examples/events/SignalGenerated.eventbridge.json").read_text())["detail"]
        bad = copy.deepcopy(signal)
        bad["event_id"] = f"signal-generated-bad-{uuid.uuid4()}"
        bad["consolidated_portfolio"]["target_allocations"] = {"SPY": "0.6", "TLT": "0.3"}
        self.put_raw("alchemiser.strategy", "SignalGenerated", json.dumps(bad))
        self.put_raw("alchemiser.strategy", "SignalGenerated", json.dumps({"hello": "not an event"}))
        # A valid workflow right behind the bad events.
        self.reset_paper_account()
        self.publish("--example", "SignalGenerated", "--count", "1")
        record = self.dlq_records(
            60,
            lambda b: b.get("event_id") == bad["event_id"],
            "the permanent failure record of the bad SignalGenerated",
        )
        check(
            record["function"] == "portfolio"
            and record["error_class"] == "permanent"
            and "must sum to 1" in record["reason"]
            and record["event"]["detail"]["event_id"] == bad["event_id"],
            "a permanent failure lands in the DLQ with its reason and the event",
            record["reason"],
        )
        junk = self.dlq_records(
            60,
            lambda b: b.get("function") == "portfolio" and "event_type" in b.get("reason", ""),
            "the record of the event that is not an event",
        )
        check("missing" in junk["reason"], "malformed input is recorded in the DLQ with its reason", junk["reason"])
        self.queues.wait_for(
            "e2e-observer-all",
            lambda b: (
                b["detail-type"] == "WorkflowCompleted"
                and b["detail"].get("source_component") != "alchemiser-publish-example"
            ),
            90,
            "the outcome of the valid workflow published after the bad events",
        )
        check(True, "the valid workflow behind the bad events still ran to WorkflowCompleted")

        # Transient: the event is claimed IN_PROGRESS by a (pretend) other invocation whose claim
        # lapses in 2 s; the first attempt fails transiently and Lambda's async retry succeeds.
        failed = workflow_failed_detail()
        key = f"monitor#{failed['event_id']}"
        lapse = int(time.time()) + 2
        self.ddb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": key},
                "status": {"S": "IN_PROGRESS"},
                "in_progress_expires_at": {"N": str(lapse)},
                "expires_at": {"N": str(lapse + 3600)},
            },
        )
        self.put_raw("alchemiser.execution", "WorkflowFailed", json.dumps(failed))
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and (self.record(key) or {}).get("status", {}).get("S") != "COMPLETED":
            time.sleep(0.5)
        check(
            (self.record(key) or {}).get("status", {}).get("S") == "COMPLETED",
            "after a transient failure, Lambda's async retry handled the event",
        )
        transient = [
            line
            for line in self.function_log("monitor", "being handled by another invocation", 10)
            if failed["event_id"] in line
        ]
        check(
            len(transient) >= 1, f"the first attempt failed transiently ({len(transient)} transient attempt(s) logged)"
        )


def workflow_failed_detail() -> dict:
    """A fresh, valid WorkflowFailed detail (the contract's rules, written out)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "correlation_id": f"workflow-e2e-{uuid.uuid4()}",
        "causation_id": f"trade-executed-{uuid.uuid4()}",
        "event_id": f"workflow-failed-{uuid.uuid4()}",
        "event_type": "WorkflowFailed",
        "timestamp": now,
        "source_module": "execution",
        "metadata": {},
        "schema_version": "1.0",
        "workflow_type": "trading",
        "failure_reason": "e2e: a made-up failure to record",
        "failure_step": "execution",
        "error_details": {},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--facts", type=Path, required=True)
    parser.add_argument("--alchemiser", required=True, help="path to the alchemiser binary")
    args = parser.parse_args()
    stack = Stack(json.loads(args.facts.read_text()), args.alchemiser)
    stack.observe()
    try:
        print("-- step 3: routing proof", flush=True)
        stack.routing_proof()
        print("-- step 4: whole workflow over LocalStack", flush=True)
        chain = stack.whole_workflow()
        print("-- step 5: duplicates", flush=True)
        stack.duplicates(chain)
        print("-- step 4/6: handler failures and bad input", flush=True)
        stack.failures()
    except CheckFailed as failure:
        print(f"FAIL  {failure}", flush=True)
        return 1
    finally:
        stack.unobserve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
