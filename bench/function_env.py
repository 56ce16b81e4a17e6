"""The functions' environment for the cold-start benchmark, on the local emulators (boto3).

function_env.py setup DIR  -> writes DIR/function.env (KEY=VALUE lines): the smoke test's set-up
                              (tests/lambda_smoke/emulators.py: an idempotency table in moto, a
                              dead-letter queue in LocalStack) plus what the strategy, portfolio and
                              execution functions need (paper broker, allocation)
function_env.py teardown DIR -> deletes that table and queue
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))  # for lambda_smoke, support
from lambda_smoke import emulators as smoke  # noqa: E402 (reused: same table, queue and variables)
from support.emulators import LOCALSTACK, MOTO, client  # noqa: E402


def read_env(path):
    with open(path) as f:
        return dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)


def setup(directory):
    environment = smoke.function_environment()
    environment.update(
        {
            "STAGE": "bench",
            "RUST_LOG": "warn",
            "BROKER": "paper",
            "STRATEGY_ALLOCATION": '{"SPY": "0.6", "TLT": "0.4"}',
            # The events started here are unsigned captures: accepting their sources measures
            # the handler's whole path, not a refusal. (Verifying a signed event is one local
            # HMAC here, a KMS VerifyMac round trip in Lambda: not part of these figures.)
            "UNSIGNED_SOURCES": "alchemiser.strategy,alchemiser.portfolio,alchemiser.execution",
            # The sample plan (examples/events) was captured in 2025: execution trades it, as
            # `alchemiser invoke execution --max-plan-age` does for scripts/bench's monitor event.
            "MAX_PLAN_AGE_SECONDS": "3153600000",
            "WORKFLOW_DEADLINE_SECONDS": "3153600000",
        }
    )
    # Lambda's provided.al2023 keeps its CA certificates in one bundle (/etc/pki/tls/certs holds
    # ca-bundle.crt); Debian keeps ~150 separate files in /etc/ssl/certs, which the TLS client
    # reads one by one at start-up (about 9 ms of a cold start here). Give the functions the
    # Lambda layout -- a certificate directory holding just the bundle -- so a start reads what it
    # would read on Lambda.
    bundle = "/etc/ssl/certs/ca-certificates.crt"
    if os.path.exists(bundle):
        certs = os.path.join(directory, "certs")
        os.makedirs(certs, exist_ok=True)
        link = os.path.join(certs, "ca-bundle.crt")
        if not os.path.lexists(link):
            os.symlink(bundle, link)
        environment["SSL_CERT_FILE"] = link
        environment["SSL_CERT_DIR"] = certs
    with open(os.path.join(directory, "function.env"), "w") as f:
        for key, value in environment.items():
            f.write(f"{key}={value}\n")


def teardown(directory):
    environment = read_env(os.path.join(directory, "function.env"))
    try:
        client("dynamodb", MOTO).delete_table(TableName=environment["IDEMPOTENCY_TABLE_NAME"])
    except Exception as error:
        print(f"teardown: {error}", file=sys.stderr)
    try:
        client("sqs", LOCALSTACK).delete_queue(QueueUrl=environment["DEAD_LETTER_QUEUE_URL"])
    except Exception as error:
        print(f"teardown: {error}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("setup", "teardown"):
        {"setup": setup, "teardown": teardown}[sys.argv[1]](sys.argv[2])
    else:
        sys.exit(__doc__)
