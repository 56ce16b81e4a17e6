"""The stack deployed to LocalStack, as the end-to-end scripts drive it (tests/e2e/workflow.py,
its scenarios in rust_owned.py and beside_python.py, drill.py and deploy_assertions.py): boto3
clients on the emulators, the test-only observer queues, the `alchemiser` CLI on the stage
(publish, sign, workflows, ...), direct invokes, the paper broker's order log, the DLQ, the
functions' logs, the idempotency records and the ledger, each with the polling a check needs;
and the event details the tests put on the bus.

Not a script: the scripts import it (their folder is on the path when run directly).
"""

from __future__ import annotations

import argparse
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
EXAMPLE_SIGNAL = REPO / "examples/events/SignalGenerated.eventbridge.json"
PYTHON_EVENTS = REPO / "examples/python"
MONITOR_QUEUE = "e2e-rule-monitor"
EVERYTHING = "e2e-observer-all"
ACCOUNT = "000000000000"
# An event's `timestamp` on the wire (microseconds, UTC), and an EventBridge envelope's `time`.
WIRE_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"
ENVELOPE_TIME = "%Y-%m-%dT%H:%M:%SZ"


def client(service: str, endpoint: str = LOCALSTACK, *, fail_fast: bool = False):
    """A boto3 client on the emulators, with 3 attempts per call; `fail_fast`: 2 attempts, 5 s to
    connect and 30 s to read, so that a hung emulator fails the check instead of stalling it."""
    if fail_fast:
        return emulators.client(service, endpoint, retries={"max_attempts": 2}, connect_timeout=5, read_timeout=30)
    return emulators.client(service, endpoint, retries={"max_attempts": 3})


def wire_time(at: datetime | None = None) -> str:
    """`at` (now when not given) as an event's `timestamp` is written."""
    return (at or datetime.now(UTC)).strftime(WIRE_TIME)


