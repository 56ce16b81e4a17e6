"""Plugin classes registered through entry points (pyproject.toml).

Kept import-light: LocalStack lists plugins at start-up, the heavy modules load only on use.
"""

from localstack.services.cloudformation.resource_provider import (
    CloudFormationResourceProviderPlugin,
    ResourceProvider,
)
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.plugins import aws_provider


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


class CloudWatchDashboardProviderPlugin(CloudFormationResourceProviderPlugin):
    name = "AWS::CloudWatch::Dashboard"

    def __init__(self):
        self.factory: type[ResourceProvider] | None = None

    def load(self):
        from alchemiser_localstack.aws_cloudwatch_dashboard import CloudWatchDashboardProvider

        self.factory = CloudWatchDashboardProvider


@aws_provider(api="dynamodb", name="alchemiser_moto")
def dynamodb_moto():
    """DynamoDB forwarded to moto server; selected with PROVIDER_OVERRIDE_DYNAMODB=alchemiser_moto."""
    from alchemiser_localstack.dynamodb_forward import create_service

    return create_service()


@aws_provider(api="events", name="alchemiser_replay")
def events_replay():
    """LocalStack's EventBridge with working archive replays; selected with
    PROVIDER_OVERRIDE_EVENTS=alchemiser_replay."""
    from localstack.services.plugins import Service

    from alchemiser_localstack.events_replay import ReplayingEventsProvider

    return Service.for_provider(ReplayingEventsProvider())
