"""CloudFormation resource provider for AWS::Events::Archive.

LocalStack's community CloudFormation has no provider for this type: it reports CREATE_COMPLETE with
physical id "unknown" and creates nothing. This provider creates, updates and deletes the archive
through LocalStack's own EventBridge API (CreateArchive / UpdateArchive / DeleteArchive).

Ref returns the archive name; Fn::GetAtt Arn returns the archive ARN (as in AWS).
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


class EventsArchiveProperties(TypedDict, total=False):
    ArchiveName: str | None
    SourceArn: str | None
    Description: str | None
    EventPattern: dict | str | None
    Arn: str | None
    RetentionDays: int | None
    KmsKeyIdentifier: str | None


_MAX_NAME = 48


def _default_name(stack_name: str, logical_id: str) -> str:
    # AWS generates "<logical id>-<random>" style names; archive names are max 48 chars of [.-_A-Za-z0-9].
    name = util.generate_default_name(stack_name, logical_id)
    name = re.sub(r"[^.\-_A-Za-z0-9]", "-", name)
    return name[-_MAX_NAME:].lstrip("-_.") or "archive"


def _pattern(value) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value)


class EventsArchiveProvider(ResourceProvider[EventsArchiveProperties]):
    TYPE = "AWS::Events::Archive"
    SCHEMA = util.get_schema_path(Path(__file__))

    def create(self, request: ResourceRequest[EventsArchiveProperties]) -> ProgressEvent[EventsArchiveProperties]:
        model = request.desired_state
        events = request.aws_client_factory.events
        if not model.get("ArchiveName"):
            model["ArchiveName"] = _default_name(request.stack_name, request.logical_resource_id)
        params = {"ArchiveName": model["ArchiveName"], "EventSourceArn": model["SourceArn"]}
        if model.get("Description") is not None:
            params["Description"] = model["Description"]
        if (pattern := _pattern(model.get("EventPattern"))) is not None:
            params["EventPattern"] = pattern
        if model.get("RetentionDays") is not None:
            params["RetentionDays"] = int(model["RetentionDays"])
        if model.get("KmsKeyIdentifier"):
            params["KmsKeyIdentifier"] = model["KmsKeyIdentifier"]
        try:
            response = events.create_archive(**params)
        except Exception as e:  # older LocalStack versions lack KmsKeyIdentifier
            if "KmsKeyIdentifier" in params and "KmsKeyIdentifier" in str(e):
                params.pop("KmsKeyIdentifier")
                response = events.create_archive(**params)
            else:
                raise
        model["Arn"] = response["ArchiveArn"]
        return ProgressEvent(
            status=OperationStatus.SUCCESS,
            resource_model=model,
            custom_context=request.custom_context,
        )

    def read(self, request: ResourceRequest[EventsArchiveProperties]) -> ProgressEvent[EventsArchiveProperties]:
        model = request.desired_state
        described = request.aws_client_factory.events.describe_archive(ArchiveName=model["ArchiveName"])
        model["Arn"] = described["ArchiveArn"]
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)

    def update(self, request: ResourceRequest[EventsArchiveProperties]) -> ProgressEvent[EventsArchiveProperties]:
        model = request.desired_state
        previous = request.previous_state or {}
        events = request.aws_client_factory.events
        model["ArchiveName"] = model.get("ArchiveName") or previous.get("ArchiveName")
        params = {"ArchiveName": model["ArchiveName"]}
        # UpdateArchive cannot clear a field; send what is set now.
        params["Description"] = model.get("Description") or ""
        if (pattern := _pattern(model.get("EventPattern"))) is not None:
            params["EventPattern"] = pattern
        if model.get("RetentionDays") is not None:
            params["RetentionDays"] = int(model["RetentionDays"])
        response = events.update_archive(**params)
        model["Arn"] = response.get("ArchiveArn") or previous.get("Arn")
        if not model.get("Arn"):
            model["Arn"] = events.describe_archive(ArchiveName=model["ArchiveName"])["ArchiveArn"]
        return ProgressEvent(
            status=OperationStatus.SUCCESS,
            resource_model=model,
            custom_context=request.custom_context,
        )

    def delete(self, request: ResourceRequest[EventsArchiveProperties]) -> ProgressEvent[EventsArchiveProperties]:
        model = request.desired_state
        events = request.aws_client_factory.events
        with contextlib.suppress(events.exceptions.ResourceNotFoundException):
            events.delete_archive(ArchiveName=model["ArchiveName"])
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)

    def list(self, request: ResourceRequest[EventsArchiveProperties]) -> ProgressEvent[EventsArchiveProperties]:
        archives = request.aws_client_factory.events.list_archives().get("Archives", [])
        return ProgressEvent(
            status=OperationStatus.SUCCESS,
            resource_models=[EventsArchiveProperties(ArchiveName=a["ArchiveName"]) for a in archives],
        )