def json_lines(text: str) -> list[dict]:
    """The JSON objects of `--json` output that prints one per line."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def envelope(
    detail: dict, source: str, *, account: str = ACCOUNT, region: str = REGION, resources: list[str] | None = None
) -> dict:
    """`detail` in an EventBridge envelope from `source`, sent now; its Resources name the
    correlation and causation ids unless given."""
    if resources is None:
        resources = [f"correlation:{detail['correlation_id']}", f"causation:{detail['causation_id']}"]
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail["event_type"],
        "source": source,
        "account": account,
        "time": datetime.now(UTC).strftime(ENVELOPE_TIME),
        "region": region,
        "resources": resources,
        "detail": detail,
    }


def scheduler_tick(prefix: str) -> dict:
    """The envelope EventBridge Scheduler delivers to a function (as the stack configures it)."""
    return {
        "version": "0",
        "id": f"{prefix}-{uuid.uuid4()}",
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime(ENVELOPE_TIME),
        "region": REGION,
        "resources": [],
        "detail": {},
    }


def example_signal() -> dict:
    """The detail of the sample SignalGenerated (examples/events), as the Python strategy writes one."""
    return json.loads(EXAMPLE_SIGNAL.read_text())["detail"]


class Queues:
    """SQS queues the test reads, with everything received so far (messages are deleted). Each is
    known by its name in the test; its SQS name adds the stage (queue names are per account, and
    two stages are tested at once)."""

    def __init__(self, sqs, stage: str):
        self.sqs = sqs
        self.stage = stage
        self.urls: dict[str, str] = {}
        self.seen: dict[str, list[dict]] = {}

    def create(self, name: str) -> str:
        url = self.sqs.create_queue(QueueName=f"{name}-{self.stage}")["QueueUrl"]
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
    """One deployed stage, from the facts deploy_assertions.py wrote: what the scenarios and the
    drill do to it and read from it."""

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
        self.queues = Queues(client("sqs"), self.stage)
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

    # -- the CLI, publishing and invoking
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
        path = self.out / f"publish-{detail['event_id']}.json"
        path.write_text(json.dumps(envelope(detail, source)))
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

    def invoke_async(self, handler: str, payload: dict) -> int:
        """Invokes `handler`'s function asynchronously (InvocationType Event): the status code."""
        response = self.lam.invoke(
            FunctionName=self.facts["functions"][handler]["name"],
            InvocationType="Event",
            Payload=json.dumps(payload).encode(),
        )
        return response["StatusCode"]

    def put_raw(self, source: str, detail_type: str, detail: str) -> None:
        response = self.events.put_events(
            Entries=[{"EventBusName": self.bus, "Source": source, "DetailType": detail_type, "Detail": detail}]
        )
        check(response["FailedEntryCount"] == 0, f"raw PutEvents of a {detail_type} accepted by EventBridge", response)

    # -- the paper broker, and events as the Python system writes them
    def reset_paper_account(self) -> None:
        self.paper.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "examples/portfolio.json", self.paper)

    def paper_orders(self) -> list[dict]:
        return json.loads(self.paper.read_text()).get("orders", [])

    def python_signal(self) -> dict:
        """A fresh SignalGenerated as the Python strategy writes it (its nested correlation id is
        its own `signal_handler_<time>` label, as in real traffic)."""
        signal = example_signal()
        correlation = f"workflow-e2e-{uuid.uuid4()}"
        signal.update(
            correlation_id=correlation,
            causation_id=correlation,
            event_id=f"signal-generated-{uuid.uuid4()}",
            timestamp=wire_time(),
            source_module="strategy_v2.handlers",
        )
        signal["consolidated_portfolio"]["correlation_id"] = datetime.now(UTC).strftime("signal_handler_%Y%m%d_%H%M%S")
        signal["consolidated_portfolio"]["timestamp"] = wire_time()
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
        plans = [p for p in json_lines(result.stdout) if p["event_type"] == "RebalancePlanned"]
        check(len(plans) == 1, "the signal plans locally (alchemiser invoke portfolio)", result.stderr[-500:])
        plan = plans[0]
        plan["event_id"] = f"rebalance-planned-{uuid.uuid4()}"
        plan["source_module"] = "portfolio_v2.handlers"
        plan["source_component"] = "PortfolioAnalysisHandler"
        plan["metadata"] = {"analysis_timestamp": wire_time(), "source": "event_driven_handler"}
        plan["rebalance_plan"]["plan_id"] = f"portfolio_v2_{signal['correlation_id']}_{int(time.time())}"
        return plan

    # -- what the stage recorded: dead letters, logs, idempotency records, the ledger
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

    def hold_claim(self, key: str, until_ms: int) -> None:
        """Writes the idempotency record of `key` as another invocation's claim, IN_PROGRESS until
        `until_ms` (epoch milliseconds), as lib/lambda's DynamoDB store writes one: every delivery
        of the event fails transiently until then."""
        self.ddb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": key},
                "status": {"S": "IN_PROGRESS"},
                "in_progress_expires_at": {"N": str(until_ms)},
                "expires_at": {"N": str(until_ms // 1000 + 3600)},  # TTL: epoch seconds
            },
        )

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

    # -- the test-only observers
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

    # -- workflows started by the strategy
    def start_workflow(self) -> dict:
        """Invokes the strategy asynchronously with a manual start (as a person, or the runbooks,
        would) and waits for the workflow's outcome: WorkflowCompleted or WorkflowFailed."""
        seen = self.workflows_started()
        status = self.invoke_async("strategy", {"requested_by": f"e2e-{uuid.uuid4()}"})
        check(status == 202, "strategy invoked asynchronously", status)
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


def stack_from_arguments(description: str) -> Stack:
    """The deployed stack named by the command line (--facts, --alchemiser) of an e2e script."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--facts", type=Path, required=True)
    parser.add_argument("--alchemiser", required=True, help="path to the alchemiser binary")
    args = parser.parse_args()
    # Beside the facts (scripts/test-e2e-deploy writes both into .local/e2e-deploy/<stage>/).
    out = Path(os.environ.get("E2E_OUT", args.facts.parent))
    return Stack(json.loads(args.facts.read_text()), args.alchemiser, out)
