"""What the init tells LocalStack, over HTTP to LocalStack's gateway, as LocalStack's Go init does
from inside the container (LocalStack's own ExecutorEndpoint receives them):

  POST /_localstack_lambda/<env>/status/<executor>/ready           the runtime is initialised
  POST /_localstack_lambda/<env>/status/<executor>/error           its init failed
  POST /_localstack_lambda/<executor>/invocations/<id>/logs        {"logs": "..."}
  POST /_localstack_lambda/<executor>/invocations/<id>/response    the raw payload
  POST /_localstack_lambda/<executor>/invocations/<id>/error       the error JSON

A callback that fails is logged, never raised: the invocation's own timeout covers a lost one.
"""

from __future__ import annotations

import logging
import os

import requests
from localstack import config

LOG = logging.getLogger(__name__)

NAMESPACE = "/_localstack_lambda"
# internal calls to LocalStack's own gateway must never go through a proxy
NO_PROXY = {"http": "", "https": ""}


def gateway_url() -> str:
    """LocalStack's gateway as this process reaches it (ALCHEMISER_LAMBDA_GATEWAY_URL overrides)."""
    override = os.environ.get("ALCHEMISER_LAMBDA_GATEWAY_URL")
    if override:
        return override.rstrip("/")
    listen = config.GATEWAY_LISTEN[0]
    host = listen.host
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    return f"http://{host}:{listen.port}"


class LocalStackCallbacks:
    """The callbacks of one execution environment (`executor_id`, which is also its env id)."""

    def __init__(self, executor_id: str) -> None:
        self.executor_id = executor_id
        self.gateway = gateway_url()
        self.session = requests.Session()
        self.session.trust_env = False

    def _post(self, path: str, data: bytes | None = None, json_body=None) -> None:
        url = f"{self.gateway}{NAMESPACE}{path}"
        try:
            response = self.session.post(url, data=data, json=json_body, proxies=NO_PROXY, timeout=30)
            if response.status_code >= 300:
                LOG.warning("callback %s answered %s: %s", url, response.status_code, response.text[:300])
        except requests.RequestException as e:
            LOG.warning("callback %s failed: %s", url, e)

    def ready(self) -> None:
        self._post(f"/{self.executor_id}/status/{self.executor_id}/ready", json_body={})

    def init_error(self, error: dict) -> None:
        self._post(f"/{self.executor_id}/status/{self.executor_id}/error", json_body=error)

    def invocation_logs(self, request_id: str, logs: str) -> None:
        self._post(f"/{self.executor_id}/invocations/{request_id}/logs", json_body={"logs": logs})

    def invocation_result(self, request_id: str, is_error: bool, body: bytes) -> None:
        kind = "error" if is_error else "response"
        self._post(f"/{self.executor_id}/invocations/{request_id}/{kind}", data=body)
