"""What each console page must show a person, for scripts/test-console's local runs: reads the
workflows the script recorded (`alchemiser workflows list|show --json` on its ledger) and
writes the pages for tests/console/check.mjs, each with the ids, states, plan rows, fills and
commands it must show, and the markup it must show as text.

Usage: local_spec.py ALCHEMISER LEDGER SEED_JSON OUT_DIR
  writes OUT_DIR/local.json (the pages of LEDGER: `alchemiser run`, a failing run, a WorkflowFailed
  recorded by `invoke monitor`) and OUT_DIR/seeded.json (the ledger seed_ledger wrote, described by
  its SEED_JSON output: every entry kind).
"""

import json
import os
import subprocess
import sys
from urllib.parse import quote

PAYLOAD = "<img src=x onerror=alert(1)>"


def cli(alchemiser, ledger, *args):
    result = subprocess.run(
        [alchemiser, *args, "--ledger", ledger], capture_output=True, text=True, check=False, timeout=60
    )
    if result.returncode != 0:
        sys.exit(f"alchemiser {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def money(amount):
    """As the console writes a dollar amount: sign, $, thousands, cents."""
    sign = "-" if amount.startswith("-") else ""
    whole, _, cents = amount.lstrip("-").partition(".")
    return f"{sign}${int(whole):,}.{(cents + '00')[:2]}"


def page(name, path, contains, **more):
    return {"name": name, "path": path, "contains": contains, **more}


def workflow_path(correlation_id):
    return f"/workflow?id={quote(correlation_id, safe='')}"


def local_pages(alchemiser, ledger):
    summaries = [json.loads(line) for line in cli(alchemiser, ledger, "workflows", "list", "--json").splitlines()]
    by_state = {}
    for summary in summaries:
        by_state.setdefault(summary["state"], []).append(summary["correlation_id"])
    if len(by_state.get("completed", [])) != 1 or len(by_state.get("failed", [])) != 2:
        sys.exit(f"expected one completed and two failed workflows in {ledger}, got {by_state}")
    completed = by_state["completed"][0]
    view = json.loads(cli(alchemiser, ledger, "workflows", "show", completed, "--json"))
    plan_rows = []
    for item in view["plan"]["items"]:
        plan_rows += [item["symbol"], item["action"], money(item["trade_amount"])]
    fills = []
    for order in view["orders"]:
        fills += [order["order_id"], order["status"], f"filled {order['filled_qty']} @ {order['fill_price']}"]
    failed = []
    for correlation_id in by_state["failed"]:
        failed_view = json.loads(cli(alchemiser, ledger, "workflows", "show", correlation_id, "--json"))
        failed.append((correlation_id, failed_view["failure"]["reason"]))
    pages = [
        page("local-overview", "/", ["Last run", "1 completed", "2 failed", "Failures by step"]),
        page("local-workflows", "/workflows", [completed, *by_state["failed"], "completed", "failed"]),
        page(
            "local-workflow-completed",
            workflow_path(completed),
            [completed, "completed", "Timeline", "Causation", "Plan items", *plan_rows, *fills],
        ),
        page("local-orders", "/orders", ["2 orders", "2 filled", *fills]),
        page("local-dead-letters", "/dead-letters", ["No dead letter in this window."]),
        page("local-bad-request", "/workflows?limit=0", ["Bad request", "the `limit` parameter"], status=400),
        page("local-no-such-workflow", workflow_path("workflow-nobody-ran"), ["No such workflow"], status=404),
    ]
    for n, (correlation_id, reason) in enumerate(failed):
        pages.append(
            page(
                f"local-workflow-failed-{n + 1}",
                workflow_path(correlation_id),
                [correlation_id, "failed", "Failure", reason],
                payload=PAYLOAD,
            )
        )
    return pages


def seeded_pages(seed):
    """Pages of the seeded ledger (lib/console/examples/seed_ledger.rs): every entry kind."""
    hostile = seed["hostile"]
    return [
        page(
            "seeded-dead-letters",
            "/dead-letters",
            [
                "waiting",
                "deleted",
                "alchemiser dlq redrive msg-10 --stage STAGE",
                "alchemiser dlq redrive 'm-1; rm -rf ~' --stage STAGE",
            ],
            payload=PAYLOAD,
        ),
        page(
            "seeded-workflow-dead-lettered",
            workflow_path("workflow-seed-00010"),
            ["workflow-seed-00010", "failed", "Dead letters", "alchemiser dlq redrive msg-10 --stage STAGE"],
        ),
        page("seeded-workflow-timed-out", workflow_path("workflow-seed-00022"), ["timed_out", "Timed out"]),
        page(
            "seeded-workflow-shadowed", workflow_path("workflow-seed-00028"), ["Shadow results", "portfolio", "match"]
        ),
        page(
            "seeded-workflow-hostile",
            workflow_path(hostile),
            [hostile, "failed", f"broker said {PAYLOAD}", f"strategy {PAYLOAD}"],
            payload=PAYLOAD,
        ),
        page("seeded-overview", "/?since=7d", ["dead letters waiting", "timed out", "p95 duration"]),
        page("seeded-orders", "/orders?symbol=SPY", ["SPY", "REJECTED", "slippage"]),
    ]


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    alchemiser, ledger, seed_json, out_dir = sys.argv[1:]
    with open(seed_json) as f:
        seed = json.load(f)
    for name, pages in (("local", local_pages(alchemiser, ledger)), ("seeded", seeded_pages(seed))):
        with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
            json.dump(pages, f, indent=1)


if __name__ == "__main__":
    main()
