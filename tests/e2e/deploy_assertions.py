#!/usr/bin/env python3
"""Assertions on the Alchemiser stack deployed to LocalStack (+ moto for DynamoDB).

    deploy_assertions.py deployed  [--stage e2e] [--rules-state ENABLED] [--json OUT]
    deploy_assertions.py destroyed [--stage e2e]
    deploy_assertions.py forwarding

Run with the LocalStack venv's python (boto3). Endpoints come from LOCALSTACK_ENDPOINT
(default http://127.0.0.1:4566) and MOTO_ENDPOINT (default http://127.0.0.1:5050).
`forwarding` checks, before a deploy, that LocalStack's DynamoDB is moto's (the table needs it).
`deployed` checks what issue 7 step 2 asks for that needs no Rust (bus, archive, DLQ, rules vs
lib/events/routes.json and the stage's owners, targets, functions Active, idempotency table and
workflow ledger in moto) plus the other resources of the stack (issues 20, 21, 23: the order
follow-up queue and its event source mapping, the signing keys, the kill switch, the operator
role, the resource policies as far as LocalStack reports them, the functions' environment);
it prints one line per check and exits 1 on the first failure. With --json it writes the facts
later steps need (names, ARNs, URLs, the functions' environment, the rules by consuming handler,
the follow-up queue, the signing keys, the halt parameter, the operator role).

The stage's settings (owners, architecture, notifications) come from infra/bin/stage-config.ts,
which resolves infra/config/stages.json as the CDK app does; it needs infra/node_modules.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.emulators
from stack import client as stack_client  # noqa: E402 (this folder is on the path: the script's own)
from support import emulators  # noqa: E402 (needs the path above)
from support.emulators import LOCALSTACK, MOTO, REPO, CheckFailed, check  # noqa: E402


def client(service: str, endpoint: str = LOCALSTACK):
    """A client that gives up soon (stack.py's, fail_fast): a hung emulator fails the check
    instead of stalling it."""
    return stack_client(service, endpoint, fail_fast=True)


def error_code(e: ClientError) -> str:
    return e.response.get("Error", {}).get("Code", "")


def stage_config(stage: str) -> dict:
    """The stage's configuration as the CDK app resolves it (infra/bin/stage-config.ts)."""
    run = subprocess.run(
        ["npx", "--no-install", "tsx", "bin/stage-config.ts", stage],
        cwd=REPO / "infra",
        capture_output=True,
        text=True,
        timeout=60,
    )
    if run.returncode != 0:
        raise CheckFailed(f"infra/bin/stage-config.ts {stage} failed: {run.stderr.strip()}")
    return json.loads(run.stdout)


def python_owned_handlers(config: dict) -> list[str]:
    """Handlers whose live owner is the Python system: owned by it, or only shadowed by ours
    (infra/lib/stage-config.ts pythonOwnedHandlers)."""
    return sorted(h for h, owner in config["owners"].items() if owner in ("python", "shadow"))


def python_sources(routing: dict) -> set[str]:
    return {p["source"] for r in routing["routes"] for p in r["producers"] if p["language"] == "python"}


def refused_sources(routing: dict, config: dict) -> set[str]:
    """The Python sources, on a stage where the Python system owns nothing (the bus refuses them
    and no rule or archive pattern matches them: infra/lib/alchemiser-stack.ts)."""
    return set() if python_owned_handlers(config) else python_sources(routing)


def rust_producers(routing: dict) -> list[str]:
    """The handlers that publish, each with a signing key (infra/lib/routing-table.ts rustProducers)."""
    rust = {p["module"] for r in routing["routes"] for p in r["producers"] if p["language"] == "rust"}
    return [h for h in routing["handlers"] if h in rust]


def signers_consumed_by(routing: dict, handler: str) -> list[str]:
    """The Rust producers of what `handler` consumes (infra/lib/routing-table.ts signersConsumedBy)."""
    return sorted(
        {
            p["module"]
            for r in routing["routes"]
            if handler in r["consumers"]
            for p in r["producers"]
            if p["language"] == "rust"
        }
    )


def unsigned_sources(routing: dict, config: dict) -> str:
    """UNSIGNED_SOURCES (infra/lib/routing-table.ts pythonSourcesOwnedBy)."""
    owned = set(python_owned_handlers(config))
    modules = {o["python_module"] for o in routing["ownable"] if o["handler"] in owned}
    sources = set()
    for route in routing["routes"]:
        rust = [p for p in route["producers"] if p["language"] == "rust"]
        whole_job = bool(rust) and all(p["module"] in owned for p in rust)
        for p in route["producers"]:
            if p["language"] == "python" and (whole_job or p["module"] in modules):
                sources.add(p["source"])
    return ",".join(sorted(sources))


def strategy_cron(run_at: dict) -> str:
    """The strategy schedule's cron in New York time (infra/lib/strategy-schedule.ts)."""
    offset = run_at["offsetMinutes"]
    # Before the early (13:00) and the regular (16:00) close, or after the open (09:30).
    times = [13 * 60 - offset, 16 * 60 - offset] if run_at["anchor"] == "close" else [9 * 60 + 30 + offset]
    hours = ",".join(str(t // 60) for t in times)
    return f"cron({times[0] % 60} {hours} ? * MON-FRI *)"


RISK_LIMIT_VARIABLES = {
    "maxOrderNotional": "MAX_ORDER_NOTIONAL",
    "maxPlanTurnover": "MAX_PLAN_TURNOVER",
    "maxDailyBuyNotional": "MAX_DAILY_BUY_NOTIONAL",
    "maxDailyOrders": "MAX_DAILY_ORDERS",
    "maxFailedSellNotional": "MAX_FAILED_SELL_NOTIONAL",
    "buyAllowList": "BUY_ALLOW_LIST",
}


def risk_limit_environment(limits: dict) -> dict[str, str]:
    """Execution's variables for the limits the stage sets (infra/lib/alchemiser-stack.ts riskLimitEnvironment)."""
    return {
        RISK_LIMIT_VARIABLES[key]: ",".join(value) if isinstance(value, list) else str(value)
        for key, value in limits.items()
    }


def expected_rules(routing: dict, config: dict) -> dict[str, dict]:
    """Rule name -> its routes.json entry: every rule but those of Python-owned handlers, without
    the refused (Python) sources (infra/lib/routing-rules.ts rulesOwnedHere, ruleNameFor)."""
    owners = config["owners"]
    refused = refused_sources(routing, config)
    return {
        f"{rule['name']}-{config['stage']}": {**rule, "sources": [s for s in rule["sources"] if s not in refused]}
        for rule in routing["rules"]
        if owners.get(rule["handler"], "rust") != "python"
    }


def notification_rules(routing: dict, config: dict) -> dict[str, dict]:
    """Rule name -> the pattern of the workflow notification rules (infra/lib/workflow-notifications.ts)."""
    notified = {"WorkflowFailed": "workflow-failed"}
    if config["notifyOnCompleted"]:
        notified["WorkflowCompleted"] = "workflow-completed"
    rules = {}
    refused = refused_sources(routing, config)
    for event_type, label in notified.items():
        route = next(r for r in routing["routes"] if r["event_type"] == event_type)
        sources = sorted({p["source"] for p in route["producers"]} - refused)
        rules[f"alchemiser-notify-{label}-{config['stage']}"] = {"source": sources, "detail-type": [event_type]}
    return rules


def assert_deployed(args) -> dict:
    stage = args.stage
    routing = json.loads(args.routes.read_text())
    config = stage_config(stage)
    facts: dict = {"stage": stage, "localstack": LOCALSTACK, "moto": MOTO}
    cfn, events, sqs, lam = client("cloudformation"), client("events"), client("sqs"), client("lambda")

    # --- the stack and every resource in it
    stack_name = f"Alchemiser-{stage}"
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    check(
        stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"),
        f"stack {stack_name} {stack['StackStatus']}",
        stack.get("StackStatusReason", ""),
    )
    resources = []
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        resources += page["StackResourceSummaries"]
    bad = [
        f"{r['LogicalResourceId']} ({r['ResourceType']}) {r['ResourceStatus']} id={r.get('PhysicalResourceId')}"
        for r in resources
        if not r["ResourceStatus"].endswith("_COMPLETE") or r.get("PhysicalResourceId") in (None, "", "unknown")
    ]
    check(not bad, f"all {len(resources)} stack resources complete with a physical id (none faked as 'unknown')", bad)
    facts["outputs"] = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    # --- bus
    bus_name = f"alchemiser-trading-events-{stage}"
    bus = events.describe_event_bus(Name=bus_name)
    check(bus["Name"] == bus_name, f"bus {bus_name} exists")
    # One AWS::Events::EventBusPolicy per statement; LocalStack's provider replaces the whole policy
    # with each, so it reports one of them (whichever came last): check that one is ours.
    policy = json.loads(bus.get("Policy") or "{}")
    want_sids = {f"cdk-ThisAccountOnly-{stage}"} | {f"cdk-ReserveSource-{h}-{stage}" for h in rust_producers(routing)}
    if refused_sources(routing, config):
        want_sids.add(f"cdk-RefusePythonSources-{stage}")
    statements = policy.get("Statement", [])
    check(
        statements
        and all(s.get("Action") == "events:PutEvents" and s.get("Sid") in want_sids for s in statements)
        and all(s["Effect"] == "Deny" for s in statements if s["Sid"] != f"cdk-ThisAccountOnly-{stage}"),
        f"bus policy: PutEvents statements among the {len(want_sids)} of the stack (this account; sources reserved)",
        policy,
    )
    facts["bus_name"], facts["bus_arn"] = bus_name, bus["Arn"]

    # --- archive
    archive_name = f"alchemiser-event-archive-{stage}"
    archive = events.describe_archive(ArchiveName=archive_name)
    check(
        archive.get("RetentionDays") == 365, f"archive {archive_name} RetentionDays 365", archive.get("RetentionDays")
    )
    check(archive["EventSourceArn"] == bus["Arn"], "archive source is the bus", archive["EventSourceArn"])
    # With a Python owner every alchemiser.* event; without, exactly the Rust sources.
    if python_owned_handlers(config):
        want_archive = {"source": [{"prefix": "alchemiser."}]}
    else:
        want_archive = {"source": sorted(f"{routing['source_prefix']}.{h}" for h in rust_producers(routing))}
    check(
        json.loads(archive["EventPattern"]) == want_archive,
        f"archive pattern {json.dumps(want_archive)}",
        archive["EventPattern"],
    )

    # --- queues
    queues = {}
    for kind in ("dlq", "outbox"):
        qname = f"alchemiser-event-{kind}-{stage}"
        url = sqs.get_queue_url(QueueName=qname)["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        check(
            attrs.get("MessageRetentionPeriod") == str(14 * 24 * 3600),
            f"queue {qname} exists, 14-day retention",
            attrs.get("MessageRetentionPeriod"),
        )
        queues[kind] = {"name": qname, "url": url, "arn": attrs["QueueArn"]}
    facts["dlq_url"], facts["dlq_arn"] = queues["dlq"]["url"], queues["dlq"]["arn"]
    facts["outbox_url"] = queues["outbox"]["url"]

    # --- execution's order follow-up queue (issue 20)
    follow_up_name = f"alchemiser-order-follow-up-{stage}"
    follow_up_url = sqs.get_queue_url(QueueName=follow_up_name)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=follow_up_url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attrs.get("RedrivePolicy") or "{}")
    check(
        attrs.get("VisibilityTimeout") == "180"
        and redrive.get("deadLetterTargetArn") == queues["dlq"]["arn"]
        and int(redrive.get("maxReceiveCount", 0)) == 5,
        f"queue {follow_up_name}: visibility 180 s, to the DLQ after 5 receives",
        attrs,
    )
    facts["follow_up_queue_url"], facts["follow_up_queue_arn"] = follow_up_url, attrs["QueueArn"]

    # --- signing keys (issue 21): one HMAC key per producing handler
    kms = client("kms")
    signing_keys = {}
    for handler in rust_producers(routing):
        alias = f"alias/alchemiser-{stage}-{handler}-signing"
        meta = kms.describe_key(KeyId=alias)["KeyMetadata"]
        check(
            meta.get("KeySpec") == "HMAC_256" and meta.get("KeyUsage") == "GENERATE_VERIFY_MAC",
            f"KMS key {alias}: HMAC_256, GENERATE_VERIFY_MAC",
            meta,
        )
        signing_keys[handler] = meta["Arn"]
    facts["signing_key_arns"] = signing_keys

    # --- kill switch (issue 23)
    halt_name = f"/alchemiser/{stage}/trading-halt"
    halt = client("ssm").get_parameter(Name=halt_name)["Parameter"]
    check(
        halt["Type"] == "String" and json.loads(halt["Value"]) == {"halted": False},
        f'SSM parameter {halt_name} = {{"halted": false}}',
        halt,
    )
    facts["trading_halt_parameter"] = halt_name

    # --- the operator role
    operator = client("iam").get_role(RoleName=f"alchemiser-operator-{stage}")["Role"]
    facts["operator_role_arn"] = operator["Arn"]
    check(operator["RoleName"] == f"alchemiser-operator-{stage}", f"role alchemiser-operator-{stage} exists")

    # --- functions
    functions = {}
    for handler in routing["handlers"]:
        fname = f"alchemiser-{handler}-{stage}"
        cfg = lam.get_function_configuration(FunctionName=fname)
        check(
            cfg["State"] == "Active" and cfg.get("LastUpdateStatus") == "Successful",
            f"function {fname} Active",
            f"{cfg['State']} {cfg.get('StateReason', '')}",
        )
        check(
            cfg["Runtime"] == "provided.al2023"
            and cfg["Handler"] == "bootstrap"
            and cfg.get("Architectures") == [config["architecture"]],
            f"function {fname} provided.al2023/bootstrap on {config['architecture']}",
            f"{cfg['Runtime']} {cfg['Handler']} {cfg.get('Architectures')}",
        )
        check(
            cfg.get("TracingConfig", {}).get("Mode") == "Active",
            f"function {fname} X-Ray tracing Active",
            cfg.get("TracingConfig"),
        )
        mode = "shadow" if config["owners"].get(handler) == "shadow" else "live"
        env = cfg.get("Environment", {}).get("Variables", {})
        check(env.get("ALCHEMISER_MODE") == mode, f"function {fname} ALCHEMISER_MODE={mode}", env)
        invoke_cfg = lam.get_function_event_invoke_config(FunctionName=fname)
        on_failure = invoke_cfg.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        check(
            on_failure == queues["dlq"]["arn"], f"function {fname} async on-failure destination is the DLQ", on_failure
        )
        want_env = {
            "VERIFY_KEY_IDS": {s: signing_keys[s] for s in signers_consumed_by(routing, handler)},
            "UNSIGNED_SOURCES": unsigned_sources(routing, config),
        }
        if handler in signing_keys:
            want_env["SIGNING_KEY_ID"] = signing_keys[handler]
        if handler in ("execution", "strategy"):
            want_env["TRADING_HALT_PARAMETER"] = halt_name
        if handler == "execution":
            want_env["FOLLOW_UP_QUEUE_URL"] = follow_up_url
            want_env.update(risk_limit_environment(config["riskLimits"]))
        if handler == "strategy":
            want_env["STRATEGY_RUN_AT"] = config["strategyRunAt"]
        got_env = {name: env.get(name) for name in want_env}
        for name in ("VERIFY_KEY_IDS", "STRATEGY_RUN_AT"):
            if name in got_env and got_env[name] is not None:
                got_env[name] = json.loads(got_env[name])
        check(got_env == want_env, f"function {fname} environment: {', '.join(sorted(want_env))}", got_env)
        functions[handler] = {
            "name": fname,
            "arn": cfg["FunctionArn"],
            "environment": cfg.get("Environment", {}).get("Variables", {}),
        }
    facts["functions"] = functions
    # Matched by ARN as well: LocalStack's FunctionName filter is a substring match, so it also lists
    # the mapping of alchemiser-execution-e2e-mix for alchemiser-execution-e2e.
    mappings = [
        mapping
        for mapping in lam.list_event_source_mappings(FunctionName=functions["execution"]["name"])[
            "EventSourceMappings"
        ]
        if mapping["FunctionArn"] == functions["execution"]["arn"]
    ]
    check(
        len(mappings) == 1
        and mappings[0]["EventSourceArn"] == facts["follow_up_queue_arn"]
        and mappings[0].get("BatchSize") == 1
        and mappings[0].get("FunctionResponseTypes") == ["ReportBatchItemFailures"]
        and (mappings[0].get("State") in ("Disabled", "Disabling")) == (args.rules_state == "DISABLED"),
        f"event source mapping {follow_up_name} -> {functions['execution']['name']}: batch 1, partial batch "
        f"responses, {args.rules_state.lower()} with the rules",
        mappings,
    )
    if args.placeholder_invoke:
        # The placeholder bootstrap prints a line and exits 1: seeing both proves LocalStack ran the
        # zip's bootstrap as a process (the alchemiser-process executor), without Docker.
        fname = functions["monitor"]["name"]
        r = lam.invoke(FunctionName=fname, Payload=b"{}", LogType="Tail")
        logs = base64.b64decode(r.get("LogResult", "")).decode(errors="replace")
        payload = r["Payload"].read().decode(errors="replace")
        # It dies during init, so its stderr line reaches the executor's per-environment log file
        # rather than the invocation's logs: accept the exit status as the proof.
        check(
            r.get("FunctionError") == "Unhandled"
            and ("placeholder artifact deployed" in logs or "exit status 1" in payload),
            f"invoke {fname}: the executor ran the placeholder bootstrap (it exits 1 as designed)",
            f"{r.get('FunctionError')} payload={payload} logs={logs[-300:]}",
        )

    # --- rules: exactly the rules of lib/events/routes.json the stage's owners keep, and the notifications
    rules = []
    for page in events.get_paginator("list_rules").paginate(EventBusName=bus_name):
        rules += page["Rules"]
    # An archive owns a managed rule (Events-Archive-<name>), as in AWS; it is not a route.
    managed = [r["Name"] for r in rules if r.get("ManagedBy") or r["Name"].startswith("Events-Archive-")]
    check(managed == [f"Events-Archive-{archive_name}"], "the archive's managed rule, and no other", managed)
    rules = [r for r in rules if r["Name"] not in managed]
    expected = expected_rules(routing, config)
    notifications = notification_rules(routing, config)
    check(
        sorted(r["Name"] for r in rules) == sorted([*expected, *notifications]),
        f"bus has exactly the {len(expected)} rules of routes.json for its owners"
        f" and {len(notifications)} notification rule(s)",
        sorted(r["Name"] for r in rules),
    )
    topic_arn = None
    facts["rules"] = {}
    for rule in rules:
        targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus_name)["Targets"]
        check(len(targets) == 1, f"rule {rule['Name']} has one target", targets)
        target = targets[0]
        check(
            target.get("DeadLetterConfig", {}).get("Arn") == queues["dlq"]["arn"]
            and "MaximumRetryAttempts" in target.get("RetryPolicy", {}),
            f"rule {rule['Name']} target has a RetryPolicy and the DLQ",
            target,
        )
        check(rule["State"] == args.rules_state, f"rule {rule['Name']} {args.rules_state}", rule["State"])
        if rule["Name"] in notifications:
            want_pattern = notifications[rule["Name"]]
            topic_arn = target["Arn"]
            check(
                topic_arn.endswith(f":alchemiser-workflow-notifications-{stage}")
                and "InputTemplate" in target.get("InputTransformer", {}),
                f"rule {rule['Name']} sends a sentence to the workflow notification topic",
                target,
            )
        else:
            spec = expected[rule["Name"]]
            want_pattern = {"source": spec["sources"], "detail-type": spec["event_types"]}
            fn = functions[spec["handler"]]["arn"]
            check(target["Arn"] == fn, f"rule {rule['Name']} targets only {spec['handler']}", target["Arn"])
            facts["rules"][spec["handler"]] = {
                "name": rule["Name"],
                "arn": rule["Arn"],
                "handler": spec["handler"],
                "event_types": spec["event_types"],
                "sources": spec["sources"],
            }
        check(
            json.loads(rule["EventPattern"]) == want_pattern,
            f"rule {rule['Name']} pattern {json.dumps(want_pattern)}",
            rule["EventPattern"],
        )
    facts["notification_topic_arn"] = topic_arn

    # --- idempotency table, in moto
    table_name = f"alchemiser-idempotency-{stage}"
    ddb = client("dynamodb", MOTO)
    table = ddb.describe_table(TableName=table_name)["Table"]
    check(
        table["TableStatus"] == "ACTIVE"
        and table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
        and table.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST",
        f"table {table_name} in moto ({MOTO}): ACTIVE, key pk, pay per request",
        table,
    )
    ttl = ddb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    check(
        ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"},
        f"table {table_name} TTL on expires_at",
        ttl,
    )
    facts["table_name"], facts["table_arn"] = table_name, table["TableArn"]

    # --- workflow ledger, in moto
    ledger_name = f"alchemiser-workflow-ledger-{stage}"
    ledger = ddb.describe_table(TableName=ledger_name)["Table"]
    indexes = {
        i["IndexName"]: (i["KeySchema"], i["Projection"]["ProjectionType"])
        for i in ledger.get("GlobalSecondaryIndexes", [])
    }
    check(
        ledger["TableStatus"] == "ACTIVE"
        and ledger["KeySchema"]
        == [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
        and indexes
        == {
            "by_start": (
                [{"AttributeName": "gsi1pk", "KeyType": "HASH"}, {"AttributeName": "gsi1sk", "KeyType": "RANGE"}],
                "ALL",
            ),
            "open_by_start": (
                [{"AttributeName": "gsi2pk", "KeyType": "HASH"}, {"AttributeName": "gsi2sk", "KeyType": "RANGE"}],
                "ALL",
            ),
        },
        f"table {ledger_name} in moto: ACTIVE, keys pk/sk, indexes by_start (gsi1pk/gsi1sk) and open_by_start "
        "(gsi2pk/gsi2sk), ALL",
        ledger,
    )
    ttl = ddb.describe_time_to_live(TableName=ledger_name)["TimeToLiveDescription"]
    check(
        ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"},
        f"table {ledger_name} TTL on expires_at",
        ttl,
    )
    facts["ledger_table_name"] = ledger_name

    # --- the rest of the stack: schedules, secret, alarms, dashboard, SNS, SSM
    scheduler = client("scheduler")
    if config["owners"]["strategy"] == "python":
        try:
            scheduler.get_schedule(Name=f"alchemiser-strategy-{stage}")
            raise CheckFailed(f"schedule alchemiser-strategy-{stage} exists, but the Python system owns the strategy")
        except ClientError as e:
            check(error_code(e) == "ResourceNotFoundException", "no strategy schedule (Python owns the strategy)", e)
    else:
        sched = scheduler.get_schedule(Name=f"alchemiser-strategy-{stage}")
        cron = strategy_cron(config["strategyRunAt"])
        check(
            sched["Target"]["Arn"] == functions["strategy"]["arn"]
            and sched["ScheduleExpression"] == cron
            and sched["ScheduleExpressionTimezone"] == "America/New_York",
            f"schedule alchemiser-strategy-{stage} ({sched['State']}) targets the strategy function, {cron} New York",
            sched,
        )
    sweep = scheduler.get_schedule(Name=f"alchemiser-workflow-sweep-{stage}")
    check(
        sweep["Target"]["Arn"] == functions["monitor"]["arn"] and sweep["ScheduleExpression"] == "rate(5 minutes)",
        f"schedule alchemiser-workflow-sweep-{stage} ({sweep['State']}) runs the monitor every 5 minutes",
        sweep,
    )
    secrets = client("secretsmanager")
    secret = secrets.describe_secret(SecretId=f"alchemiser/{stage}/broker")
    check(secret["Name"] == f"alchemiser/{stage}/broker", f"secret alchemiser/{stage}/broker exists")
    secret_policy = json.loads(secrets.get_resource_policy(SecretId=secret["ARN"]).get("ResourcePolicy") or "{}")
    check(
        any(
            st.get("Effect") == "Deny" and st.get("Action") == "secretsmanager:GetSecretValue"
            for st in secret_policy.get("Statement", [])
        ),
        f"secret alchemiser/{stage}/broker: its resource policy denies GetSecretValue to all but the broker users",
        secret_policy,
    )
    cw = client("cloudwatch")
    # The stack's own alarms, not a name prefix: alchemiser-e2e- also begins every e2e-mix alarm.
    alarm_names = [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::CloudWatch::Alarm"]
    alarms = [
        alarm
        for first in range(0, len(alarm_names), 100)  # describe_alarms takes at most 100 names
        for alarm in cw.describe_alarms(AlarmNames=alarm_names[first : first + 100])["MetricAlarms"]
    ]
    # DLQ + outbox + order follow-ups late, errors + throttles per function, failed invocations per rule,
    # workflows failed and timed out, orders failed, and a plan refused by each pre-trade limit or the halt
    limit_checks = [
        "halted",
        "target_weights",
        "buys_over_equity",
        "max_order_notional",
        "max_plan_turnover",
        "max_daily_buy_notional",
        "max_daily_orders",
        "max_failed_sell_notional",
        "buy_allow_list",
    ]
    want_alarms = 3 + 2 * len(functions) + len(expected) + len(notifications) + 3 + len(limit_checks)
    check(len(alarms) == want_alarms, f"{want_alarms} alarms", sorted(a["AlarmName"] for a in alarms))
    names = {a["AlarmName"] for a in alarms}
    missing = [c for c in limit_checks if f"alchemiser-{stage}-plan-refused-{c.replace('_', '-')}" not in names]
    check(not missing, "an alarm for each pre-trade limit and the halt (PlansRefused by check)", missing)
    body = json.loads(cw.get_dashboard(DashboardName=f"alchemiser-{stage}")["DashboardBody"])
    check(len(body.get("widgets", [])) > 0, f"dashboard alchemiser-{stage} ({len(body['widgets'])} widgets)")
    sns = client("sns")
    topics = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    alarm_topic = next((t for t in topics if t.endswith(f":alchemiser-alarms-{stage}")), None)
    check(alarm_topic is not None, f"SNS topic alchemiser-alarms-{stage}", topics)
    topic_policy = json.loads(sns.get_topic_attributes(TopicArn=alarm_topic)["Attributes"].get("Policy") or "{}")
    check(
        any(
            st.get("Effect") == "Allow" and st.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
            for st in topic_policy.get("Statement", [])
        ),
        f"SNS topic alchemiser-alarms-{stage}: CloudWatch may publish (the stage's alarms)",
        topic_policy,
    )
    check_alarm_reaches_its_topic(cw, sns, alarm_topic, f"alchemiser-{stage}-dlq-not-empty")
    check(topic_arn in topics, f"SNS topic alchemiser-workflow-notifications-{stage}", topics)
    pages = client("ssm").get_paginator("get_parameters_by_path").paginate(Path=f"/alchemiser/{stage}/")
    got = {p["Name"].rsplit("/", 1)[1]: p["Value"] for page in pages for p in page["Parameters"]}
    check(
        got.get("bus-name") == bus_name
        and got.get("idempotency-table") == table_name
        and got.get("ledger-table") == ledger_name
        and got.get("notification-topic-arn") == topic_arn
        and got.get("dlq-url") == queues["dlq"]["url"]
        and got.get("follow-up-queue-url") == follow_up_url
        and got.get("operator-role-arn") == operator["Arn"]
        and got.get("trading-halt") is not None,
        f"SSM parameters /alchemiser/{stage}/* ({', '.join(sorted(got))})",
        got,
    )
    check_signing_keys(stage, json.loads(got.get("authenticity") or "{}"))
    return facts


def check_alarm_reaches_its_topic(cw, sns, topic: str, alarm_name: str) -> None:
    """An alarm that goes to ALARM publishes through the alarm topic to a subscriber (a probe queue
    subscribed for the check), then is set back to OK."""
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=f"alarm-probe-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    subscription = None
    try:
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
        cw.set_alarm_state(AlarmName=alarm_name, StateValue="ALARM", StateReason="deploy assertion: alarm probe")
        deadline = time.monotonic() + 20
        notified = None
        while notified is None and time.monotonic() < deadline:
            for message in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", []):
                body = json.loads(json.loads(message["Body"]).get("Message", "{}"))
                if body.get("AlarmName") == alarm_name and body.get("NewStateValue") == "ALARM":
                    notified = body
        check(
            notified is not None,
            f"alarm {alarm_name} in ALARM notifies the alarm topic's subscribers",
            "no notification within 20 s",
        )
    finally:
        cw.set_alarm_state(AlarmName=alarm_name, StateValue="OK", StateReason="deploy assertion: probe over")
        if subscription is not None:
            sns.unsubscribe(SubscriptionArn=subscription)
        sqs.delete_queue(QueueUrl=url)


def check_signing_keys(stage, authenticity):
    """Each producer's HMAC key, as the stage's authenticity parameter names it, signs and verifies in KMS."""
    kms = client("kms")
    keys = authenticity.get("verify_key_ids", {})
    check(
        sorted(keys) == ["execution", "monitor", "portfolio", "strategy"],
        f"/alchemiser/{stage}/authenticity names a key for each producer",
        authenticity,
    )
    for signer, key_id in sorted(keys.items()):
        alias = kms.describe_key(KeyId=f"alias/alchemiser-{stage}-{signer}-signing")["KeyMetadata"]
        digest = bytes(range(32))
        mac = kms.generate_mac(KeyId=key_id, Message=digest, MacAlgorithm="HMAC_SHA_256")["Mac"]
        valid = kms.verify_mac(KeyId=key_id, Message=digest, Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"]
        try:
            kms.verify_mac(KeyId=key_id, Message=bytes(32), Mac=mac, MacAlgorithm="HMAC_SHA_256")
            altered_refused = False
        except kms.exceptions.KMSInvalidMacException:
            altered_refused = True
        check(
            alias["Arn"] == key_id and alias["KeySpec"] == "HMAC_256" and valid and altered_refused,
            f"signing key of {signer}: alias/alchemiser-{stage}-{signer}-signing, HMAC_256, "
            "its MAC verifies and an altered message's does not",
            alias,
        )


def assert_forwarding(_args) -> dict:
    """LocalStack's DynamoDB is moto's: a table created in moto is listed by LocalStack."""
    config = {"retries": {"max_attempts": 1}, "connect_timeout": 3, "read_timeout": 10}
    localstack = emulators.client("dynamodb", LOCALSTACK, **config)
    moto = emulators.client("dynamodb", MOTO, **config)
    # One table per probing process: two stages tested at once probe at the same moment.
    probe = f"alchemiser-forwarder-probe-{os.getpid()}"
    moto.create_table(
        TableName=probe,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        tables = localstack.list_tables()["TableNames"]
    finally:
        moto.delete_table(TableName=probe)
    check(probe in tables, f"LocalStack ({LOCALSTACK}) lists a table created in moto ({MOTO})", tables)
    return {}


def assert_destroyed(args) -> dict:
    stage = args.stage
    events, lam, cfn = client("events"), client("lambda"), client("cloudformation")
    try:
        events.describe_event_bus(Name=f"alchemiser-trading-events-{stage}")
        raise CheckFailed("bus still exists after destroy")
    except ClientError as e:
        check(error_code(e) == "ResourceNotFoundException", f"bus alchemiser-trading-events-{stage} gone", e)
    try:
        status = cfn.describe_stacks(StackName=f"Alchemiser-{stage}")["Stacks"][0]["StackStatus"]
        check(status == "DELETE_COMPLETE", f"stack Alchemiser-{stage} deleted", status)
    except ClientError as e:
        check("does not exist" in str(e), f"stack Alchemiser-{stage} deleted", e)
    # The stage's own names: a suffix would also match another stage's (e2e-mix ends in -mix).
    handlers = json.loads(args.routes.read_text())["handlers"]
    left = [
        f["FunctionName"]
        for page in lam.get_paginator("list_functions").paginate()
        for f in page["Functions"]
        if f["FunctionName"] in {f"alchemiser-{handler}-{stage}" for handler in handlers}
    ]
    check(not left, "functions gone", left)
    tables = client("dynamodb", MOTO).list_tables()["TableNames"]
    check(f"alchemiser-idempotency-{stage}" not in tables, "idempotency table gone from moto", tables)
    check(f"alchemiser-workflow-ledger-{stage}" not in tables, "workflow ledger gone from moto", tables)
    return {"stage": stage}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["deployed", "destroyed", "forwarding"])
    p.add_argument("--stage", default="e2e")
    p.add_argument("--rules-state", default="ENABLED", choices=["ENABLED", "DISABLED"])
    p.add_argument("--routes", type=Path, default=REPO / "lib" / "events" / "routes.json")
    p.add_argument(
        "--placeholder-invoke",
        action="store_true",
        help="invoke one function and expect the placeholder bootstrap's failure",
    )
    p.add_argument("--json", type=Path, help="write the facts (names, ARNs, env) here")
    args = p.parse_args()
    try:
        assertions = {"deployed": assert_deployed, "destroyed": assert_destroyed, "forwarding": assert_forwarding}
        facts = assertions[args.mode](args)
    except (CheckFailed, ClientError, subprocess.TimeoutExpired) as e:
        print(f"FAIL  {e}", file=sys.stderr)
        return 1
    if args.json:
        args.json.write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
