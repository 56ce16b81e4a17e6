"""The end-to-end scenarios of a stage where every consumer is Rust-owned (stage e2e), steps 3-6
of tests/e2e/workflow.py, which runs them in this order: the routing proof, the whole workflow and
its ledger, forged plans, the kill switch, 20 workflows at once, duplicates, failures and bad
input. Each is a function of the deployed `Stack` (stack.py) that proves its statements with
`check` (one printed line each) and raises CheckFailed at the first that does not hold.
"""

from __future__ import annotations

import copy
import itertools
import json
import subprocess
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from stack import (
    ACCOUNT,
    EVERYTHING,
    MONITOR_QUEUE,
    PYTHON_EVENTS,
    REGION,
    REPO,
    CheckFailed,
    Stack,
    check,
    envelope,
    example_signal,
    json_lines,
    scheduler_tick,
    wire_time,
)


def workflow_failed_detail() -> dict:
    """A fresh, valid WorkflowFailed detail (the contract's rules, written out)."""
    return {
        "correlation_id": f"workflow-e2e-{uuid.uuid4()}",
        "causation_id": f"trade-executed-{uuid.uuid4()}",
        "event_id": f"workflow-failed-{uuid.uuid4()}",
        "event_type": "WorkflowFailed",
        "timestamp": wire_time(),
        "source_module": "execution",
        "metadata": {},
        "schema_version": "1.0",
        "workflow_type": "trading",
        "failure_reason": "e2e: a made-up failure to record",
        "failure_step": "execution",
        "error_details": {},
    }


def routing_table() -> list[dict]:
    """The routing table the registry exports: each event type with its consumers."""
    return json.loads((REPO / "lib/events/routes.json").read_text())["routes"]


def consumers_of(event_type: str) -> list[str]:
    return next(route["consumers"] for route in routing_table() if route["event_type"] == event_type)


def routing_proof(stack: Stack) -> None:
    stack.reset_paper_account()
    routes = routing_table()
    for route in routes:
        stack.publish("--example", route["event_type"], "--count", "1")
    entries = json.loads((PYTHON_EVENTS / "putevents-entries.json").read_text())
    python_ids = {}
    for name, entry in entries.items():
        if "replayed" in name:
            continue
        written = json.loads((PYTHON_EVENTS / name).read_text())
        detail = written["detail"] if isinstance(written["detail"], dict) else json.loads(written["detail"])
        python_ids[detail["event_id"]] = (entry["DetailType"], entry["Source"], detail)
        stack.publish("--event", str(PYTHON_EVENTS / name))

    def sample(event_type):
        return lambda b: (
            b["detail-type"] == event_type and b["detail"].get("source_component") == "alchemiser-publish-example"
        )

    for route in routes:
        for consumer in route["consumers"]:
            stack.queues.wait_for(
                f"e2e-rule-{consumer}", sample(route["event_type"]), 30, f"the sample {route['event_type']}"
            )
    # A stage routes the Python system's sources only to consumers whose producer Python owns
    # there (its rules' sources); elsewhere a Python event reaches no consumer at all.
    unrouted = []
    for event_id, (detail_type, source, detail) in python_ids.items():
        route = next(r for r in routes if r["event_type"] == detail_type)
        for consumer in route["consumers"]:
            if source not in stack.facts["rules"][consumer]["sources"]:
                unrouted.append((consumer, event_id, detail_type, source))
                continue
            body = stack.queues.wait_for(
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
            if any(b["detail"].get("event_id") == event_id for b in stack.queues.poll(f"e2e-rule-{consumer}"))
        ]
        check(
            not arrived,
            f"no Python event reaches a consumer whose producer Python does not own on {stack.stage} "
            f"({len(unrouted)} deliveries that must not happen)",
            arrived,
        )
    rust = next(r for r in routes if r["event_type"] == "RebalancePlanned")
    body = stack.queues.wait_for("e2e-rule-execution", sample("RebalancePlanned"), 5, "the sample plan")
    check(
        body["source"] == rust["producers"][0]["source"]
        and body["resources"]
        == [f"correlation:{body['detail']['correlation_id']}", f"causation:{body['detail']['causation_id']}"],
        "the Rust RebalancePlanned arrives with Source alchemiser.portfolio and correlation/causation Resources",
        body,
    )
    decoded = subprocess.run(
        [stack.alchemiser, "validate", "-"], input=json.dumps(body), capture_output=True, text=True
    )
    check(decoded.returncode == 0, "the plan as delivered decodes back with the Rust contract", decoded.stderr)
    # The samples are unsigned: on a stage that takes no unsigned event every consumer refuses
    # them (a `refused` dead letter), and the sample plan is never traded.
    if not stack.facts["functions"]["execution"]["environment"].get("UNSIGNED_SOURCES"):
        refused = stack.dlq_records(
            60,
            lambda b: (
                b.get("function") == "execution"
                and b.get("event_id") == body["detail"]["event_id"]
                and b.get("error_class") == "refused"
            ),
            "execution's refusal of the unsigned sample plan",
        )
        check(
            "unsigned" in refused["reason"] and not stack.paper_orders(),
            "the unsigned sample plan is refused by execution, recorded as a refused dead letter, never traded",
            (refused["reason"], stack.paper_orders()),
        )
    for handler, rule in stack.facts["rules"].items():
        bodies = stack.queues.poll(f"e2e-rule-{handler}")
        pairs = {(b["detail-type"], b["source"]) for b in bodies}
        allowed = {(t, src) for t in rule["event_types"] for src in rule["sources"]}
        check(
            pairs <= allowed and {t for t, _ in pairs} == set(rule["event_types"]),
            f"the {handler} rule delivered exactly its types {rule['event_types']} from its producers' sources",
            sorted(pairs - allowed),
        )


