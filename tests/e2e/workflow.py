#!/usr/bin/env python3
"""The end-to-end steps on a stack deployed to LocalStack with the real release builds of the
functions (run by scripts/test-e2e-deploy --real-artifacts), in two phases chosen by the stage's
owners (read from the deployed functions' ALCHEMISER_MODE and rules):

    workflow.py --facts .local/e2e-deploy/e2e/facts.json --alchemiser target/debug/alchemiser

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

Prints one line per proven statement; exits 1 at the first failure. The scenarios are in
rust_owned.py (steps 3-6) and beside_python.py (steps 7-9); what they do to the stack, and read
from it, in stack.py.
"""

from __future__ import annotations

import sys

import beside_python
import rust_owned
from stack import CheckFailed, stack_from_arguments


def main() -> int:
    stack = stack_from_arguments(__doc__.split("\n\n")[0])
    stack.observe()
    try:
        if stack.beside_python():
            print("-- step 7: a consumer owned by Python receives nothing", flush=True)
            first = beside_python.python_owned_execution_receives_nothing(stack)
            print("-- step 8: shadow portfolio and shadow diff", flush=True)
            same, changed = beside_python.shadow_diff(stack)
            print("-- step 9: the sweep times out workflows that never execute", flush=True)
            beside_python.sweep_times_out(stack, [first, same, changed])
        else:
            print("-- step 3: routing proof (Rust and Python sources)", flush=True)
            rust_owned.routing_proof(stack)
            print("-- step 4: whole workflow over LocalStack, and its ledger", flush=True)
            chain = rust_owned.whole_workflow(stack)
            print("-- step 4a: forged plans never trade", flush=True)
            rust_owned.forgeries_never_trade(stack, chain)
            rust_owned.captured_plan_verified_with_the_stage(stack, chain)
            print("-- step 4b: kill switch (halt, a workflow fails naming it, resume)", flush=True)
            rust_owned.halt_and_resume(stack)
            print("-- step 4c: 20 workflows of one account at once", flush=True)
            rust_owned.concurrent_workflows(stack)
            print("-- step 5: duplicates", flush=True)
            rust_owned.duplicates(stack, chain)
            print("-- step 6: failures and bad input", flush=True)
            rust_owned.failures(stack)
    except CheckFailed as failure:
        print(f"FAIL  {failure}", flush=True)
        return 1
    finally:
        stack.unobserve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
