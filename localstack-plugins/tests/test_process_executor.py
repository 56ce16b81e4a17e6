"""The alchemiser-process Lambda executor: a provided.al2023 function whose bootstrap runs as a local
process, driven by LocalStack's real Lambda service (sync invoke, async retries + OnFailure, EventBridge)."""

import base64
import json
import time
import uuid

from conftest import LOCALSTACK, invoke_json, wait_for_messages


def test_sync_invoke_echoes_payload_with_lambda_env(lambda_client, make_function):
    name = make_function(env={"CUSTOM_VAR": "custom-value"})
    payload = {"hello": "world", "n": 42, "nested": {"list": [1, 2, 3]}}
    first = invoke_json(lambda_client, name, payload, LogType="Tail")
    print(f"[timing] first invoke (cold, process spawn): {first['elapsed'] * 1000:.0f} ms")
    assert first["StatusCode"] == 200
    assert "FunctionError" not in first, first["body"]
    body = first["body"]
    assert body["echo"] == payload
    env = body["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_ENDPOINT_URL"] == LOCALSTACK
    assert env["AWS_ACCESS_KEY_ID"] == "test" and env["AWS_SECRET_ACCESS_KEY"] == "test"
    assert env["CUSTOM_VAR"] == "custom-value"
    assert env["_HANDLER"] == "bootstrap"
    assert env["AWS_SESSION_TOKEN"] is None
    # lambda_runtime (Rust) Config::from_env requires these
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert env["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "10"
    assert body["cwd"] == env["LAMBDA_TASK_ROOT"]
    assert body["invoked_arn"].endswith(f":function:{name}")
    assert int(body["deadline_ms"]) > time.time() * 1000
    # the bootstrap's stdout comes back as the invocation log (LogType=Tail) ...
    tail = base64.b64decode(first["LogResult"]).decode()
    assert "got event" in tail and "START RequestId" in tail and "REPORT RequestId" in tail, tail

    warm = [invoke_json(lambda_client, name, {"i": i}) for i in range(5)]
    assert [w["body"]["echo"] for w in warm] == [{"i": i} for i in range(5)]
    warm_ms = ", ".join(f"{w['elapsed'] * 1000:.0f}" for w in warm)
    print(f"[timing] warm invokes: {warm_ms} ms")


def test_invocation_logs_reach_cloudwatch(lambda_client, make_function):
    from conftest import client

    name = make_function()
    marker = uuid.uuid4().hex
    invoke_json(lambda_client, name, {"marker": marker})
    logs = client("logs")
    deadline = time.monotonic() + 20
    found = False
    while time.monotonic() < deadline and not found:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
            found = any(marker in e["message"] for e in events)
        except logs.exceptions.ResourceNotFoundException:
            pass
        if not found:
            time.sleep(0.5)
    assert found, "bootstrap stdout did not reach CloudWatch Logs group /aws/lambda/<fn>"


def test_function_error_is_reported(lambda_client, make_function):
    name = make_function()
    resp = invoke_json(lambda_client, name, {"fail": "boom on purpose"})
    assert resp["FunctionError"] == "Unhandled"
    assert resp["body"]["errorMessage"] == "boom on purpose"
    assert resp["body"]["errorType"] == "TestFailure"
    # the environment survives a handled error
    assert invoke_json(lambda_client, name, {"ok": 1})["body"]["echo"] == {"ok": 1}


def test_function_env_endpoint_url_wins(lambda_client, make_function):
    name = make_function(env={"AWS_ENDPOINT_URL": "http://127.0.0.1:5050"})
    body = invoke_json(lambda_client, name, {})["body"]
    assert body["env"]["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5050"


def test_runtime_crash_is_an_error_and_next_invoke_recovers(lambda_client, make_function):
    name = make_function()
    assert invoke_json(lambda_client, name, {"warm": 1})["body"]["echo"] == {"warm": 1}
    crashed = invoke_json(lambda_client, name, {"exit": 3})
    assert crashed["FunctionError"] == "Unhandled"
    assert crashed["body"]["errorType"] == "Runtime.ExitError", crashed["body"]
    assert "exit status 3" in crashed["body"]["errorMessage"]
    assert invoke_json(lambda_client, name, {"after": 1})["body"]["echo"] == {"after": 1}


def test_timeout_kills_and_reports(lambda_client, make_function):
    name = make_function(timeout=1)
    t0 = time.monotonic()
    resp = invoke_json(lambda_client, name, {"sleep": 5})
    elapsed = time.monotonic() - t0
    assert resp["FunctionError"] == "Unhandled"
    assert "Task timed out after 1.00 seconds" in resp["body"]["errorMessage"], resp["body"]
    assert elapsed < 4, elapsed
    assert invoke_json(lambda_client, name, {"after": "timeout"})["body"]["echo"] == {"after": "timeout"}


def test_init_error_fails_the_invocation(lambda_client, make_function):
    name = make_function(env={"INIT_FAIL": "1"})
    resp = invoke_json(lambda_client, name, {"x": 1})
    assert resp.get("FunctionError") == "Unhandled", resp


def test_async_failure_is_retried_then_sent_to_on_failure_destination(
    lambda_client, make_function, make_queue, sqs, tmp_path
):
    echo_log = tmp_path / "calls.jsonl"
    name = make_function(env={"ECHO_LOG": str(echo_log)})
    url, arn = make_queue("plugin-test-onfailure")
    lambda_client.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": arn}},
    )
    marker = uuid.uuid4().hex
    resp = lambda_client.invoke(
        FunctionName=name,
        InvocationType="Event",
        Payload=json.dumps({"fail": "async boom", "marker": marker}).encode(),
    )
    assert resp["StatusCode"] == 202
    t0 = time.monotonic()
    records = wait_for_messages(sqs, url, count=1, timeout=90)
    print(f"[timing] async failure -> OnFailure record: {time.monotonic() - t0:.1f}s")
    assert len(records) == 1, records
    record = records[0]
    assert record["requestContext"]["condition"] == "RetriesExhausted", record
    assert record["requestContext"]["approximateInvokeCount"] == 2, record
    assert record["requestPayload"]["marker"] == marker
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "async boom"
    calls = [json.loads(line) for line in echo_log.read_text().splitlines()]
    assert [c["marker"] for c in calls] == [marker, marker], "expected the first attempt + 1 retry"


def test_eventbridge_rule_invokes_the_function(lambda_client, events, make_function, tmp_path):
    echo_log = tmp_path / "events.jsonl"
    name = make_function(env={"ECHO_LOG": str(echo_log)})
    fn_arn = lambda_client.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    bus = f"plugin-test-bus-{uuid.uuid4().hex[:8]}"
    rule = "plugin-test-rule"
    events.create_event_bus(Name=bus)
    try:
        events.put_rule(
            Name=rule,
            EventBusName=bus,
            EventPattern=json.dumps({"source": [{"prefix": "alchemiser."}]}),
        )
        lambda_client.add_permission(
            FunctionName=name,
            StatementId="eb",
            Action="lambda:InvokeFunction",
            Principal="events.amazonaws.com",
        )
        events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "fn", "Arn": fn_arn}])
        marker = uuid.uuid4().hex
        out = events.put_events(
            Entries=[
                {
                    "EventBusName": bus,
                    "Source": "alchemiser.strategy",
                    "DetailType": "SignalGenerated",
                    "Detail": json.dumps({"marker": marker}),
                },
                {
                    "EventBusName": bus,
                    "Source": "other.system",
                    "DetailType": "Ignored",
                    "Detail": json.dumps({"marker": "must-not-arrive"}),
                },
            ]
        )
        assert out["FailedEntryCount"] == 0
        t0 = time.monotonic()
        seen = []
        while time.monotonic() - t0 < 30:
            if echo_log.exists():
                seen = [json.loads(line) for line in echo_log.read_text().splitlines()]
                if seen:
                    break
            time.sleep(0.2)
        print(f"[timing] PutEvents -> Lambda ran: {time.monotonic() - t0:.2f}s")
        assert len(seen) == 1, seen
        event = seen[0]
        assert event["detail"] == {"marker": marker}
        assert event["source"] == "alchemiser.strategy"
        assert event["detail-type"] == "SignalGenerated"
        time.sleep(1)
        assert len(echo_log.read_text().splitlines()) == 1, "non-matching event reached the function"
    finally:
        events.remove_targets(Rule=rule, EventBusName=bus, Ids=["fn"])
        events.delete_rule(Name=rule, EventBusName=bus)
        events.delete_event_bus(Name=bus)