def scheduled_tick_follows_the_calendar(stack: Stack) -> None:
    """A scheduled tick that is not today's run time starts no workflow and says why."""
    now = datetime.now(UTC)
    # The e2e paper account trades around the clock: its day closes at midnight UTC and the
    # run is at 23:45 UTC (STRATEGY_RUN_AT's default); a tick in that window would run.
    if now.hour == 23 and now.minute >= 43:
        print("skip  the scheduled tick check (it is the e2e calendar's run time)", flush=True)
        return
    answer = stack.invoke("strategy", scheduler_tick("e2e-tick"))
    check(
        answer.get("status") == "handled" and answer.get("emitted") == [],
        "a scheduled tick outside today's run time starts no workflow",
        answer,
    )
    lines = stack.function_log("strategy", "not today's run time", 30)
    check(bool(lines), "... and the strategy's log says why (not today's run time)", lines[-1:])


def whole_workflow(stack: Stack) -> dict:
    stack.reset_paper_account()
    stack.queues.reset()
    scheduled_tick_follows_the_calendar(stack)
    started = time.monotonic()
    completed = stack.start_workflow()
    check(
        completed["detail-type"] == "WorkflowCompleted",
        "the workflow completed",
        completed["detail"].get("failure_reason"),
    )
    elapsed = time.monotonic() - started
    correlation = completed["detail"]["correlation_id"]
    chain = [b["detail"] for b in stack.queues.poll(EVERYTHING) if b["detail"]["correlation_id"] == correlation]
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
        stack.queues.wait_for(
            MONITOR_QUEUE,
            lambda b, t=event_type: b["detail"]["event_id"] == by_type[t]["event_id"],
            15,
            f"{event_type} on the monitor rule's queue",
        )
    check(True, "the monitor rule delivered every event of the workflow, WorkflowStarted included")
    orders = stack.paper_orders()
    check(
        len(orders) == 2 and {o["side"] for o in orders} == {"buy", "sell"},
        "the paper account shows one SELL and one BUY",
        orders,
    )
    shown = stack.wait_ledger(
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
    tree = stack.cli("workflows", "show", correlation, "--stage", stack.stage).stdout
    check(
        "completed" in tree and "└─ WorkflowCompleted" in tree and "after its cause" in tree,
        "`alchemiser workflows show` prints the causation tree with timings",
        tree,
    )
    mermaid = stack.cli("workflows", "show", correlation, "--stage", stack.stage, "--mermaid").stdout
    check(mermaid.startswith("sequenceDiagram"), "`workflows show --mermaid` writes a sequence diagram", mermaid[:200])
    listed = json_lines(stack.cli("workflows", "list", "--stage", stack.stage, "--json").stdout)
    check(
        any(s["correlation_id"] == correlation and s["state"] == "completed" for s in listed),
        "`alchemiser workflows list` shows it completed",
        [s["correlation_id"] for s in listed],
    )
    return by_type


def forgeries_never_trade(stack: Stack, chain: dict) -> None:
    """Only an authentic plan trades: every way a forger can reach execution (a direct invoke,
    PutEvents under the portfolio's source, a dead letter or an outbox record resent by an
    operator) is refused, recorded as a refused dead letter, and places no order."""
    stack.reset_paper_account()
    before = stack.paper_orders()
    signal = stack.python_signal()

    def forged_plan() -> dict:
        plan = stack.python_plan(signal)
        plan["source_module"] = "portfolio"
        return plan

    # 1. A bare plan, invoked directly (no envelope, no signature).
    bare = forged_plan()
    answer = stack.invoke("execution", bare)
    check(
        answer.get("status") == "permanent_failure_recorded" and "unsigned" in answer.get("reason", ""),
        "a bare plan invoked directly on execution is refused: unsigned, without an envelope",
        answer,
    )
    # 2. An envelope claiming the portfolio's source, from another account and region.
    enveloped = forged_plan()
    forged = envelope(enveloped, "alchemiser.portfolio", account="999999999999", region="mars-1", resources=[])
    answer = stack.invoke("execution", forged)
    check(
        answer.get("status") == "permanent_failure_recorded",
        "a forged envelope (account 999999999999, region mars-1, Source alchemiser.portfolio) is refused",
        answer,
    )
    # 3. Signed, but by a function that does not make plans, put on the bus as the portfolio.
    by_strategy = stack.sign(forged_plan(), "strategy")
    stack.put_raw("alchemiser.portfolio", "RebalancePlanned", json.dumps(by_strategy))
    # 4. The portfolio's own signed plan, altered (a bigger trade) and put on the bus again.
    altered = copy.deepcopy(chain["RebalancePlanned"])
    altered["event_id"] = f"rebalance-planned-{uuid.uuid4()}"
    item = next(i for i in altered["rebalance_plan"]["items"] if i["action"] == "BUY")
    item["trade_amount"] = str(Decimal(item["trade_amount"]) * 2)
    stack.put_raw("alchemiser.portfolio", "RebalancePlanned", json.dumps(altered))
    for plan, why, says in [
        (by_strategy, "a plan signed by the strategy (not a producer of plans)", "strategy"),
        (altered, "the portfolio's signed plan, altered", "does not hold"),
    ]:
        record = stack.dlq_records(
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
    answer = stack.invoke("strategy", {"target_allocations": {"QQQ": "1.0"}})
    check(
        answer.get("status") == "permanent_failure_recorded" and "allocation" in answer.get("reason", ""),
        "the strategy invoked with its own target_allocations starts no workflow of that allocation",
        answer,
    )
    # 6. A dead letter forged by a role that may SendMessage to the queue (as Lambda writes
    # its on-failure records, the kind a redrive resends), then redriven by an operator.
    letter = {
        "version": "1.0",
        "timestamp": wire_time(),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": stack.facts["functions"]["execution"].get("arn", "forged"),
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": {**forged, "account": ACCOUNT, "region": REGION, "detail": bare},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "Transient", "errorMessage": "e2e: a forged dead letter"},
    }
    sent = stack.sqs.send_message(QueueUrl=stack.dlq_url, MessageBody=json.dumps(letter))
    redriven = stack.cli("dlq", "redrive", sent["MessageId"], "--stage", stack.stage, ok_codes=(0, 1))
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
        "bus_name": stack.bus,
        "code": "ThrottlingException",
        "reason": "e2e: a forged outbox record",
        "first_failed_at": wire_time(),
        "last_failed_at": wire_time(),
        "attempts": 1,
    }
    record["event_id"] = record["event"]["event_id"]
    stack.sqs.send_message(QueueUrl=stack.facts["outbox_url"], MessageBody=json.dumps(record))
    drained = stack.cli("outbox", "drain", "--stage", stack.stage, ok_codes=(0, 1))
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
        for b in stack.queues.poll(EVERYTHING)
        if b["detail-type"] in ("TradeExecuted", "WorkflowCompleted") and b["detail"]["causation_id"] in forged_ids
    ]
    check(
        not traded and stack.paper_orders() == before,
        "no forged plan placed an order or produced a trade report (the paper account's order log is unchanged)",
        (traded, stack.paper_orders()),
    )


