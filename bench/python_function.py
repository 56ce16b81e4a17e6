"""The Python side of the cold-start comparison: a Python Lambda doing the Rust monitor's work on
its first event, with the libraries of the original system -- boto3 and pydantic.

Init (before its first GET /next, as a Python Lambda's module level runs): import boto3 and
pydantic, create the DynamoDB client. Then, on the event: parse it (a pydantic model of the
EventBridge envelope and the WorkflowCompleted detail) and make the DynamoDB calls the Rust monitor
makes for it, in its order, against the same tables in the same moto:

  1. the idempotency claim: a conditional PutItem, `IN_PROGRESS` (lib/lambda's DynamoDbStore.claim:
     the same item, condition and ReturnValuesOnConditionCheckFailure);
  2. the ledger (lib/ledger's Monitor.record on DynamoDbLedger): GetItem of the workflow's summary,
     a conditional PutItem of the event's entry, a Query of the workflow's entries and a conditional
     PutItem of its summary;
  3. the completion: a PutItem, `COMPLETED`, with the (empty) result;

then POST the response. bench/coldstart.py (--count-dynamodb) records both sides' calls and the
report says whether they match. What is not the same: the Rust monitor also checks the event's
source and signature (accepted unsigned here) and validates it with the contract; this function
writes a summary that only counts the entries (the monitor's summarises them).

Run by bench/coldstart.py (it sets AWS_LAMBDA_RUNTIME_API) from scripts/bench, with the
functions' environment (IDEMPOTENCY_TABLE_NAME, LEDGER_TABLE_NAME, AWS_ENDPOINT_URL_DYNAMODB).
"""

import hashlib
import http.client
import json
import os
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import boto3
from pydantic import BaseModel, ConfigDict, Field

HANDLER = "monitor"
RECORD_TTL_S = 366 * 24 * 60 * 60  # lib/lambda IdempotencyConfig::record_ttl
IN_PROGRESS_MARGIN_S = 10  # ... in_progress_margin, after the invocation's deadline
LEDGER_RETENTION_S = 400 * 24 * 60 * 60  # the ledger items' TTL (its value does not change the work)
CLAIMABLE = (
    "attribute_not_exists(pk) OR expires_at < :now_s OR (#status = :in_progress AND in_progress_expires_at < :now_ms)"
)


class BaseEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    correlation_id: str = Field(min_length=1)
    causation_id: str = Field(min_length=1)
    event_id: str = Field(min_length=1)
    event_type: str
    timestamp: datetime
    source_module: str
    source_component: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    schema_version: str = "1.0"


class WorkflowSummary(BaseModel):
    model_config = ConfigDict(extra="allow")

    dry_run: bool = False
    orders_placed: int = 0
    orders_succeeded: int = 0
    plan_id: str | None = None
    total_trade_value: Decimal | None = None
    trades_required: bool | None = None


class WorkflowCompleted(BaseEvent):
    event_type: Literal["WorkflowCompleted"] = "WorkflowCompleted"
    workflow_type: str
    workflow_duration_ms: int
    success: bool
    summary: WorkflowSummary = Field(default_factory=WorkflowSummary)


class Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    version: str = "0"
    id: str
    detail_type: str = Field(alias="detail-type")
    source: str
    account: str
    time: datetime
    region: str
    resources: list[str] = Field(default_factory=list)
    detail: WorkflowCompleted


def s(text: str) -> dict:
    return {"S": text}


def n(value: int) -> dict:
    return {"N": str(value)}


