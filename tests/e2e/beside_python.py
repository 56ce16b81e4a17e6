"""The end-to-end scenarios of a stage beside the Python system (stage e2e-mix: strategy and
execution owned by Python, portfolio in shadow, a one-minute workflow deadline), steps 7-9 of
tests/e2e/workflow.py: the Python-owned execution receives nothing, the shadow portfolio and
`shadow diff`, and the sweep timing out the workflows that never execute. Each is a function of
the deployed `Stack` (stack.py), proving its statements with `check`.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from stack import EVERYTHING, WIRE_TIME, Stack, check, json_lines, scheduler_tick


def python_owned_execution_receives_nothing(stack: Stack) -> dict:
    stack.reset_paper_account()
    signal = stack.python_signal()
    plan = stack.python_plan(signal)
    stack.publish_envelope(plan, "alchemiser.portfolio_v2.handlers")
    stack.wait_ledger(
        plan["correlation_id"],
        lambda s: any(e.get("event_id") == plan["event_id"] for e in s["entries"]),
        30,
        "the Python plan, recorded by the monitor",
    )
    time.sleep(5)
    check(
        stack.record(f"execution#{plan['event_id']}") is None,
        "with execution owned by Python, the Rust execution function never received the plan",
    )
    trades = [b for b in stack.queues.poll(EVERYTHING) if b["detail"].get("causation_id") == plan["event_id"]]
    check(not trades and not stack.paper_orders(), "nothing traded it and nothing followed it", trades)
    return plan


def shadow_portfolio(stack: Stack, change=None) -> dict:
    """A Python signal; the shadow's plan is recorded, not published; the Python plan follows."""
    signal = stack.python_signal()
    stack.publish_envelope(signal, "alchemiser.strategy_v2.handlers")
    shown = stack.wait_ledger(
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
        stack.wait_record_completed(f"portfolio#{signal['event_id']}#shadow", 10),
        "under its own idempotency key (portfolio#<event id>#shadow)",
    )
    live = [
        b
        for b in stack.queues.poll(EVERYTHING)
        if b["detail"].get("correlation_id") == signal["correlation_id"] and b["source"] == "alchemiser.portfolio"
    ]
    check(not live, "the shadow published nothing live", live)
    plan = stack.python_plan(signal)
    if change is not None:
        change(plan)
    stack.publish_envelope(plan, "alchemiser.portfolio_v2.handlers")
    stack.wait_ledger(
        signal["correlation_id"],
        lambda s: any(e.get("event_id") == plan["event_id"] for e in s["entries"]),
        30,
        "the Python plan",
    )
    return plan


def shadow_diff(stack: Stack) -> tuple[dict, dict]:
    stack.reset_paper_account()
    same = shadow_portfolio(stack)

    def nudge(plan):
        item = next(i for i in plan["rebalance_plan"]["items"] if i["action"] != "HOLD")
        item["target_value"] = f"{float(item['target_value']) + 1:.2f}"

    changed = shadow_portfolio(stack, change=nudge)
    result = stack.cli("shadow", "diff", "--stage", stack.stage, "--json", ok_codes=(1,))
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


def sweep_times_out(stack: Stack, stalled: list[dict]) -> None:
    deadline = int(stack.facts["functions"]["monitor"]["environment"]["WORKFLOW_DEADLINE_SECONDS"])
    # Every stalled workflow past its deadline: wait for the youngest.
    youngest = max(datetime.strptime(p["timestamp"], WIRE_TIME).replace(tzinfo=UTC) for p in stalled)
    wait = deadline + 2 - (datetime.now(UTC) - youngest).total_seconds()
    if wait > 0:
        time.sleep(wait)
    tick = scheduler_tick("e2e-sweep")
    response = stack.lam.invoke(
        FunctionName=stack.facts["functions"]["monitor"]["name"],
        InvocationType="RequestResponse",
        Payload=json.dumps(tick).encode(),
    )
    check(
        response["StatusCode"] == 200 and "FunctionError" not in response,
        "the sweep ran (as its schedule runs it)",
        response,
    )
    for plan in stalled:
        failed = stack.queues.wait_for(
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
    listed = stack.cli("workflows", "list", "--stage", stack.stage, "--state", "timed_out", "--json").stdout
    timed_out = [summary["correlation_id"] for summary in json_lines(listed)]
    check(
        all(p["correlation_id"] in timed_out for p in stalled),
        "`alchemiser workflows list --state timed_out` lists them",
        timed_out,
    )