def test_respawned_runtime_that_fails_init_fails_the_invocation_promptly(lambda_client, make_function, tmp_path):
    flag = tmp_path / "crash-on-init"
    name = make_function(env={"INIT_CRASH_IF_EXISTS": str(flag)})
    assert invoke_json(lambda_client, name, {"a": 1})["body"]["echo"] == {"a": 1}
    flag.write_text("1")
    assert invoke_json(lambda_client, name, {"exit": 1})["FunctionError"] == "Unhandled"
    t0 = time.monotonic()
    resp = invoke_json(lambda_client, name, {"b": 2})
    assert resp["FunctionError"] == "Unhandled", resp
    assert resp["body"]["errorType"] == "Runtime.ExitError", resp["body"]
    assert time.monotonic() - t0 < 10
    flag.unlink()
    assert invoke_json(lambda_client, name, {"c": 3})["body"]["echo"] == {"c": 3}


def test_concurrent_invokes_get_separate_processes(lambda_client, make_function):
    from concurrent.futures import ThreadPoolExecutor

    name = make_function()
    t0 = time.monotonic()
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda i: invoke_json(lambda_client, name, {"sleep": 1.5, "i": i}), range(3)))
    elapsed = time.monotonic() - t0
    assert sorted(r["body"]["echo"]["i"] for r in results) == [0, 1, 2]
    print(f"[timing] 3 concurrent 1.5 s invokes took {elapsed:.2f}s")
    assert elapsed < 4.4, f"invocations were serialised ({elapsed:.1f}s)"


def test_bash_curl_runtime_with_chunked_response(lambda_client, make_function):
    from conftest import zip_bootstrap

    name = make_function(zip_bytes=zip_bootstrap("bootstrap.sh"))
    resp = invoke_json(lambda_client, name, {"via": "curl"})
    assert "FunctionError" not in resp, resp["body"]
    assert resp["body"] == {"bash_echo": {"via": "curl"}}


def test_keepalive_runtime_reuses_one_connection(lambda_client, make_function):
    from conftest import zip_bootstrap

    name = make_function(zip_bytes=zip_bootstrap("bootstrap_keepalive"))
    results = [invoke_json(lambda_client, name, {"k": i}) for i in range(4)]
    assert [r["body"]["keepalive_echo"] for r in results] == [{"k": i} for i in range(4)]
    assert len({r["body"]["pid"] for r in results}) == 1, "one process served all invokes"