def payload_hash(detail: dict) -> str:
    """sha256 of the canonical JSON (keys sorted, null members dropped), as lib/lambda hashes it."""

    def canonical(value):
        if isinstance(value, dict):
            return {k: canonical(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [canonical(v) for v in value]
        return value

    text = json.dumps(canonical(detail), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def handle(dynamodb, event: Envelope, raw: dict, deadline_ms: int) -> None:
    idempotency, ledger = os.environ["IDEMPOTENCY_TABLE_NAME"], os.environ["LEDGER_TABLE_NAME"]
    now = datetime.now(UTC)
    now_s, now_ms = int(now.timestamp()), int(now.timestamp() * 1000)
    key = f"{HANDLER}#{event.detail.event_id}"
    digest = payload_hash(raw["detail"])
    # 1. The claim.
    dynamodb.put_item(
        TableName=idempotency,
        Item={
            "pk": s(key),
            "status": s("IN_PROGRESS"),
            "in_progress_expires_at": n(max(deadline_ms, now_ms) + IN_PROGRESS_MARGIN_S * 1000),
            "payload_hash": s(digest),
            "expires_at": n(now_s + RECORD_TTL_S),
            "updated_at": s(now.isoformat()),
        },
        ConditionExpression=CLAIMABLE,
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":in_progress": s("IN_PROGRESS"), ":now_s": n(now_s), ":now_ms": n(now_ms)},
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    # 2. The ledger: the summary before, the entry, every entry, the summary after.
    workflow = event.detail.correlation_id
    expires_at = n(now_s + LEDGER_RETENTION_S)
    dynamodb.get_item(TableName=ledger, Key={"pk": s(workflow), "sk": s("summary")}, ConsistentRead=True)
    entry = {"kind": "event", "event": raw["detail"], "source": event.source, "recorded_at": now.isoformat()}
    dynamodb.put_item(
        TableName=ledger,
        Item={
            "pk": s(workflow),
            "sk": s(f"event#{event.detail.event_id}"),
            "entry": s(json.dumps(entry)),
            "expires_at": expires_at,
        },
        ConditionExpression="attribute_not_exists(pk)",
    )
    entries = dynamodb.query(
        TableName=ledger,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": s(workflow)},
        ConsistentRead=True,
    )["Items"]
    count = sum(1 for item in entries if item["sk"]["S"] != "summary")
    started = event.detail.timestamp.isoformat()
    summary = {"correlation_id": workflow, "state": "completed", "entries": count, "started_at": started}
    dynamodb.put_item(
        TableName=ledger,
        Item={
            "pk": s(workflow),
            "sk": s("summary"),
            "summary": s(json.dumps(summary)),
            "state": s("completed"),
            "entries": n(count),
            "gsi1pk": s("workflow"),
            "gsi1sk": s(started),
            "expires_at": expires_at,
        },
        ConditionExpression="attribute_not_exists(pk) OR entries < :entries",
        ExpressionAttributeValues={":entries": n(count)},
    )
    # 3. The completion.
    dynamodb.put_item(
        TableName=idempotency,
        Item={
            "pk": s(key),
            "status": s("COMPLETED"),
            "payload_hash": s(digest),
            "result": s(json.dumps({"events": [], "published": True})),
            "expires_at": n(now_s + RECORD_TTL_S),
            "updated_at": s(datetime.now(UTC).isoformat()),
        },
    )


def main():
    # Init, as a Python Lambda's module level: the client exists before the first event.
    dynamodb = boto3.client("dynamodb")
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    connection = http.client.HTTPConnection(host, int(port))
    connection.request("GET", "/2018-06-01/runtime/invocation/next")
    answer = connection.getresponse()
    request_id = answer.getheader("Lambda-Runtime-Aws-Request-Id")
    deadline_ms = int(answer.getheader("Lambda-Runtime-Deadline-Ms") or time.time() * 1000)
    payload = answer.read()
    event = Envelope.model_validate_json(payload)
    handle(dynamodb, event, json.loads(payload), deadline_ms)
    result = json.dumps({"status": "handled", "event_id": event.detail.event_id}).encode()
    connection.request(
        "POST",
        f"/2018-06-01/runtime/invocation/{request_id}/response",
        body=result,
        headers={"Content-Type": "application/json"},
    )
    connection.getresponse().read()
    # A real runtime would poll for the next event; one is all the measurement needs.


if __name__ == "__main__":
    main()
