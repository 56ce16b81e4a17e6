"""CloudFormation resource provider for AWS::CloudWatch::Dashboard.

LocalStack's community CloudFormation has no provider for this type (with the default
CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES it reports success and creates nothing), although its
CloudWatch service implements PutDashboard / GetDashboard / DeleteDashboards. This provider calls
them. Ref returns the dashboard name, as in AWS; the type has no Fn::GetAtt attributes.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import TypedDict

import localstack.services.cloudformation.provider_utils as util
from localstack.services.cloudformation.resource_provider import (
    OperationStatus,
    ProgressEvent,
    ResourceProvider,
    ResourceRequest,
)


class CloudWatchDashboardProperties(TypedDict, total=False):
    DashboardName: str | None
    DashboardBody: str | None


_MAX_NAME = 255


def _default_name(stack_name: str, logical_id: str) -> str:
    # Dashboard names: alphanumerics, dash and underscore, at most 255 characters.
    name = util.generate_default_name(stack_name, logical_id)
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)[-_MAX_NAME:].lstrip("-_") or "dashboard"


def _body(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class CloudWatchDashboardProvider(ResourceProvider[CloudWatchDashboardProperties]):
    TYPE = "AWS::CloudWatch::Dashboard"
    SCHEMA = util.get_schema_path(Path(__file__))

    def create(
        self, request: ResourceRequest[CloudWatchDashboardProperties]
    ) -> ProgressEvent[CloudWatchDashboardProperties]:
        model = request.desired_state
        if not model.get("DashboardName"):
            model["DashboardName"] = _default_name(request.stack_name, request.logical_resource_id)
        request.aws_client_factory.cloudwatch.put_dashboard(
            DashboardName=model["DashboardName"], DashboardBody=_body(model["DashboardBody"])
        )
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)

    def read(
        self, request: ResourceRequest[CloudWatchDashboardProperties]
    ) -> ProgressEvent[CloudWatchDashboardProperties]:
        model = request.desired_state
        got = request.aws_client_factory.cloudwatch.get_dashboard(DashboardName=model["DashboardName"])
        model["DashboardBody"] = got["DashboardBody"]
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)

    def update(
        self, request: ResourceRequest[CloudWatchDashboardProperties]
    ) -> ProgressEvent[CloudWatchDashboardProperties]:
        # DashboardName is create-only, so a new name is a replacement (create + delete).
        model = request.desired_state
        previous = request.previous_state or {}
        model["DashboardName"] = model.get("DashboardName") or previous.get("DashboardName")
        request.aws_client_factory.cloudwatch.put_dashboard(
            DashboardName=model["DashboardName"], DashboardBody=_body(model["DashboardBody"])
        )
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)

    def delete(
        self, request: ResourceRequest[CloudWatchDashboardProperties]
    ) -> ProgressEvent[CloudWatchDashboardProperties]:
        model = request.desired_state
        cloudwatch = request.aws_client_factory.cloudwatch
        with contextlib.suppress(cloudwatch.exceptions.DashboardNotFoundError):
            cloudwatch.delete_dashboards(DashboardNames=[model["DashboardName"]])
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)

    def list(
        self, request: ResourceRequest[CloudWatchDashboardProperties]
    ) -> ProgressEvent[CloudWatchDashboardProperties]:
        entries = request.aws_client_factory.cloudwatch.list_dashboards().get("DashboardEntries", [])
        return ProgressEvent(
            status=OperationStatus.SUCCESS,
            resource_models=[CloudWatchDashboardProperties(DashboardName=e["DashboardName"]) for e in entries],
        )
