"""Fixtures for the plugin tests. They need a running LocalStack (scripts/test-localstack-plugins
starts one) and fail -- never skip -- when it is not there."""

import contextlib
import io
import json
import sys
import time
import uuid
import zipfile
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))  # the repository's tests/, for support
from support import emulators  # noqa: E402 (needs the path above)
from support.emulators import LOCALSTACK, MOTO, REGION, receive_json  # noqa: E402, F401 (the tests import them from here)

HERE = Path(__file__).parent
ROLE_NAME = "alchemiser-plugin-test-role"


@pytest.fixture(scope="session", autouse=True)
def localstack_up():
    try:
        r = requests.get(f"{LOCALSTACK}/_localstack/health", timeout=5)
        r.raise_for_status()
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"LocalStack is not reachable at {LOCALSTACK}: {e}. Run scripts/localstack start.")
    return r.json()


def client(service):
    """A client of LocalStack that waits long enough for a slow first invocation."""
    return emulators.client(service, LOCALSTACK, retries={"max_attempts": 2}, read_timeout=120)


@pytest.fixture(scope="session")
def lambda_client():
    return client("lambda")


@pytest.fixture(scope="session")
def sqs():
    return client("sqs")


@pytest.fixture(scope="session")
def events():
    return client("events")


@pytest.fixture(scope="session")
def cfn():
    return client("cloudformation")


@pytest.fixture(scope="session")
def role_arn():
    iam = client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    try:
        return iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        return iam.get_role(RoleName=ROLE_NAME)["Role"]["Arn"]


def zip_bootstrap(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        zf.writestr(info, (HERE / "runtime_client" / source).read_text())
    return buf.getvalue()


@pytest.fixture(scope="session")
def bootstrap_zip() -> bytes:
    return zip_bootstrap("bootstrap")


@pytest.fixture
def make_function(lambda_client, role_arn, bootstrap_zip):
    created = []

    def _make(env=None, timeout=10, name=None, zip_bytes=None):
        name = name or f"plugin-test-{uuid.uuid4().hex[:8]}"
        kwargs = {}
        if env:
            kwargs["Environment"] = {"Variables": env}
        t0 = time.monotonic()
        lambda_client.create_function(
            FunctionName=name,
            Runtime="provided.al2023",
            Handler="bootstrap",
            Role=role_arn,
            Code={"ZipFile": zip_bytes or bootstrap_zip},
            Timeout=timeout,
            MemorySize=128,
            **kwargs,
        )
        created.append(name)
        lambda_client.get_waiter("function_active_v2").wait(
            FunctionName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 60}
        )
        state = lambda_client.get_function(FunctionName=name)["Configuration"]
        assert state["State"] == "Active", state
        print(f"[timing] create_function -> Active: {time.monotonic() - t0:.2f}s")
        return name

    yield _make
    for name in created:
        with contextlib.suppress(Exception):
            lambda_client.delete_function(FunctionName=name)


@pytest.fixture
def make_queue(sqs):
    created = []

    def _make(prefix="plugin-test"):
        url = sqs.create_queue(QueueName=f"{prefix}-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        created.append(url)
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    yield _make
    for url in created:
        with contextlib.suppress(Exception):
            sqs.delete_queue(QueueUrl=url)


def invoke_json(lambda_client, name, payload, **kwargs):
    t0 = time.monotonic()
    resp = lambda_client.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), **kwargs)
    body = resp["Payload"].read()
    resp["elapsed"] = time.monotonic() - t0
    resp["body"] = json.loads(body) if body else None
    return resp


def wait_for_messages(sqs, url, count=1, timeout=60):
    deadline = time.monotonic() + timeout
    got = []
    while time.monotonic() < deadline and len(got) < count:
        got += receive_json(sqs, url, wait_seconds=1)
    return got