def captured_plan_verified_with_the_stage(stack: Stack, chain: dict) -> None:
    """`alchemiser invoke --stage` judges a captured plan as the stage's functions do."""
    plan = stack.out / "captured-plan.json"
    plan.write_text(json.dumps(chain["RebalancePlanned"]))
    run = stack.cli(
        "invoke",
        "execution",
        "--stage",
        stack.stage,
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
    run = stack.cli("invoke", "execution", "--stage", stack.stage, "--event", str(plan), ok_codes=(0, 1))
    check(
        run.returncode == 1 and "does not hold" in run.stderr,
        "... and the same plan altered is refused as the stage would refuse it",
        run.stderr[-800:],
    )


def halt_and_resume(stack: Stack) -> None:
    """`alchemiser halt`: a workflow places no order and fails naming the halt; `resume`: the next trades."""
    reason = f"e2e: halted by the end-to-end test {uuid.uuid4()}"
    halted = stack.cli("halt", "--stage", stack.stage, "--reason", reason).stdout
    check(reason in halted, "`alchemiser halt` halts the stage", halted)
    # Execution keeps the switch 5 s: a warm function may still hold the old answer.
    time.sleep(6)
    stack.reset_paper_account()
    before = stack.paper_orders()
    outcome = stack.start_workflow()
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
        stack.paper_orders() == before,
        "... and places no order (the paper account's order log is unchanged)",
        stack.paper_orders(),
    )
    history = stack.cli("halt", "--stage", stack.stage, "--history").stdout
    check(
        reason in history and "halted since" in history,
        "`alchemiser halt --history` shows who halted, when and why",
        history,
    )
    resumed = stack.cli("resume", "--stage", stack.stage).stdout
    check("resumed" in resumed, "`alchemiser resume` resumes the stage", resumed)
    time.sleep(6)
    stack.reset_paper_account()
    outcome = stack.start_workflow()
    check(
        outcome["detail-type"] == "WorkflowCompleted",
        "resumed, the next workflow completes",
        outcome["detail"].get("failure_reason"),
    )
    check(len(stack.paper_orders()) == 2, "... and trades (one SELL, one BUY)", stack.paper_orders())


