"""Sets up and checks what the Lambda smoke test needs on the emulators (boto3).

Usage:
  emulators.py setup            -> prints KEY=VALUE lines: the function's environment
  emulators.py failures QUEUE   -> prints the failure records in QUEUE as JSON lines (and deletes them)
"""

import json
import os
import sys
import uuid

import boto3

LOCALSTACK = os.environ.get("LOCALSTACK_ENDPOINT", "http://127.0.0.1:4566")
MOTO = os.environ.get("MOTO_ENDPOINT", "http://127.0.0.1:5050")
REGION = "us-east-1"


def client(service, endpoint):
    return boto3.client(
        service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test"
    )


def setup():
    suffix = uuid.uuid4().hex[:8]
    table = f"smoke-idempotency-{suffix}"
    client("dynamodb", MOTO).create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    queue = client("sqs", LOCALSTACK).create_queue(QueueName=f"smoke-failures-{suffix}")["QueueUrl"]
    environment = {
        "STAGE": "smoke",
        "USE_EVENTBRIDGE": "false",
        "IDEMPOTENCY_TABLE_NAME": table,
        "FAILURE_QUEUE_URL": queue,
        "AWS_ENDPOINT_URL": LOCALSTACK,
        "AWS_ENDPOINT_URL_DYNAMODB": MOTO,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": REGION,
        "RUST_LOG": "info",
    }
    for key, value in environment.items():
        print(f"{key}={value}")


def failures(queue):
    sqs = client("sqs", LOCALSTACK)
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", [])
    for message in messages:
        print(json.dumps(json.loads(message["Body"])))
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


if __name__ == "__main__":
    if sys.argv[1:2] == ["setup"]:
        setup()
    elif sys.argv[1:2] == ["failures"] and len(sys.argv) == 3:
        failures(sys.argv[2])
    else:
        sys.exit(__doc__)
