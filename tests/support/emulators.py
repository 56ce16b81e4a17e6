"""What the Python test and bench scripts share about the local emulators, LocalStack and moto.

- `LOCALSTACK`, `MOTO`: their endpoints, from LOCALSTACK_ENDPOINT and MOTO_ENDPOINT (which the
  shell scripts export: scripts/lib/emulators.sh), else from LOCALSTACK_PORT and MOTO_PORT (default
  4566 and 5050) as the shell scripts compute them; `REGION`, `REPO`.
- `client(service, endpoint, **config)`: a boto3 client with the emulators' dummy credentials;
  `config` (retries=..., read_timeout=...) goes to botocore's Config, none means its defaults.
- `client_environment(endpoint)`: the same settings as environment variables, for a process
  (the Rust CLI, a function) that talks to an emulator.
- `check(ok, what, detail)`: prints `ok    what`, or raises `CheckFailed("what: detail")`.
- `receive_json(sqs, queue_url)`: one ReceiveMessage; the bodies parsed, the messages deleted.

The scripts are run directly (python tests/e2e/workflow.py ...), so each puts the repository's
tests/ folder on sys.path before importing this module:

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/
    from support.emulators import LOCALSTACK, check, client
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
LOCALSTACK = os.environ.get("LOCALSTACK_ENDPOINT") or f"http://127.0.0.1:{os.environ.get('LOCALSTACK_PORT', '4566')}"
MOTO = os.environ.get("MOTO_ENDPOINT") or f"http://127.0.0.1:{os.environ.get('MOTO_PORT', '5050')}"
# Both emulators accept any key; these are LocalStack's documented dummy ones.
ACCESS_KEY_ID = "test"
SECRET_ACCESS_KEY = "test"


def client(service: str, endpoint: str = LOCALSTACK, **config: Any):
    """A boto3 client for `service` on the emulator at `endpoint`."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=Config(**config) if config else None,
    )


def client_environment(endpoint: str = LOCALSTACK) -> dict[str, str]:
    """The environment variables that point an AWS SDK client at the emulator at `endpoint`."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_REGION": REGION,
    }


class CheckFailed(Exception):
    """A checked statement did not hold; the message says which, and what was seen instead."""


def check(ok: bool, what: str, detail: object = "") -> None:
    """Prints `ok    what` when `ok`; raises CheckFailed("what: detail") otherwise."""
    if not ok:
        raise CheckFailed(f"{what}: {detail}" if detail != "" else what)
    print(f"ok    {what}", flush=True)


def receive_json(sqs, queue_url: str, wait_seconds: int = 0, max_messages: int = 10) -> list[Any]:
    """One ReceiveMessage on `queue_url`: the message bodies as JSON, each message deleted once read."""
    bodies = []
    response = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=max_messages, WaitTimeSeconds=wait_seconds)
    for message in response.get("Messages", []):
        bodies.append(json.loads(message["Body"]))
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies
