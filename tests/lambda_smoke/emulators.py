"""Sets up and checks what the Lambda smoke test needs on the emulators (boto3).

Usage:
  emulators.py setup              -> prints KEY=VALUE lines: the function's environment
  emulators.py dead-letters QUEUE -> prints the dead letters in QUEUE as JSON lines (and deletes them)
"""

import json
import shlex
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.emulators
from support.emulators import LOCALSTACK, MOTO, client, client_environment, receive_json  # noqa: E402


def function_environment() -> dict[str, str]:
    """Creates the function's table, ledger and dead-letter queue on the emulators; its environment."""
    suffix = uuid.uuid4().hex[:8]
    table = f"smoke-idempotency-{suffix}"
    client("dynamodb", MOTO).create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    # The ledger the monitor keeps: its keys only; the sweep's indexes are not queried here.
    ledger = f"smoke-ledger-{suffix}"
    client("dynamodb", MOTO).create_table(
        TableName=ledger,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    queue = client("sqs", LOCALSTACK).create_queue(QueueName=f"smoke-dead-letters-{suffix}")["QueueUrl"]
    environment = {
        "STAGE": "smoke",
        "USE_EVENTBRIDGE": "false",
        "IDEMPOTENCY_TABLE_NAME": table,
        "LEDGER_TABLE_NAME": ledger,
        "DEAD_LETTER_QUEUE_URL": queue,
        **client_environment(LOCALSTACK),
        "AWS_ENDPOINT_URL_DYNAMODB": MOTO,
        "RUST_LOG": "info",
        # Local signing keys (the stack sets KMS keys): the monitor verifies what the CLI's
        # `alchemiser invoke` signed with the same secret.
        "SIGNING_KEY_ID": "local:monitor",
        "VERIFY_KEY_IDS": json.dumps({p: f"local:{p}" for p in ("strategy", "portfolio", "execution", "monitor")}),
        "ALCHEMISER_LOCAL_SIGNING_SECRET": f"smoke-{suffix}",
    }
    return environment


def setup():
    # Sourced by bash: each value quoted as one shell word.
    for key, value in function_environment().items():
        print(f"{key}={shlex.quote(value)}")


def dead_letters(queue):
    for record in receive_json(client("sqs", LOCALSTACK), queue, wait_seconds=2):
        print(json.dumps(record))


if __name__ == "__main__":
    if sys.argv[1:2] == ["setup"]:
        setup()
    elif sys.argv[1:2] == ["dead-letters"] and len(sys.argv) == 3:
        dead_letters(sys.argv[2])
    else:
        sys.exit(__doc__)
