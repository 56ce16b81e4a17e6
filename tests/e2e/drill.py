#!/usr/bin/env python3
"""The runbooks, drilled on a stage deployed to LocalStack (run by scripts/test-e2e-deploy --drill,
after tests/e2e/workflow.py, on stage e2e):

    drill.py --facts .local/e2e-deploy/e2e/facts.json --alchemiser target/debug/alchemiser

Every block of docs/runbooks.md fenced as ```bash runbook:<scenario> is run as it is written, by
bash, in the LocalStack client environment the runbook's own LocalStack section gives
(`eval "$(scripts/localstack client-env)"`), with `alchemiser` on PATH and only the placeholders
filled in (STAGE, CORRELATION_ID, MESSAGE_ID, FROM, TO, REASON). A block that fails, a block the
drill does not know, or one it does not run fails the drill. The scenarios:

1. start a workflow by hand: it completes;
2. a workflow whose plan went to the dead-letter queue (execution failing transiently through all
   its retries) is swept by hand, found by the runbook's search, shown with its reason, its dead
   letter and the redrive command; the dead letter is shown redrivable; once the cause is gone the
   redrive completes the workflow ("after a failure"); its log search finds it;
3. an invalid event: listed, shown not redrivable, deleted with a reason that its workflow's
   ledger keeps;
4. a stalled workflow (started before the stage's deadline) is timed out by the sweep and listed;
5. a replay of a window of the archive, to every rule and to one rule;
6. rules stopped in a hurry and enabled again by redeploying (the zips already built);
7. halting trading: a marked TODO until the kill switch exists (issue 23).

Prints one `ok` line per proven statement and each scenario's time; exits 1 at the first failure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from stack import (  # this folder is on the path (the script's own)
    EVERYTHING,
    REPO,
    CheckFailed,
    Stack,
    check,
    client,
    example_signal,
    json_lines,
    stack_from_arguments,
    wire_time,
)

RUNBOOKS = REPO / "docs/runbooks.md"
BLOCK = re.compile(
    r"^(?P<indent>[ \t]*)```bash runbook:(?P<name>[a-z0-9-]+)\n(?P<body>.*?)^(?P=indent)```", re.M | re.S
)
PLACEHOLDERS = ("STAGE", "CORRELATION_ID", "MESSAGE_ID", "FROM", "TO", "REASON")
PLACEHOLDER = re.compile(r"\b(" + "|".join(PLACEHOLDERS) + r")\b")
# The blocks the drill runs, and what each scenario is called in its report.
SCENARIOS = {
    "dlq-list",
    "dlq-show",
    "dlq-delete",
    "dlq-redrive",
    "find-failed",
    "show-workflow",
    "start-workflow",
    "workflow-logs",
    "replay-check",
    "replay",
    "rules-state",
    "rules-enable",
    "rules-stop",
    "sweep",
    "timed-out",
    "halt-trading",
    "resume-trading",
    "limit-tripped",
}


class Runbook:
    """The runbook blocks of docs/runbooks.md, run as written with the placeholders filled in."""

    def __init__(self, path: Path, alchemiser: str, out: Path):
        text = path.read_text()
        self.blocks = {m["name"]: textwrap.dedent(m["body"]) for m in BLOCK.finditer(text)}
        self.run_blocks: set[str] = set()
        # `alchemiser` on PATH, as the runbook calls it.
        self.bin = out / "drill-bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        (self.bin / "alchemiser").unlink(missing_ok=True)
        (self.bin / "alchemiser").symlink_to(Path(alchemiser).resolve())
        check(
            set(self.blocks) == SCENARIOS,
            f"docs/runbooks.md has the {len(SCENARIOS)} runbook blocks the drill runs",
            {"missing": sorted(SCENARIOS - set(self.blocks)), "not drilled": sorted(set(self.blocks) - SCENARIOS)},
        )

    def commands(self, name: str) -> list[str]:
        """The block's lines that do something (not comments, not blank)."""
        return [line for line in self.blocks[name].splitlines() if line.strip() and not line.lstrip().startswith("#")]

    def run(self, name: str, timeout: float = 120, **values: str) -> str:
        """Runs block `name` with bash; returns what it printed (stdout and stderr). Fails when it
        fails, or when it uses a placeholder the drill did not fill in."""
        self.run_blocks.add(name)
        body = self.blocks[name]
        unfilled = sorted(set(PLACEHOLDER.findall(body)) - set(values))
        if unfilled:
            raise CheckFailed(f"runbook block {name} uses {unfilled}, which the drill did not fill in")
        filled = PLACEHOLDER.sub(lambda m: values[m.group(1)], body)
        script = 'eval "$(scripts/localstack client-env)"\nset -euo pipefail\n' + filled
        before = {p.name for p in REPO.iterdir()}
        env = dict(os.environ, PATH=f"{self.bin}:{os.environ['PATH']}", ALCHEMISER_DEPLOY_SKIP_BUILD="1")
        started = time.monotonic()
        try:
            result = subprocess.run(
                ["bash", "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired as expired:
            raise CheckFailed(f"runbook block {name} did not finish within {timeout:.0f}s:\n{filled}") from expired
        finally:
            # What a block writes beside the repository (its copies, its payload file) goes.
            for created in {p.name for p in REPO.iterdir()} - before:
                (REPO / created).unlink(missing_ok=True)
        output = result.stdout + result.stderr
        if result.returncode != 0:
            raise CheckFailed(
                f"runbook block {name} exited {result.returncode}:\n{filled}\n--- it printed:\n{output[-3000:]}"
            )
        print(f"      (runbook:{name}, {time.monotonic() - started:.1f}s)", flush=True)
        return output


def workflow_started(correlation: str, at: datetime) -> dict:
    """A valid WorkflowStarted detail of a new workflow, stamped `at`."""
    return {
        "correlation_id": correlation,
        "causation_id": correlation,
        "event_id": f"workflow-started-{uuid.uuid4()}",
        "event_type": "WorkflowStarted",
        "timestamp": wire_time(at),
        "source_module": "strategy",
        "metadata": {},
        "schema_version": "1.0",
        "workflow_type": "trading",
        "requested_by": "drill",
        "configuration": {},
    }


class Drill:
    def __init__(self, stack: Stack, runbook: Runbook):
        self.stack = stack
        self.runbook = runbook
        self.stage = stack.stage
        self.timings: list[tuple[str, float]] = []

    def scenario(self, title: str, work) -> None:
        print(f"-- drill: {title}", flush=True)
        started = time.monotonic()
        work()
        self.timings.append((title, time.monotonic() - started))

    def run(self, name: str, **values: str) -> str:
        return self.runbook.run(name, STAGE=self.stage, **values)

    def dead_letters(self) -> list[dict]:
        result = self.stack.cli("dlq", "list", "--stage", self.stage, "--json")
        return json_lines(result.stdout)

    def wait_dead_letters(self, predicate, count: int, timeout: float, what: str) -> list[dict]:
        deadline = time.monotonic() + timeout
        found: list[dict] = []
        while time.monotonic() < deadline:
            found = [letter for letter in self.dead_letters() if predicate(letter)]
            if len(found) >= count:
                return found
            time.sleep(2)
        raise CheckFailed(f"timed out after {timeout:.0f}s waiting for {what} in the dead-letter queue: {found}")

    # 1
    def start_workflow(self) -> None:
        self.stack.reset_paper_account()
        self.stack.queues.reset()
        self.run("start-workflow")
        outcome = self.stack.strategy_run_outcome()
        check(
            outcome["detail-type"] == "WorkflowCompleted",
            "a workflow started by hand, as runbook 2.3 writes it, completes",
            outcome["detail"].get("failure_reason"),
        )

    # 2
    def failed_workflow_redriven(self) -> None:
        stack = self.stack
        stack.reset_paper_account()
        plan = stack.python_plan(stack.python_signal())
        correlation = plan["correlation_id"]
        # The cause: another invocation holds the plan's claim, so every attempt of execution
        # fails transiently until Lambda's retries run out and the plan goes to the queue.
        claim = f"execution#{plan['event_id']}"
        stack.hold_claim(claim, int(time.time() * 1000) + 15 * 60 * 1000)
        plan["source_module"] = "portfolio"
        stack.publish_envelope(plan, "alchemiser.portfolio", signer="portfolio")
        [letter] = self.wait_dead_letters(
            lambda letter: letter.get("event_id") == plan["event_id"], 1, 90, "the plan, after execution's retries"
        )
        message = letter["message_id"]
        check(letter["kind"] == "lambda-on-failure", "the plan is in the queue after Lambda's retries", letter["kind"])
        swept = self.run("sweep")
        check(f"failed {correlation}" in swept, "the sweep run by hand fails the workflow of the dead letter", swept)
        found = self.run("find-failed")
        check(correlation in found, "the runbook's search finds the failed workflow", found)
        shown = self.run("show-workflow", CORRELATION_ID=correlation)
        check(
            f"dead letter {message}" in shown
            and f"alchemiser dlq redrive {message} --stage {self.stage}" in shown
            and "RetriesExhausted" in shown
            and "failure: at execution" in shown,
            "`workflows show` gives its reason, its dead letter and the command that redrives it",
            shown,
        )
        letter_shown = self.run("dlq-show", MESSAGE_ID=message)
        reason = next((line for line in letter_shown.splitlines() if line.startswith("reason:")), "")
        check(
            "lambda-on-failure" in letter_shown
            and "redrivable:     yes" in letter_shown
            and "RetriesExhausted" in reason
            and "will be retried" not in reason,
            "`dlq show` says it can be redriven, and its reason no longer that it will be retried",
            letter_shown,
        )
        stack.ddb.delete_item(TableName=stack.table, Key={"pk": {"S": claim}})
        redriven = self.run("dlq-redrive", MESSAGE_ID=message)
        check("redriven=1 kept=0" in redriven, "the redrive republished the plan and deleted its message", redriven)
        stack.wait_ledger(
            correlation, lambda s: s["summary"]["state"] == "completed", 90, "the completion after the redrive"
        )
        shown = self.run("show-workflow", CORRELATION_ID=correlation)
        check(
            "completed after a failure" in shown.splitlines()[0],
            "the redrive completed the workflow: the ledger shows it completed after a failure",
            shown.splitlines()[0],
        )
        logs = self.run("workflow-logs", CORRELATION_ID=correlation)
        check(correlation in logs, "the runbook's log search prints the workflow's log lines", logs[-500:])

    # 3
    def invalid_event_deleted(self) -> None:
        stack = self.stack
        correlation = f"workflow-drill-invalid-{uuid.uuid4()}"
        started = workflow_started(correlation, datetime.now(UTC))
        stack.put_signed("strategy", started)
        stack.wait_ledger(correlation, lambda s: True, 30, "the workflow of the invalid event")
        signal = example_signal()
        signal.update(
            correlation_id=correlation,
            causation_id=started["event_id"],
            event_id=f"signal-generated-drill-invalid-{uuid.uuid4()}",
            source_module="strategy",
            timestamp=wire_time(),
        )
        signal["consolidated_portfolio"]["target_allocations"] = {"SPY": "0.6", "TLT": "0.3"}
        stack.put_signed("strategy", signal)
        # Every consumer of a SignalGenerated refuses it: the portfolio and the monitor.
        letters = self.wait_dead_letters(
            lambda letter: letter.get("event_id") == signal["event_id"], 2, 60, "the invalid signal's records"
        )
        listed = self.run("dlq-list")
        check(all(letter["message_id"] in listed for letter in letters), "`dlq list` lists them", listed[-1500:])
        for letter in letters:
            message = letter["message_id"]
            shown = self.run("dlq-show", MESSAGE_ID=message)
            check(
                "function-failure" in shown and "redrivable:     no" in shown and "must sum to 1" in shown,
                f"`dlq show` says why {letter['origin']}'s record can never be redriven",
                shown,
            )
            deleted = self.run(
                "dlq-delete",
                MESSAGE_ID=message,
                REASON="drill: a signal whose weights do not sum to 1, never redrivable",
            )
            check(
                f"deleted {message}" in deleted and f"noted in the ledger of workflow {correlation}" in deleted,
                "`dlq delete` deletes it and notes why in its workflow's ledger",
                deleted,
            )
        left = [letter["message_id"] for letter in self.dead_letters()]
        check(
            not {letter["message_id"] for letter in letters} & set(left), "both records are gone from the queue", left
        )
        shown = self.run("show-workflow", CORRELATION_ID=correlation)
        check(
            shown.count("deleted at") == 2 and "never redrivable" in shown,
            "`workflows show` shows both deletions with who and why",
            shown,
        )

    # 4
    def stalled_workflow_swept(self) -> None:
        deadline = int(self.stack.facts["functions"]["monitor"]["environment"].get("WORKFLOW_DEADLINE_SECONDS", "1800"))
        correlation = f"workflow-drill-stalled-{uuid.uuid4()}"
        started_at = datetime.now(UTC) - timedelta(seconds=deadline + 600)
        self.stack.put_signed("strategy", workflow_started(correlation, started_at))
        self.stack.wait_ledger(correlation, lambda s: True, 30, "the stalled workflow")
        swept = self.run("sweep")
        check(f"timed_out {correlation}" in swept, "the sweep run by hand times out the stalled workflow", swept)
        listed = self.run("timed-out")
        check(correlation in listed, "`workflows list --state timed_out` lists it", listed)
        shown = self.run("show-workflow", CORRELATION_ID=correlation)
        check("timed out at" in shown, "`workflows show` says it timed out", shown)

    # 5
    def replay(self) -> None:
        stack = self.stack
        now = datetime.now(UTC)
        correlation = f"workflow-drill-replayed-{uuid.uuid4()}"
        # An event of the window, archived with its time twenty minutes ago.
        response = stack.events.put_events(
            Entries=[
                {
                    "EventBusName": stack.bus,
                    "Source": "alchemiser.strategy",
                    "DetailType": "WorkflowStarted",
                    "Detail": json.dumps(
                        stack.sign(workflow_started(correlation, now - timedelta(minutes=20)), "strategy")
                    ),
                    "Time": now - timedelta(minutes=20),
                }
            ]
        )
        check(response["FailedEntryCount"] == 0, "an event of twenty minutes ago is on the bus", response)
        stack.queues.wait_for(EVERYTHING, lambda b: b["detail"]["correlation_id"] == correlation, 30, "the event, live")
        stack.queues.reset()
        checked = self.run("replay-check")
        check(
            f"alchemiser-event-archive-{self.stage}" in checked
            and f"alchemiser-execution-events-{self.stage}" in checked,
            "the archive and the rules the runbook names exist",
            checked,
        )
        window = {
            "FROM": (now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "TO": (now - timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        replayed = self.run("replay", **window)
        names = re.findall(r"^replay (\S+) COMPLETED$", replayed, re.M)
        check(len(names) == 2, "both replays of the runbook complete", replayed)
        again = stack.queues.wait_for(
            EVERYTHING,
            lambda b: b["detail"]["correlation_id"] == correlation and b.get("replay-name"),
            30,
            "the replayed event",
        )
        check(again["replay-name"] == names[0], "the window's event is replayed, with the replay's name", again)
        time.sleep(3)
        copies = [b for b in stack.queues.poll(EVERYTHING) if b["detail"]["correlation_id"] == correlation]
        check(
            len(copies) == 1,
            "the replay limited to the execution rule reaches no other rule",
            [c.get("replay-name") for c in copies],
        )

    # 6
    def rules(self) -> None:
        def live() -> set[str]:
            lines = self.run("rules-state").split("\n")
            return {line.split()[-1] for line in lines if line.startswith("alchemiser-") and line.split()}

        cloudformation = client("cloudformation")

        def deployed() -> set[str]:
            body = cloudformation.get_template(StackName=f"Alchemiser-{self.stage}")["TemplateBody"]
            template = json.loads(body) if isinstance(body, str) else body
            return {
                resource["Properties"].get("State", "ENABLED")
                for resource in template["Resources"].values()
                if resource["Type"] == "AWS::Events::Rule"
            }

        check(live() == {"ENABLED"}, "every rule of the stage is ENABLED")
        self.run("rules-stop", timeout=600)
        # LocalStack's CloudFormation cannot update an AWS::Events::Rule (it logs "the update
        # operation is not implemented" and reports UPDATE_COMPLETE): the deployed template is
        # what the command changed, the rules themselves keep their state there.
        check(
            deployed() == {"DISABLED"},
            "stopping the flow in a hurry deploys every rule DISABLED"
            " (the stack's template: LocalStack leaves the rules as they were)",
            deployed(),
        )
        self.run("rules-enable", timeout=600)
        check(deployed() == {"ENABLED"}, "deploying the stage's configuration deploys them ENABLED again", deployed())
        check(live() == {"ENABLED"}, "and the stage's rules are ENABLED")

    # 7
    def halt_trading(self) -> None:
        stack = self.stack
        halted = self.run("halt-trading")
        check("halted" in halted, "the runbook halts the stage", halted)
        # Execution keeps the switch for 5 s: a warm function may still hold the old answer.
        time.sleep(6)
        stack.reset_paper_account()
        outcome = stack.start_workflow()
        details = outcome["detail"].get("error_details", {})
        check(
            outcome["detail-type"] == "WorkflowFailed"
            and details.get("check") == "halted"
            and not stack.paper_orders(),
            "halted, a workflow places no order and fails naming the halt",
            outcome["detail"],
        )
        correlation = outcome["detail"]["correlation_id"]
        found = self.run("limit-tripped", CORRELATION_ID=correlation)
        check(
            correlation in found and '"halted"' in found,
            "section 9's commands find the refused workflow and the check that refused it",
            found[-1500:],
        )
        resumed = self.run("resume-trading")
        check(
            "resumed" in resumed and "INCIDENT" in resumed,
            "the runbook resumes the stage; the history shows who halted it and why",
            resumed,
        )
        time.sleep(6)
        stack.reset_paper_account()
        outcome = stack.start_workflow()
        check(
            outcome["detail-type"] == "WorkflowCompleted",
            "resumed, the next workflow completes",
            outcome["detail"].get("failure_reason"),
        )


def main() -> int:
    stack = stack_from_arguments(__doc__.split("\n\n")[0])
    observing = False
    try:
        drill = Drill(stack, Runbook(RUNBOOKS, stack.alchemiser, stack.out))
        stack.observe()
        observing = True
        drill.scenario("start a workflow by hand (runbook 2.3)", drill.start_workflow)
        drill.scenario(
            "a failed workflow: sweep, search, show, inspect, redrive (runbooks 7.1, 2.1-2.4, 1.2, 1.4)",
            drill.failed_workflow_redriven,
        )
        drill.scenario("an invalid event: list, show, delete (runbook 1.1-1.3)", drill.invalid_event_deleted)
        drill.scenario("a stalled workflow swept (runbook 7.1-7.3)", drill.stalled_workflow_swept)
        drill.scenario("a replay (runbook 3)", drill.replay)
        drill.scenario("halting trading, a refused plan, resuming (runbooks 8, 9)", drill.halt_trading)
        # Redeploying the rules drops targets the test added: stop observing first.
        stack.unobserve()
        observing = False
        drill.scenario("rules stopped and enabled (runbook 4)", drill.rules)
        check(
            drill.runbook.run_blocks == SCENARIOS,
            "every runbook block was run",
            sorted(SCENARIOS - drill.runbook.run_blocks),
        )
    except CheckFailed as failure:
        print(f"FAIL  {failure}", flush=True)
        return 1
    finally:
        if observing:
            stack.unobserve()
    print("== drill timings ==")
    for title, seconds in drill.timings:
        print(f"  {seconds:6.1f}s  {title}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
