#!/usr/bin/env python3
"""The end-to-end steps on a stack deployed to LocalStack with the real release builds of the
functions (run by scripts/test-e2e-deploy --real-artifacts), in two phases chosen by the stage's
owners (read from the deployed functions' ALCHEMISER_MODE and rules):

    workflow.py --facts .local/e2e-deploy/facts.json --alchemiser target/debug/alchemiser

Every consumer Rust-owned (stage e2e):
3. Routing proof: every deployed rule (one per consuming function) gets an extra SQS target
   (test only); one sample of each type from the Rust publisher and every event of
   examples/python/ with the Python system's own sources are published; each rule's queue
   receives exactly the types and sources its function consumes, each event as it was written.
4. Whole workflow: the strategy function is invoked asynchronously (a manual start: a scheduled
   tick is judged by the broker's calendar, and the e2e paper account's calendar runs at 23:45
   UTC, so a tick now starts nothing and says so in the log); the rules invoke
   portfolio, execution and monitor until WorkflowCompleted; one correlation id, each causation
   id its predecessor's event id; the paper account shows the trades; the ledger
   (`alchemiser workflows show/list`) holds the workflow's events in causal order with timings.
   A plan published with the Python portfolio's source is traded by the Rust execution.
   Kill switch: `alchemiser halt` halts the stage; a workflow started then places no order (the
   paper account's order log unchanged) and fails with WorkflowFailed check `halted` naming the
   reason; `alchemiser halt --history` shows who halted and why; `alchemiser resume`: the next
   workflow trades.
5. Duplicates: the RebalancePlanned delivered twice more; one set of orders, one TradeExecuted.
6. Failures: a permanent failure in the portfolio stage lands in the DLQ with its reason,
   publishes WorkflowFailed (source alchemiser.portfolio) and shows in the ledger; malformed
   input is recorded; a transient failure is retried by Lambda and then succeeds.

Beside the Python system (stage e2e-mix: strategy and execution owned by Python, portfolio in
shadow, a one-minute workflow deadline; the stage accepts the Python strategy's and execution's
unsigned events, and no other):
7. The Python-owned execution receives nothing: a plan is published, no execution runs.
8. The shadow portfolio plans the Python strategy's signal, publishes nothing live, records its
   plan in the ledger; `alchemiser shadow diff` reports a match for an identical Python plan and
   a mismatch for a changed one.
9. Those workflows never execute (Python owns execution and no Python runs here): the sweep
   times them out and publishes WorkflowFailed naming the last step.

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
from decimal import Decimal
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


EXAMPLE_SIGNAL = REPO / "examples/events/SignalGenerated.eventbridge.json"
PYTHON_EVENTS = REPO / "examples/python"
MONITOR_QUEUE = "e2e-rule-monitor"
EVERYTHING = "e2e-observer-all"


def now_wire() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Stack:
    def __init__(self, facts: dict, alchemiser: str, out: Path):
        self.facts = facts
        self.alchemiser = alchemiser
        self.out = out
        self.stage = facts["bus_name"].removeprefix("alchemiser-trading-events-")
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
        self.outbox = out / "publish-outbox.jsonl"

    def mode(self, handler: str) -> str:
        return self.facts["functions"][handler]["environment"].get("ALCHEMISER_MODE", "live")

    def beside_python(self) -> bool:
        """Whether this stage shares the bus with the Python system (some consumer not Rust-owned)."""
        return any(self.mode(h) == "shadow" for h in self.facts["functions"]) or "execution" not in self.facts["rules"]

    # -- helpers
    def cli(
        self, *args: str, ok_codes: tuple[int, ...] = (0,), stdin: str | None = None
    ) -> subprocess.CompletedProcess:
        env = dict(
            os.environ,
            **client_environment(LOCALSTACK),
            AWS_ENDPOINT_URL_DYNAMODB=MOTO,
            EVENTBRIDGE_BUS_NAME=self.bus,
            EVENTBRIDGE_OUTBOX_PATH=str(self.outbox),
            USE_EVENTBRIDGE="true",
        )
        result = subprocess.run([self.alchemiser, *args], env=env, capture_output=True, text=True, input=stdin)
        if result.returncode not in ok_codes:
            raise CheckFailed(f"alchemiser {' '.join(args)} exited {result.returncode}: {result.stderr[-1200:]}")
        return result

    def publish(self, *args: str) -> str:
        result = self.cli("publish", *args)
        return result.stdout + result.stderr

    def publish_envelope(self, detail: dict, source: str, signer: str | None = None) -> None:
        """Publishes `detail` under `source`, as its producer would (the CLI keeps an envelope's
        source); signed with the stage's key of `signer` when one is named."""
        if signer is not None:
            detail = self.sign(detail, signer)
        envelope = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail["event_type"],
            "source": source,
            "account": "000000000000",
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [f"correlation:{detail['correlation_id']}", f"causation:{detail['causation_id']}"],
            "detail": detail,
        }
        path = self.out / f"publish-{detail['event_id']}.json"
        path.write_text(json.dumps(envelope))
        self.publish("--event", str(path))

    def sign(self, event: dict, signer: str) -> dict:
        """`event` (a detail or an envelope) signed with the stage's key of `signer`, as that
        producer's function signs (`alchemiser sign`; LocalStack does not enforce the key policy
        that keeps everyone but the producer's role from the key on AWS)."""
        result = self.cli("sign", "-", "--as", signer, "--stage", self.stage, stdin=json.dumps(event))
        return json.loads(result.stdout)

    def put_signed(self, signer: str, detail: dict) -> dict:
        """Puts `detail` on the bus as its producer `signer` would: signed, from `alchemiser.<signer>`."""
        signed = self.sign(detail, signer)
        self.put_raw(f"alchemiser.{signer}", detail["event_type"], json.dumps(signed))
        return signed

    def invoke(self, handler: str, payload: dict) -> dict:
        """Invokes `handler`'s function directly and synchronously, as anyone allowed
        lambda:InvokeFunction can: its answer."""
        response = self.lam.invoke(
            FunctionName=self.facts["functions"][handler]["name"],
            InvocationType="RequestResponse",
            Payload=json.dumps(payload).encode(),
        )
        return json.loads(response["Payload"].read() or b"{}")

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

    def python_signal(self) -> dict:
        """A fresh SignalGenerated as the Python strategy writes it (its nested correlation id is
        its own `signal_handler_<time>` label, as in real traffic)."""
        signal = json.loads(EXAMPLE_SIGNAL.read_text())["detail"]
        correlation = f"workflow-e2e-{uuid.uuid4()}"
        signal.update(
            correlation_id=correlation,
            causation_id=correlation,
            event_id=f"signal-generated-{uuid.uuid4()}",
            timestamp=now_wire(),
            source_module="strategy_v2.handlers",
        )
        signal["consolidated_portfolio"]["correlation_id"] = datetime.now(UTC).strftime("signal_handler_%Y%m%d_%H%M%S")
        signal["consolidated_portfolio"]["timestamp"] = now_wire()
        return signal

    def python_plan(self, signal: dict) -> dict:
        """The plan the Python portfolio stage publishes for `signal` and the paper account as it is:
        planned here by the same planner (the Rust planner equals the Python one item for item,
        lib/trading/tests/python_parity.rs), written under the Python module's name and ids."""
        signal_path = self.out / f"signal-{signal['event_id']}.json"
        signal_path.write_text(json.dumps(signal))
        account = self.out / "account-for-planning.json"
        shutil.copy(self.paper, account)
        result = self.cli("invoke", "portfolio", "--event", str(signal_path), "--portfolio", str(account), "--json")
        plans = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        plans = [p for p in plans if p["event_type"] == "RebalancePlanned"]
        check(len(plans) == 1, "the signal plans locally (alchemiser invoke portfolio)", result.stderr[-500:])
        plan = plans[0]
        plan["event_id"] = f"rebalance-planned-{uuid.uuid4()}"
        plan["source_module"] = "portfolio_v2.handlers"
        plan["source_component"] = "PortfolioAnalysisHandler"
        plan["metadata"] = {"analysis_timestamp": now_wire(), "source": "event_driven_handler"}
        plan["rebalance_plan"]["plan_id"] = f"portfolio_v2_{signal['correlation_id']}_{int(time.time())}"
        return plan

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
        return self.ddb.get_item(TableName=self.table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")

    def wait_record_completed(self, key: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (self.record(key) or {}).get("status", {}).get("S") == "COMPLETED":
                return True
            time.sleep(0.5)
        return False

    def ledger(self, correlation_id: str) -> dict | None:
        """`alchemiser workflows show ID --json`: the summary and every entry, or None before the first."""
        result = self.cli("workflows", "show", correlation_id, "--stage", self.stage, "--json", ok_codes=(0, 1))
        return json.loads(result.stdout) if result.returncode == 0 else None

    def wait_ledger(self, correlation_id: str, predicate, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        shown = None
        while time.monotonic() < deadline:
            shown = self.ledger(correlation_id)
            if shown is not None and predicate(shown):
                return shown
            time.sleep(1)
        raise CheckFailed(f"timed out waiting for {what} in the ledger of {correlation_id}: {json.dumps(shown)[:1500]}")

    # -- set-up
    def observe(self) -> None:
        """Adds the test-only SQS targets: one per deployed rule, and one rule seeing everything."""
        for handler, rule in self.facts["rules"].items():
            arn = self.queues.create(f"e2e-rule-{handler}")
            self.events.put_targets(
                Rule=rule["name"], EventBusName=self.bus, Targets=[{"Id": OBSERVER_TARGET_ID, "Arn": arn}]
            )
        arn = self.queues.create(EVERYTHING)
        self.events.put_rule(
            Name=EVERYTHING,
            EventBusName=self.bus,
            State="ENABLED",
            EventPattern=json.dumps({"source": [{"prefix": "alchemiser."}]}),
        )
        self.events.put_targets(
            Rule=EVERYTHING, EventBusName=self.bus, Targets=[{"Id": OBSERVER_TARGET_ID, "Arn": arn}]
        )
        # Drain anything left from an earlier run.
        self.sqs.purge_queue(QueueUrl=self.dlq_url)

    def unobserve(self) -> None:
        for rule in self.facts["rules"].values():
            self.events.remove_targets(Rule=rule["name"], EventBusName=self.bus, Ids=[OBSERVER_TARGET_ID])
        self.events.remove_targets(Rule=EVERYTHING, EventBusName=self.bus, Ids=[OBSERVER_TARGET_ID])
        self.events.delete_rule(Name=EVERYTHING, EventBusName=self.bus)
        for url in self.queues.urls.values():
            self.sqs.delete_queue(QueueUrl=url)

    # -- phase 1: every consumer Rust-owned
    def routing_proof(self) -> None:
        self.reset_paper_account()
        routes = json.loads((REPO / "lib/events/routes.json").read_text())["routes"]
        for route in routes:
            self.publish("--example", route["event_type"], "--count", "1")
        entries = json.loads((PYTHON_EVENTS / "putevents-entries.json").read_text())
        python_ids = {}
        for name, entry in entries.items():
            if "replayed" in name:
                continue
            envelope = json.loads((PYTHON_EVENTS / name).read_text())
            detail = envelope["detail"] if isinstance(envelope["detail"], dict) else json.loads(envelope["detail"])
            python_ids[detail["event_id"]] = (entry["DetailType"], entry["Source"], detail)
            self.publish("--event", str(PYTHON_EVENTS / name))

        def sample(event_type):
            return lambda b: (
                b["detail-type"] == event_type and b["detail"].get("source_component") == "alchemiser-publish-example"
            )

        for route in routes:
            for consumer in route["consumers"]:
                self.queues.wait_for(
                    f"e2e-rule-{consumer}", sample(route["event_type"]), 30, f"the sample {route['event_type']}"
                )
        # A stage routes the Python system's sources only to consumers whose producer Python owns
        # there (its rules' sources); elsewhere a Python event reaches no consumer at all.
        unrouted = []
        for event_id, (detail_type, source, detail) in python_ids.items():
            route = next(r for r in routes if r["event_type"] == detail_type)
            for consumer in route["consumers"]:
                if source not in self.facts["rules"][consumer]["sources"]:
                    unrouted.append((consumer, event_id, detail_type, source))
                    continue
                body = self.queues.wait_for(
                    f"e2e-rule-{consumer}",
                    lambda b, i=event_id: b["detail"].get("event_id") == i,
                    30,
                    f"the Python {detail_type} {event_id}",
                )
                check(
                    body["source"] == source and body["detail"] == detail,
                    f"the Python system's {detail_type} reaches the Rust {consumer} under {source}, as it was written",
                    (body["source"], body["detail"] == detail),
                )
        if unrouted:
            time.sleep(3)
            arrived = [
                (consumer, detail_type, source)
                for consumer, event_id, detail_type, source in unrouted
                if any(b["detail"].get("event_id") == event_id for b in self.queues.poll(f"e2e-rule-{consumer}"))
            ]
            check(
                not arrived,
                f"no Python event reaches a consumer whose producer Python does not own on {self.stage} "
                f"({len(unrouted)} deliveries that must not happen)",
                arrived,
            )
        rust = next(r for r in routes if r["event_type"] == "RebalancePlanned")
        body = self.queues.wait_for("e2e-rule-execution", sample("RebalancePlanned"), 5, "the sample plan")
        check(
            body["source"] == rust["producers"][0]["source"]
            and body["resources"]
            == [f"correlation:{body['detail']['correlation_id']}", f"causation:{body['detail']['causation_id']}"],
            "the Rust RebalancePlanned arrives with Source alchemiser.portfolio and correlation/causation Resources",
            body,
        )
        decoded = subprocess.run(
            [self.alchemiser, "validate", "-"], input=json.dumps(body), capture_output=True, text=True
        )
        check(decoded.returncode == 0, "the plan as delivered decodes back with the Rust contract", decoded.stderr)
        # The samples are unsigned: on a stage that takes no unsigned event every consumer refuses
        # them (a `refused` dead letter), and the sample plan is never traded.
        if not self.facts["functions"]["execution"]["environment"].get("UNSIGNED_SOURCES"):
            refused = self.dlq_records(
                60,
                lambda b: (
                    b.get("function") == "execution"
                    and b.get("event_id") == body["detail"]["event_id"]
                    and b.get("error_class") == "refused"
                ),
                "execution's refusal of the unsigned sample plan",
            )
            check(
                "unsigned" in refused["reason"] and not self.paper_orders(),
                "the unsigned sample plan is refused by execution, recorded as a refused dead letter, never traded",
                (refused["reason"], self.paper_orders()),
            )
        for handler, rule in self.facts["rules"].items():
            bodies = self.queues.poll(f"e2e-rule-{handler}")
            pairs = {(b["detail-type"], b["source"]) for b in bodies}
            allowed = {(t, src) for t in rule["event_types"] for src in rule["sources"]}
            check(
                pairs <= allowed and {t for t, _ in pairs} == set(rule["event_types"]),
                f"the {handler} rule delivered exactly its types {rule['event_types']} from its producers' sources",
                sorted(pairs - allowed),
            )

    def start_workflow(self) -> dict:
        """Invokes the strategy asynchronously with a manual start (as a person, or the runbooks,
        would) and waits for the workflow's outcome: WorkflowCompleted or WorkflowFailed."""
        seen = self.workflows_started()
        response = self.lam.invoke(
            FunctionName=self.facts["functions"]["strategy"]["name"],
            InvocationType="Event",
            Payload=json.dumps({"requested_by": f"e2e-{uuid.uuid4()}"}).encode(),
        )
        check(response["StatusCode"] == 202, "strategy invoked asynchronously", response)
        return self.strategy_run_outcome(seen)

    def workflows_started(self) -> set[str]:
        """The workflows whose WorkflowStarted the observer rule has delivered so far."""
        return {
            b["detail"]["correlation_id"] for b in self.queues.poll(EVERYTHING) if b["detail-type"] == "WorkflowStarted"
        }

    def strategy_run_outcome(self, seen: set[str] | None = None) -> dict:
        """After the strategy was invoked: the outcome (WorkflowCompleted or WorkflowFailed) of the
        workflow its WorkflowStarted named (the first not in `seen`), as the observer rule saw it."""
        seen = seen or set()
        started_event = self.queues.wait_for(
            EVERYTHING,
            lambda b: (
                b["detail-type"] == "WorkflowStarted"
                and b["source"] == "alchemiser.strategy"
                and b["detail"]["correlation_id"] not in seen
            ),
            60,
            "the strategy's WorkflowStarted",
        )
        workflow = started_event["detail"]["correlation_id"]
        return self.queues.wait_for(
            EVERYTHING,
            lambda b: (
                b["detail-type"] in ("WorkflowCompleted", "WorkflowFailed")
                and b["detail"]["correlation_id"] == workflow
            ),
            120,
            "the workflow's outcome",
        )

    def scheduled_tick_follows_the_calendar(self) -> None:
        """A scheduled tick that is not today's run time starts no workflow and says why."""
        now = datetime.now(UTC)
        # The e2e paper account trades around the clock: its day closes at midnight UTC and the
        # run is at 23:45 UTC (STRATEGY_RUN_AT's default); a tick in that window would run.
        if now.hour == 23 and now.minute >= 43:
            print("skip  the scheduled tick check (it is the e2e calendar's run time)", flush=True)
            return
        response = self.lam.invoke(
            FunctionName=self.facts["functions"]["strategy"]["name"],
            InvocationType="RequestResponse",
            Payload=json.dumps(scheduler_tick("e2e-tick")).encode(),
        )
        answer = json.loads(response["Payload"].read() or b"{}")
        check(
            answer.get("status") == "handled" and answer.get("emitted") == [],
            "a scheduled tick outside today's run time starts no workflow",
            answer,
        )
        lines = self.function_log("strategy", "not today's run time", 30)
        check(bool(lines), "... and the strategy's log says why (not today's run time)", lines[-1:])

    def whole_workflow(self) -> dict:
        self.reset_paper_account()
        self.queues.reset()
        self.scheduled_tick_follows_the_calendar()
        started = time.monotonic()
        completed = self.start_workflow()
        check(
            completed["detail-type"] == "WorkflowCompleted",
            "the workflow completed",
            completed["detail"].get("failure_reason"),
        )
        elapsed = time.monotonic() - started
        correlation = completed["detail"]["correlation_id"]
        chain = [b["detail"] for b in self.queues.poll(EVERYTHING) if b["detail"]["correlation_id"] == correlation]
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
        for event_type in order:
            self.queues.wait_for(
                MONITOR_QUEUE,
                lambda b, t=event_type: b["detail"]["event_id"] == by_type[t]["event_id"],
                15,
                f"{event_type} on the monitor rule's queue",
            )
        check(True, "the monitor rule delivered every event of the workflow, WorkflowStarted included")
        orders = self.paper_orders()
        check(
            len(orders) == 2 and {o["side"] for o in orders} == {"buy", "sell"},
            "the paper account shows one SELL and one BUY",
            orders,
        )
        shown = self.wait_ledger(
            correlation,
            lambda s: s["summary"]["state"] == "completed" and s["summary"]["entries"] >= len(order),
            30,
            "the completed workflow",
        )
        # As `workflows show --json` lists them: in causal order (the strategy's two events share
        # one timestamp, so time alone cannot order them).
        recorded = [e for e in shown["entries"] if e["kind"] == "event"]
        check(
            [e["event_type"] for e in recorded] == order and all(e.get("recorded_at") for e in recorded),
            "the ledger holds the workflow's events in causal order, each with its time and when it was recorded",
            [e["event_type"] for e in recorded],
        )
        tree = self.cli("workflows", "show", correlation, "--stage", self.stage).stdout
        check(
            "completed" in tree and "└─ WorkflowCompleted" in tree and "after its cause" in tree,
            "`alchemiser workflows show` prints the causation tree with timings",
            tree,
        )
        mermaid = self.cli("workflows", "show", correlation, "--stage", self.stage, "--mermaid").stdout
        check(
            mermaid.startswith("sequenceDiagram"), "`workflows show --mermaid` writes a sequence diagram", mermaid[:200]
        )
        listed = [
            json.loads(line)
            for line in self.cli("workflows", "list", "--stage", self.stage, "--json").stdout.splitlines()
        ]
        check(
            any(s["correlation_id"] == correlation and s["state"] == "completed" for s in listed),
            "`alchemiser workflows list` shows it completed",
            [s["correlation_id"] for s in listed],
        )
        return by_type

    def halt_and_resume(self) -> None:
        """`alchemiser halt`: a workflow places no order and fails naming the halt; `resume`: the next trades."""
        reason = f"e2e: halted by the end-to-end test {uuid.uuid4()}"
        halted = self.cli("halt", "--stage", self.stage, "--reason", reason).stdout
        check(reason in halted, "`alchemiser halt` halts the stage", halted)
        # Execution keeps the switch 5 s: a warm function may still hold the old answer.
        time.sleep(6)
        self.reset_paper_account()
        before = self.paper_orders()
        outcome = self.start_workflow()
        details = outcome["detail"].get("error_details", {})
        check(
            outcome["detail-type"] == "WorkflowFailed" and details.get("check") == "halted",
            "while halted, the workflow fails with WorkflowFailed check `halted`",
            outcome["detail"],
        )
        check(
            reason in outcome["detail"]["failure_reason"],
            "... naming the halt's reason",
            outcome["detail"]["failure_reason"],
        )
        check(
            self.paper_orders() == before,
            "... and places no order (the paper account's order log is unchanged)",
            self.paper_orders(),
        )
        history = self.cli("halt", "--stage", self.stage, "--history").stdout
        check(
            reason in history and "halted since" in history,
            "`alchemiser halt --history` shows who halted, when and why",
            history,
        )
        resumed = self.cli("resume", "--stage", self.stage).stdout
        check("resumed" in resumed, "`alchemiser resume` resumes the stage", resumed)
        time.sleep(6)
        self.reset_paper_account()
        outcome = self.start_workflow()
        check(
            outcome["detail-type"] == "WorkflowCompleted",
            "resumed, the next workflow completes",
            outcome["detail"].get("failure_reason"),
        )
        check(len(self.paper_orders()) == 2, "... and trades (one SELL, one BUY)", self.paper_orders())

    def forgeries_never_trade(self, chain: dict) -> None:
        """Only an authentic plan trades: every way a forger can reach execution (a direct invoke,
        PutEvents under the portfolio's source, a dead letter or an outbox record resent by an
        operator) is refused, recorded as a refused dead letter, and places no order."""
        self.reset_paper_account()
        before = self.paper_orders()
        signal = self.python_signal()

        def forged_plan() -> dict:
            plan = self.python_plan(signal)
            plan["source_module"] = "portfolio"
            return plan

        # 1. A bare plan, invoked directly (no envelope, no signature).
        bare = forged_plan()
        answer = self.invoke("execution", bare)
        check(
            answer.get("status") == "permanent_failure_recorded" and "unsigned" in answer.get("reason", ""),
            "a bare plan invoked directly on execution is refused: unsigned, without an envelope",
            answer,
        )
        # 2. An envelope claiming the portfolio's source, from another account and region.
        enveloped = forged_plan()
        envelope = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "RebalancePlanned",
            "source": "alchemiser.portfolio",
            "account": "999999999999",
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "mars-1",
            "resources": [],
            "detail": enveloped,
        }
        answer = self.invoke("execution", envelope)
        check(
            answer.get("status") == "permanent_failure_recorded",
            "a forged envelope (account 999999999999, region mars-1, Source alchemiser.portfolio) is refused",
            answer,
        )
        # 3. Signed, but by a function that does not make plans, put on the bus as the portfolio.
        by_strategy = self.sign(forged_plan(), "strategy")
        self.put_raw("alchemiser.portfolio", "RebalancePlanned", json.dumps(by_strategy))
        # 4. The portfolio's own signed plan, altered (a bigger trade) and put on the bus again.
        altered = copy.deepcopy(chain["RebalancePlanned"])
        altered["event_id"] = f"rebalance-planned-{uuid.uuid4()}"
        item = next(i for i in altered["rebalance_plan"]["items"] if i["action"] == "BUY")
        item["trade_amount"] = str(Decimal(item["trade_amount"]) * 2)
        self.put_raw("alchemiser.portfolio", "RebalancePlanned", json.dumps(altered))
        for plan, why, says in [
            (by_strategy, "a plan signed by the strategy (not a producer of plans)", "strategy"),
            (altered, "the portfolio's signed plan, altered", "does not hold"),
        ]:
            record = self.dlq_records(
                60,
                lambda b, i=plan["event_id"]: b.get("function") == "execution" and b.get("event_id") == i,
                f"execution's refusal of {why}",
            )
            check(
                record["error_class"] == "refused" and says in record["reason"],
                f"{why}, put on the bus as alchemiser.portfolio, is refused and recorded as a refused dead letter",
                (record["error_class"], record["reason"]),
            )
        # 5. The strategy, invoked directly with an allocation of the caller's choosing.
        answer = self.invoke("strategy", {"target_allocations": {"QQQ": "1.0"}})
        check(
            answer.get("status") == "permanent_failure_recorded" and "allocation" in answer.get("reason", ""),
            "the strategy invoked with its own target_allocations starts no workflow of that allocation",
            answer,
        )
        # 6. A dead letter forged by a role that may SendMessage to the queue (as Lambda writes
        # its on-failure records, the kind a redrive resends), then redriven by an operator.
        letter = {
            "version": "1.0",
            "timestamp": now_wire(),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.facts["functions"]["execution"].get("arn", "forged"),
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3,
            },
            "requestPayload": {**envelope, "account": "000000000000", "region": REGION, "detail": bare},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorType": "Transient", "errorMessage": "e2e: a forged dead letter"},
        }
        sent = self.sqs.send_message(QueueUrl=self.dlq_url, MessageBody=json.dumps(letter))
        redriven = self.cli("dlq", "redrive", sent["MessageId"], "--stage", self.stage, ok_codes=(0, 1))
        output = redriven.stdout + redriven.stderr
        check(
            "refused=1" in output and "redriven=0" in output,
            "`alchemiser dlq redrive` of a forged dead letter keeps it, reported refused, and republishes nothing",
            output,
        )
        # 7. An outbox record forged the same way, then drained.
        record = {
            "event": forged_plan(),
            "source": "alchemiser.portfolio",
            "event_id": f"forged-outbox-{uuid.uuid4()}",
            "event_type": "RebalancePlanned",
            "bus_name": self.bus,
            "code": "ThrottlingException",
            "reason": "e2e: a forged outbox record",
            "first_failed_at": now_wire(),
            "last_failed_at": now_wire(),
            "attempts": 1,
        }
        record["event_id"] = record["event"]["event_id"]
        self.sqs.send_message(QueueUrl=self.facts["outbox_url"], MessageBody=json.dumps(record))
        drained = self.cli("outbox", "drain", "--stage", self.stage, ok_codes=(0, 1))
        output = drained.stdout + drained.stderr
        check(
            "set_aside=1" in output and "resent=0" in output,
            "`alchemiser outbox drain` sets a forged record aside in the dead-letter queue, resends nothing",
            output,
        )
        time.sleep(5)
        forged_ids = {p["event_id"] for p in (bare, enveloped, by_strategy, altered, record["event"])}
        traded = [
            b["detail"]["event_id"]
            for b in self.queues.poll(EVERYTHING)
            if b["detail-type"] in ("TradeExecuted", "WorkflowCompleted") and b["detail"]["causation_id"] in forged_ids
        ]
        check(
            not traded and self.paper_orders() == before,
            "no forged plan placed an order or produced a trade report (the paper account's order log is unchanged)",
            (traded, self.paper_orders()),
        )

    def captured_plan_verified_with_the_stage(self, chain: dict) -> None:
        """`alchemiser invoke --stage` judges a captured plan as the stage's functions do."""
        plan = self.out / "captured-plan.json"
        plan.write_text(json.dumps(chain["RebalancePlanned"]))
        run = self.cli(
            "invoke",
            "execution",
            "--stage",
            self.stage,
            "--max-plan-age",
            "86400",
            "--max-workflow-age",
            "86400",
            "--event",
            str(plan),
            ok_codes=(0, 1),
        )
        check(
            run.returncode == 0 and "TradeExecuted" in run.stdout,
            "a plan captured on the stage verifies with its keys locally (`alchemiser invoke --stage`) and runs",
            run.stderr[-800:],
        )
        altered = copy.deepcopy(chain["RebalancePlanned"])
        item = altered["rebalance_plan"]["items"][0]
        item["trade_amount"] = str(Decimal(item["trade_amount"]) * 2)
        plan.write_text(json.dumps(altered))
        run = self.cli("invoke", "execution", "--stage", self.stage, "--event", str(plan), ok_codes=(0, 1))
        check(
            run.returncode == 1 and "does not hold" in run.stderr,
            "... and the same plan altered is refused as the stage would refuse it",
            run.stderr[-800:],
        )

    def concurrent_workflows(self, count: int = 20) -> None:
        """`count` workflows for one account started at once through the deployed functions:
        proven from the paper broker's order log (the outcome), not from the functions' records —
        each plan's orders placed once, plans serialized (no plan's orders between another's), the
        account's positions and cash equal to where its fills took it, and every report's
        orders_placed equal to the broker's."""
        self.reset_paper_account()
        initial = json.loads(self.paper.read_text())
        seen = self.workflows_started()
        statuses = [
            self.lam.invoke(
                FunctionName=self.facts["functions"]["strategy"]["name"],
                InvocationType="Event",
                Payload=json.dumps({"requested_by": f"e2e-concurrent-{uuid.uuid4()}"}).encode(),
            )["StatusCode"]
            for _ in range(count)
        ]
        check(statuses == [202] * count, f"the strategy invoked {count} times asynchronously", statuses)
        deadline = time.monotonic() + 300
        while True:
            bodies = self.queues.poll(EVERYTHING)
            started = {
                b["detail"]["correlation_id"]
                for b in bodies
                if b["detail-type"] == "WorkflowStarted" and b["detail"]["correlation_id"] not in seen
            }
            outcomes = {
                b["detail"]["correlation_id"]: b
                for b in bodies
                if b["detail-type"] in ("WorkflowCompleted", "WorkflowFailed")
                and b["detail"]["correlation_id"] in started
            }
            if len(started) >= count and len(outcomes) == len(started):
                break
            if time.monotonic() > deadline:
                raise CheckFailed(
                    f"{len(started)} of {count} concurrent workflows started, {len(outcomes)} ended within 300 s"
                )
            time.sleep(1)
        check(len(started) == count, f"{count} workflows started at once, each ended", len(started))
        orders = self.paper_orders()
        ids = [o["client_order_id"] for o in orders]
        check(len(ids) == len(set(ids)), "each plan's order for a side and symbol reached the broker once", ids)
        runs = [key for key, _ in itertools.groupby(i.split("-")[0] for i in ids)]
        check(
            len(runs) == len(set(runs)),
            f"plans were serialized: the order log holds {len(set(runs))} plans, none between another's orders",
            runs,
        )
        reports = [
            b["detail"]
            for b in self.queues.poll(EVERYTHING)
            if b["detail-type"] == "TradeExecuted" and b["detail"]["correlation_id"] in started
        ]
        placed = sum(int(r.get("orders_placed", 0)) for r in reports)
        check(
            placed == len(orders),
            "the reports' orders_placed add up to the broker's order log",
            (placed, len(orders)),
        )
        account = json.loads(self.paper.read_text())
        cash = Decimal(initial["cash"])
        positions = {p["symbol"]: Decimal(p["qty"]) for p in initial["positions"]}
        for order in orders:
            amount = Decimal(order["qty"]) * Decimal(order["price"])
            sign = 1 if order["side"] == "buy" else -1
            cash -= sign * amount
            positions[order["symbol"]] = positions.get(order["symbol"], Decimal(0)) + sign * Decimal(order["qty"])
        held = {p["symbol"]: Decimal(p["qty"]) for p in account["positions"] if Decimal(p["qty"]) != 0}
        check(
            Decimal(account["cash"]) == cash and held == {k: v for k, v in positions.items() if v != 0},
            "the account is where its fills took it (cash and positions)",
            (account["cash"], str(cash), held, positions),
        )
        failed = [o["detail"] for o in outcomes.values() if o["detail-type"] == "WorkflowFailed"]
        check(
            all(f.get("error_details", {}).get("check") for f in failed),
            f"{count - len(failed)} completed; each of the {len(failed)} that failed names the check that refused it",
            [
                (f.get("failure_step"), f.get("failure_reason"))
                for f in failed
                if not f.get("error_details", {}).get("check")
            ],
        )

    def duplicates(self, chain: dict) -> None:
        plan = chain["RebalancePlanned"]
        path = self.out / "rebalance-planned.json"
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
            for b in self.queues.poll(EVERYTHING)
            if b["detail-type"] == "TradeExecuted" and b["detail"]["causation_id"] == plan["event_id"]
        ]
        check(
            trades == [chain["TradeExecuted"]["event_id"]],
            "the plan's only TradeExecuted is the first one: no second for the redeliveries",
            trades,
        )
        check(self.paper_orders() == before, "the paper broker still shows one set of orders", len(self.paper_orders()))

    def failures(self) -> None:
        signal = json.loads(EXAMPLE_SIGNAL.read_text())["detail"]
        bad = copy.deepcopy(signal)
        bad["event_id"] = f"signal-generated-bad-{uuid.uuid4()}"
        bad["correlation_id"] = f"workflow-e2e-bad-{uuid.uuid4()}"
        bad["source_module"] = "strategy"
        bad["consolidated_portfolio"]["target_allocations"] = {"SPY": "0.6", "TLT": "0.3"}
        # A bug in a genuine producer: its event is signed, and invalid.
        self.put_signed("strategy", bad)
        self.put_raw("alchemiser.strategy", "SignalGenerated", json.dumps({"hello": "not an event"}))
        # A valid workflow right behind the bad events.
        self.reset_paper_account()
        behind = self.start_workflow()
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
        # A valid signal the portfolio stage cannot plan: the broker has no price for its symbol.
        unpriced = self.python_signal()
        unpriced["source_module"] = "strategy"
        unpriced["consolidated_portfolio"]["target_allocations"] = {"NVDA": "1.0"}
        self.publish_envelope(unpriced, "alchemiser.strategy", signer="strategy")
        failed = self.queues.wait_for(
            EVERYTHING,
            lambda b: (
                b["detail-type"] == "WorkflowFailed" and b["detail"]["correlation_id"] == unpriced["correlation_id"]
            ),
            60,
            "the portfolio stage's WorkflowFailed",
        )
        check(
            failed["source"] == "alchemiser.portfolio" and failed["detail"]["failure_step"] == "portfolio",
            "a permanent failure in the portfolio stage publishes WorkflowFailed under its own source and step",
            (failed["source"], failed["detail"]["failure_step"]),
        )
        shown = self.wait_ledger(
            unpriced["correlation_id"], lambda s: s["summary"]["state"] == "failed", 30, "the failed workflow"
        )
        check(
            "NVDA" in shown["summary"]["failure"]["reason"]
            and failed["detail"]["error_details"].get("dead_letter_message_id"),
            "the ledger shows the workflow failed with its reason; the WorkflowFailed names the dead letter",
            (shown["summary"].get("failure"), failed["detail"]["error_details"]),
        )
        junk = self.dlq_records(
            60,
            lambda b: b.get("function") == "portfolio" and "event_type" in b.get("reason", ""),
            "the record of the event that is not an event",
        )
        check("missing" in junk["reason"], "malformed input is recorded in the DLQ with its reason", junk["reason"])
        check(
            behind["detail-type"] == "WorkflowCompleted",
            "the valid workflow started right behind the bad events still ran to WorkflowCompleted",
            behind["detail"].get("failure_reason"),
        )

        # Transient: the event is claimed IN_PROGRESS by a (pretend) other invocation whose claim
        # lapses in 2 s; the first attempt fails transiently and Lambda's async retry succeeds.
        failed = workflow_failed_detail()
        key = f"monitor#{failed['event_id']}"
        lapse_ms = int(time.time() * 1000) + 2000  # the claim's expiry is in epoch milliseconds
        self.ddb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": key},
                "status": {"S": "IN_PROGRESS"},
                "in_progress_expires_at": {"N": str(lapse_ms)},
                "expires_at": {"N": str(lapse_ms // 1000 + 3600)},  # TTL: epoch seconds
            },
        )
        self.put_signed("execution", failed)
        check(self.wait_record_completed(key, 45), "after a transient failure, Lambda's async retry handled the event")
        transient = [
            line
            for line in self.function_log("monitor", "being handled by another invocation", 10)
            if failed["event_id"] in line
        ]
        check(
            len(transient) >= 1, f"the first attempt failed transiently ({len(transient)} transient attempt(s) logged)"
        )

    # -- phase 2: beside the Python system
    def python_owned_execution_receives_nothing(self) -> dict:
        self.reset_paper_account()
        signal = self.python_signal()
        plan = self.python_plan(signal)
        self.publish_envelope(plan, "alchemiser.portfolio_v2.handlers")
        self.wait_ledger(
            plan["correlation_id"],
            lambda s: any(e.get("event_id") == plan["event_id"] for e in s["entries"]),
            30,
            "the Python plan, recorded by the monitor",
        )
        time.sleep(5)
        check(
            self.record(f"execution#{plan['event_id']}") is None,
            "with execution owned by Python, the Rust execution function never received the plan",
        )
        trades = [b for b in self.queues.poll(EVERYTHING) if b["detail"].get("causation_id") == plan["event_id"]]
        check(not trades and not self.paper_orders(), "nothing traded it and nothing followed it", trades)
        return plan

    def shadow_portfolio(self, change=None) -> dict:
        """A Python signal; the shadow's plan is recorded, not published; the Python plan follows."""
        signal = self.python_signal()
        self.publish_envelope(signal, "alchemiser.strategy_v2.handlers")
        shown = self.wait_ledger(
            signal["correlation_id"],
            lambda s: any(e["kind"] == "shadow" and e["handler"] == "portfolio" for e in s["entries"]),
            60,
            "the shadow portfolio's plan",
        )
        shadow = next(e for e in shown["entries"] if e["kind"] == "shadow")
        check(
            [e["event_type"] for e in shadow["events"]] == ["RebalancePlanned"],
            "the shadow portfolio recorded the plan it would have published in the ledger",
            shadow,
        )
        check(
            self.wait_record_completed(f"portfolio#{signal['event_id']}#shadow", 10),
            "under its own idempotency key (portfolio#<event id>#shadow)",
        )
        live = [
            b
            for b in self.queues.poll(EVERYTHING)
            if b["detail"].get("correlation_id") == signal["correlation_id"] and b["source"] == "alchemiser.portfolio"
        ]
        check(not live, "the shadow published nothing live", live)
        plan = self.python_plan(signal)
        if change is not None:
            change(plan)
        self.publish_envelope(plan, "alchemiser.portfolio_v2.handlers")
        self.wait_ledger(
            signal["correlation_id"],
            lambda s: any(e.get("event_id") == plan["event_id"] for e in s["entries"]),
            30,
            "the Python plan",
        )
        return plan

    def shadow_diff(self) -> tuple[dict, dict]:
        self.reset_paper_account()
        same = self.shadow_portfolio()

        def nudge(plan):
            item = next(i for i in plan["rebalance_plan"]["items"] if i["action"] != "HOLD")
            item["target_value"] = f"{float(item['target_value']) + 1:.2f}"

        changed = self.shadow_portfolio(change=nudge)
        result = self.cli("shadow", "diff", "--stage", self.stage, "--json", ok_codes=(1,))
        report = json.loads(result.stdout)
        verdicts = {c["correlation_id"]: c for c in report["comparisons"]}
        check(
            verdicts.get(same["correlation_id"], {}).get("verdict") == "match",
            "`alchemiser shadow diff` reports a match for the identical Python plan",
            verdicts.get(same["correlation_id"]),
        )
        mismatch = verdicts.get(changed["correlation_id"], {})
        check(
            mismatch.get("verdict") == "mismatch"
            and any(d["field"].endswith(".target_value") for d in mismatch.get("differences", [])),
            "and a mismatch naming the changed target value for the other, exiting 1",
            mismatch,
        )
        return same, changed

    def sweep_times_out(self, stalled: list[dict]) -> None:
        deadline = int(self.facts["functions"]["monitor"]["environment"]["WORKFLOW_DEADLINE_SECONDS"])
        # Every stalled workflow past its deadline: wait for the youngest.
        youngest = max(datetime.strptime(p["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) for p in stalled)
        wait = deadline + 2 - (datetime.now(UTC) - youngest).total_seconds()
        if wait > 0:
            time.sleep(wait)
        tick = scheduler_tick("e2e-sweep")
        response = self.lam.invoke(
            FunctionName=self.facts["functions"]["monitor"]["name"],
            InvocationType="RequestResponse",
            Payload=json.dumps(tick).encode(),
        )
        check(
            response["StatusCode"] == 200 and "FunctionError" not in response,
            "the sweep ran (as its schedule runs it)",
            response,
        )
        for plan in stalled:
            failed = self.queues.wait_for(
                EVERYTHING,
                lambda b, c=plan["correlation_id"]: (
                    b["detail-type"] == "WorkflowFailed" and b["detail"]["correlation_id"] == c
                ),
                30,
                f"the sweep's WorkflowFailed of {plan['correlation_id']}",
            )
            check(
                failed["source"] == "alchemiser.monitor"
                and failed["detail"]["error_details"]["check"] == "workflow_deadline"
                and failed["detail"]["failure_step"] == "planned",
                "a workflow whose execution never ran is timed out by the sweep, failing at its last step: planned",
                failed["detail"],
            )
        timed_out = [
            json.loads(line)["correlation_id"]
            for line in self.cli(
                "workflows", "list", "--stage", self.stage, "--state", "timed_out", "--json"
            ).stdout.splitlines()
        ]
        check(
            all(p["correlation_id"] in timed_out for p in stalled),
            "`alchemiser workflows list --state timed_out` lists them",
            timed_out,
        )


def scheduler_tick(prefix: str) -> dict:
    """The envelope EventBridge Scheduler delivers to a function (as the stack configures it)."""
    return {
        "version": "0",
        "id": f"{prefix}-{uuid.uuid4()}",
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "000000000000",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [],
        "detail": {},
    }


def workflow_failed_detail() -> dict:
    """A fresh, valid WorkflowFailed detail (the contract's rules, written out)."""
    return {
        "correlation_id": f"workflow-e2e-{uuid.uuid4()}",
        "causation_id": f"trade-executed-{uuid.uuid4()}",
        "event_id": f"workflow-failed-{uuid.uuid4()}",
        "event_type": "WorkflowFailed",
        "timestamp": now_wire(),
        "source_module": "execution",
        "metadata": {},
        "schema_version": "1.0",
        "workflow_type": "trading",
        "failure_reason": "e2e: a made-up failure to record",
        "failure_step": "execution",
        "error_details": {},
    }


def stack_from_arguments(description: str) -> Stack:
    """The deployed stack named by the command line (--facts, --alchemiser) of an e2e script."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--facts", type=Path, required=True)
    parser.add_argument("--alchemiser", required=True, help="path to the alchemiser binary")
    args = parser.parse_args()
    out = Path(os.environ.get("E2E_OUT", REPO / ".local/e2e-deploy"))
    return Stack(json.loads(args.facts.read_text()), args.alchemiser, out)


def main() -> int:
    stack = stack_from_arguments(__doc__.split("\n\n")[0])
    stack.observe()
    try:
        if stack.beside_python():
            print("-- step 7: a consumer owned by Python receives nothing", flush=True)
            first = stack.python_owned_execution_receives_nothing()
            print("-- step 8: shadow portfolio and shadow diff", flush=True)
            same, changed = stack.shadow_diff()
            print("-- step 9: the sweep times out workflows that never execute", flush=True)
            stack.sweep_times_out([first, same, changed])
        else:
            print("-- step 3: routing proof (Rust and Python sources)", flush=True)
            stack.routing_proof()
            print("-- step 4: whole workflow over LocalStack, and its ledger", flush=True)
            chain = stack.whole_workflow()
            print("-- step 4a: forged plans never trade", flush=True)
            stack.forgeries_never_trade(chain)
            stack.captured_plan_verified_with_the_stage(chain)
            print("-- step 4b: kill switch (halt, a workflow fails naming it, resume)", flush=True)
            stack.halt_and_resume()
            print("-- step 4c: 20 workflows of one account at once", flush=True)
            stack.concurrent_workflows()
            print("-- step 5: duplicates", flush=True)
            stack.duplicates(chain)
            print("-- step 6: failures and bad input", flush=True)
            stack.failures()
    except CheckFailed as failure:
        print(f"FAIL  {failure}", flush=True)
        return 1
    finally:
        stack.unobserve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
