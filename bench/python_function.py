"""The Python side of the cold-start comparison: what a Python Lambda of the original system does
before it can answer its first event, at the least -- import boto3 and pydantic, then fetch one
event from the Lambda Runtime API, parse it (a pydantic model of the EventBridge envelope and the
WorkflowCompleted detail) and POST the response. It creates no AWS client and makes no AWS call
(the Rust monitor does both: a DynamoDB claim and its completion), so the comparison favours Python.

Run by bench/coldstart.py (it sets AWS_LAMBDA_RUNTIME_API) from scripts/bench.
"""

import http.client
import json
import os
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import boto3  # noqa: F401  (the import is part of the cold start being measured)
from pydantic import BaseModel, ConfigDict, Field


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


def main():
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    connection = http.client.HTTPConnection(host, int(port))
    connection.request("GET", "/2018-06-01/runtime/invocation/next")
    answer = connection.getresponse()
    request_id = answer.getheader("Lambda-Runtime-Aws-Request-Id")
    payload = answer.read()
    event = Envelope.model_validate_json(payload)
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
