"""Plugin classes registered through entry points (pyproject.toml).

Kept import-light: LocalStack lists plugins at start-up, the heavy modules load only on use.
"""

from localstack.services.cloudformation.resource_provider import (
    CloudFormationResourceProviderPlugin,
    ResourceProvider,
)
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin


class ProcessRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    """Selected with LAMBDA_RUNTIME_EXECUTOR=alchemiser-process."""

    name = "alchemiser-process"

    def load(self, *args, **kwargs):
        from alchemiser_localstack.process_executor import ProcessRuntimeExecutor

        return ProcessRuntimeExecutor


class EventsArchiveProviderPlugin(CloudFormationResourceProviderPlugin):
    name = "AWS::Events::Archive"

    def __init__(self):
        self.factory: type[ResourceProvider] | None = None

    def load(self):
        from alchemiser_localstack.aws_events_archive import EventsArchiveProvider

        self.factory = EventsArchiveProvider