def concurrent_workflows(stack: Stack, count: int = 20) -> None:
    """`count` workflows for one account started at once through the deployed functions:
    proven from the paper broker's order log (the outcome), not from the functions' records —
    each plan's orders placed once, plans serialized (no plan's orders between another's), the
    account's positions and cash equal to where its fills took it, and every report's
    orders_placed equal to the broker's."""
    stack.reset_paper_account()
    initial = json.loads(stack.paper.read_text())
    seen = stack.workflows_started()
    statuses = [
        stack.invoke_async("strategy", {"requested_by": f"e2e-concurrent-{uuid.uuid4()}"}) for _ in range(count)
    ]
    check(statuses == [202] * count, f"the strategy invoked {count} times asynchronously", statuses)
    deadline = time.monotonic() + 300
    while True:
        bodies = stack.queues.poll(EVERYTHING)
        started = {
            b["detail"]["correlation_id"]
            for b in bodies
            if b["detail-type"] == "WorkflowStarted" and b["detail"]["correlation_id"] not in seen
        }
        outcomes = {
            b["detail"]["correlation_id"]: b
            for b in bodies
            if b["detail-type"] in ("WorkflowCompleted", "WorkflowFailed") and b["detail"]["correlation_id"] in started
        }
        if len(started) >= count and len(outcomes) == len(started):
            break
        if time.monotonic() > deadline:
            raise CheckFailed(
                f"{len(started)} of {count} concurrent workflows started, {len(outcomes)} ended within 300 s"
            )
        time.sleep(1)
    check(len(started) == count, f"{count} workflows started at once, each ended", len(started))
    orders = stack.paper_orders()
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
        for b in stack.queues.poll(EVERYTHING)
        if b["detail-type"] == "TradeExecuted" and b["detail"]["correlation_id"] in started
    ]
    placed = sum(int(r.get("orders_placed", 0)) for r in reports)
    check(
        placed == len(orders),
        "the reports' orders_placed add up to the broker's order log",
        (placed, len(orders)),
    )
    account = json.loads(stack.paper.read_text())
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


