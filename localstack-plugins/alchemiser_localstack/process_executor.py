"""A LocalStack Lambda runtime executor that runs the function's `bootstrap` as a local process.

LocalStack's Docker executor starts a container whose entrypoint is LocalStack's "init" (a Go build of
the Lambda runtime interface emulator). The init serves the Lambda Runtime API to the function inside
the container and talks to LocalStack over HTTP:

  init -> LocalStack  POST /_localstack_lambda/<env>/status/<executor>/ready     (runtime initialised)
                      POST /_localstack_lambda/<env>/status/<executor>/error     (init failed)
  LocalStack -> init  POST http://<container>:<port>/invoke  {"invoke-id", "invoked-function-arn",
                                                              "payload", "trace-id"}
  init -> LocalStack  POST /_localstack_lambda/<executor>/invocations/<id>/logs      {"logs": "..."}
                      POST /_localstack_lambda/<executor>/invocations/<id>/response  (raw payload)
                      POST /_localstack_lambda/<executor>/invocations/<id>/error     (error JSON)

This executor keeps LocalStack's side untouched (it reuses LocalStack's own ExecutorEndpoint, the class
the Docker executor uses) and replaces the container + init with:

  * `LambdaInit` (lambda_init.py), which plays the init for one execution environment: a small threaded
    HTTP server on 127.0.0.1:<free port> (runtime_api.py) serves the Runtime API
    (/2018-06-01/runtime/...) to the bootstrap and accepts LocalStack's /invoke; ready/error/logs/response
    go back to LocalStack's gateway exactly as the init posts them (localstack_callbacks.py).
  * the function's `bootstrap` (bootstrap_process.py), spawned from the unzipped code directory LocalStack
    prepared (FunctionVersion.config.code.get_unzipped_code_location()), with the environment LocalStack
    computed (ExecutionEnvironment.get_environment_variables()) plus AWS_LAMBDA_RUNTIME_API; what it
    prints goes into the invocations' logs (function_log.py).

This module is the RuntimeExecutor LocalStack calls (start, invoke, stop, get_logs), loaded through the
`alchemiser-process` plugin (plugins.py).

Only Zip packages with a `bootstrap` file (runtimes provided.al2023 / provided.al2 / provided, or any
runtime whose zip carries a bootstrap) are supported. Layers and container images are not.
"""

from __future__ import annotations

import logging
from pathlib import Path

from localstack.aws.api.lambda_ import PackageType
from localstack.services.lambda_.invocation.executor_endpoint import ExecutorEndpoint
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

from alchemiser_localstack.lambda_init import LambdaInit
from alchemiser_localstack.localstack_callbacks import gateway_url
from alchemiser_localstack.runtime_api import LOCAL_HOST

LOG = logging.getLogger(__name__)


class ProcessRuntimeExecutor(RuntimeExecutor):
    """RuntimeExecutor plugin `alchemiser-process` (LAMBDA_RUNTIME_EXECUTOR=alchemiser-process)."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        # LocalStack's own endpoint object: registers /_localstack_lambda/<id>/... routes in the gateway,
        # posts /invoke to container_address:container_port and waits for the callbacks.
        self.executor_endpoint = ExecutorEndpoint(self.id, container_address=LOCAL_HOST)
        self.lambda_init: LambdaInit | None = None

    def start(self, env_vars: dict[str, str]) -> None:
        self.executor_endpoint.start()
        fv = self.function_version
        if fv.config.package_type != PackageType.Zip or not fv.config.code:
            raise LambdaRuntimeException(
                "alchemiser-process executor: only Zip packages are supported (no container images)"
            )
        if fv.config.layers:
            LOG.warning("alchemiser-process executor: layers are ignored for %s", fv.qualified_arn)
        fv.config.code.prepare_for_execution()
        code_dir = Path(fv.config.code.get_unzipped_code_location())
        self.lambda_init = LambdaInit(self.id, fv, env_vars, code_dir)
        self.executor_endpoint.container_port = self.lambda_init.port
        LOG.debug(
            "alchemiser-process: environment %s for %s: runtime API on 127.0.0.1:%s, code %s, log %s",
            self.id,
            fv.qualified_arn,
            self.lambda_init.port,
            code_dir,
            self.lambda_init.log_path,
        )
        self.lambda_init.spawn()
        # LocalStack's startup timer (LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT) calls stop() if this hangs.
        self.executor_endpoint.wait_for_startup()

    def stop(self) -> None:
        if self.lambda_init is not None:
            self.lambda_init.close()
        try:
            self.executor_endpoint.shutdown()
        except Exception as e:  # noqa: BLE001
            LOG.debug("error stopping executor endpoint %s: %s", self.id, e)

    def get_address(self) -> str:
        return LOCAL_HOST

    def get_endpoint_from_executor(self) -> str:
        # what the function sees as LocalStack's host (LOCALSTACK_HOSTNAME, AWS_ENDPOINT_URL)
        return LOCAL_HOST

    def get_runtime_endpoint(self) -> str:
        return f"{gateway_url()}{self.executor_endpoint.get_endpoint_prefix()}"

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        return self.executor_endpoint.invoke(payload)

    def get_logs(self) -> str:
        if self.lambda_init is None:
            return "environment not started"
        return self.lambda_init.logs()

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        # No image pull, no init download: only unzip the code (LocalStack caches it on disk).
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        return True
