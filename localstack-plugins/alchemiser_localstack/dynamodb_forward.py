"""A LocalStack DynamoDB service provider that forwards every request to an external endpoint.

LocalStack's own DynamoDB runs DynamoDB Local, which it downloads (with a Java runtime) at first
use: impossible offline. moto server is pure Python and already serves the project's DynamoDB
(the Rust idempotency store is tested against it). This provider makes LocalStack's DynamoDB API
a transparent proxy to that moto server, so that:

- CloudFormation's community `AWS::DynamoDB::Table` provider (unchanged) creates, updates and
  deletes the table *in moto* through LocalStack's internal DynamoDB client;
- a client of either endpoint (127.0.0.1:4566 or the moto endpoint) sees the same tables.

Selected the supported way: `PROVIDER_OVERRIDE_DYNAMODB=alchemiser_moto` (LocalStack picks the
service plugin `dynamodb:<PROVIDER_OVERRIDE_DYNAMODB>`). The endpoint comes from
`ALCHEMISER_DYNAMODB_ENDPOINT` (scripts/localstack sets it to http://127.0.0.1:${MOTO_PORT:-5050}).

The request is forwarded as it came (headers, signature, body); moto does not verify signatures.
moto's account for a request is MOTO_ACCOUNT_ID when set (scripts/moto sets LocalStack's
000000000000), so ARNs agree between the two.
"""

from __future__ import annotations

import logging
import os
import urllib.request

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.aws.forwarder import AwsRequestProxy, ForwardingFallbackDispatcher
from localstack.services.plugins import Service, ServiceLifecycleHook

LOG = logging.getLogger(__name__)

ENDPOINT_ENV = "ALCHEMISER_DYNAMODB_ENDPOINT"
DEFAULT_ENDPOINT = "http://127.0.0.1:5050"


def endpoint() -> str:
    return (os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT).rstrip("/")


class ForwardingDynamoDBProvider(DynamodbApi, ServiceLifecycleHook):
    """Implements no operation itself: every DynamoDB operation raises NotImplementedError in
    DynamodbApi, so ForwardingFallbackDispatcher sends each one to the external endpoint."""

    def __init__(self, url: str):
        self.url = url

    def on_after_init(self):
        try:
            urllib.request.urlopen(self.url + "/moto-api/data.json", timeout=2).close()
            LOG.info("DynamoDB requests are forwarded to %s", self.url)
        except Exception as e:  # not fatal: moto may be started after LocalStack
            LOG.warning(
                "DynamoDB requests are forwarded to %s, which does not answer yet (%s); "
                "start it with scripts/moto start",
                self.url,
                e,
            )


def create_service() -> Service:
    url = endpoint()
    provider = ForwardingDynamoDBProvider(url)
    proxy = AwsRequestProxy(url)
    return Service.for_provider(
        provider,
        dispatch_table_factory=lambda p: ForwardingFallbackDispatcher(p, proxy),
    )