def duplicates(stack: Stack, chain: dict) -> None:
    plan = chain["RebalancePlanned"]
    path = stack.out / "rebalance-planned.json"
    path.write_text(json.dumps(plan))
    before = stack.paper_orders()
    for _ in range(2):
        stack.publish("--event", str(path))
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(lines) < 2:
        lines = [line for line in stack.function_log("execution", "duplicate delivery", 2) if plan["event_id"] in line]
    check(len(lines) >= 2, "execution saw both redeliveries and skipped them as duplicates", lines)
    trades = [
        b["detail"]["event_id"]
        for b in stack.queues.poll(EVERYTHING)
        if b["detail-type"] == "TradeExecuted" and b["detail"]["causation_id"] == plan["event_id"]
    ]
    check(
        trades == [chain["TradeExecuted"]["event_id"]],
        "the plan's only TradeExecuted is the first one: no second for the redeliveries",
        trades,
    )
    check(stack.paper_orders() == before, "the paper broker still shows one set of orders", len(stack.paper_orders()))


def failures(stack: Stack) -> None:
    bad = example_signal()
    bad["event_id"] = f"signal-generated-bad-{uuid.uuid4()}"
    bad["correlation_id"] = f"workflow-e2e-bad-{uuid.uuid4()}"
    bad["source_module"] = "strategy"
    bad["consolidated_portfolio"]["target_allocations"] = {"SPY": "0.6", "TLT": "0.3"}
    # A bug in a genuine producer: its event is signed, and invalid.
    stack.put_signed("strategy", bad)
    stack.put_raw("alchemiser.strategy", "SignalGenerated", json.dumps({"hello": "not an event"}))
    # A valid workflow right behind the bad events.
    stack.reset_paper_account()
    behind = stack.start_workflow()
    # Every consumer of the type refuses the bad event on its own and records its own dead letter
    # (a redrive goes back to that consumer alone); they arrive in no particular order.
    for consumer in consumers_of("SignalGenerated"):
        record = stack.dlq_records(
            60,
            lambda b, c=consumer: b.get("function") == c and b.get("event_id") == bad["event_id"],
            f"the {consumer}'s permanent failure record of the bad SignalGenerated",
        )
        check(
            record["error_class"] == "permanent"
            and "must sum to 1" in record["reason"]
            and record["event"]["detail"]["event_id"] == bad["event_id"],
            f"a permanent failure lands in the DLQ with its reason and the event ({consumer})",
            record,
        )
    # A valid signal the portfolio stage cannot plan: the broker has no price for its symbol.
    unpriced = stack.python_signal()
    unpriced["source_module"] = "strategy"
    unpriced["consolidated_portfolio"]["target_allocations"] = {"NVDA": "1.0"}
    stack.publish_envelope(unpriced, "alchemiser.strategy", signer="strategy")
    failed = stack.queues.wait_for(
        EVERYTHING,
        lambda b: b["detail-type"] == "WorkflowFailed" and b["detail"]["correlation_id"] == unpriced["correlation_id"],
        60,
        "the portfolio stage's WorkflowFailed",
    )
    check(
        failed["source"] == "alchemiser.portfolio" and failed["detail"]["failure_step"] == "portfolio",
        "a permanent failure in the portfolio stage publishes WorkflowFailed under its own source and step",
        (failed["source"], failed["detail"]["failure_step"]),
    )
    shown = stack.wait_ledger(
        unpriced["correlation_id"], lambda s: s["summary"]["state"] == "failed", 30, "the failed workflow"
    )
    check(
        "NVDA" in shown["summary"]["failure"]["reason"]
        and failed["detail"]["error_details"].get("dead_letter_message_id"),
        "the ledger shows the workflow failed with its reason; the WorkflowFailed names the dead letter",
        (shown["summary"].get("failure"), failed["detail"]["error_details"]),
    )
    junk = stack.dlq_records(
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
    stack.hold_claim(key, lapse_ms)
    stack.put_signed("execution", failed)
    check(stack.wait_record_completed(key, 45), "after a transient failure, Lambda's async retry handled the event")
    transient = [
        line
        for line in stack.function_log("monitor", "being handled by another invocation", 10)
        if failed["event_id"] in line
    ]
    check(len(transient) >= 1, f"the first attempt failed transiently ({len(transient)} transient attempt(s) logged)")
