"""AWS::Events::Archive CloudFormation resource provider."""

import json
import time
import uuid

import pytest

TEMPLATE = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Parameters": {"Retention": {"Type": "Number", "Default": 365}},
    "Resources": {
        "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "BUS_NAME"}},
        "Archive": {
            "Type": "AWS::Events::Archive",
            "Properties": {
                "SourceArn": {"Fn::GetAtt": ["Bus", "Arn"]},
                "Description": "all alchemiser events",
                "RetentionDays": {"Ref": "Retention"},
                "EventPattern": {"source": [{"prefix": "alchemiser."}]},
            },
        },
    },
    "Outputs": {
        "ArchiveName": {"Value": {"Ref": "Archive"}},
        "ArchiveArn": {"Value": {"Fn::GetAtt": ["Archive", "Arn"]}},
    },
}


def wait_stack(cfn, name, want, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        except cfn.exceptions.ClientError as e:
            if want == "DELETE_COMPLETE" and "does not exist" in str(e):
                return None
            raise
        status = stack["StackStatus"]
        if status == want:
            return stack
        if status.endswith("FAILED") or status.endswith("ROLLBACK_COMPLETE"):
            events = cfn.describe_stack_events(StackName=name)["StackEvents"]
            reasons = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}" for e in events]
            pytest.fail(f"stack {name} reached {status}: {reasons}")
        time.sleep(1)
    pytest.fail(f"stack {name} did not reach {want} in {timeout}s")


def test_archive_created_updated_and_deleted_with_the_stack(cfn, events):
    stack = f"plugin-archive-{uuid.uuid4().hex[:8]}"
    bus = f"{stack}-bus"
    body = json.dumps(TEMPLATE).replace("BUS_NAME", bus)
    cfn.create_stack(StackName=stack, TemplateBody=body)
    try:
        out = wait_stack(cfn, stack, "CREATE_COMPLETE")
        outputs = {o["OutputKey"]: o["OutputValue"] for o in out.get("Outputs", [])}
        name = outputs["ArchiveName"]
        assert name and name != "unknown", outputs
        archive = events.describe_archive(ArchiveName=name)
        assert archive["RetentionDays"] == 365
        assert json.loads(archive["EventPattern"]) == {"source": [{"prefix": "alchemiser."}]}
        assert archive["EventSourceArn"].endswith(f":event-bus/{bus}")
        assert archive["ArchiveArn"] == outputs["ArchiveArn"]
        assert archive["Description"] == "all alchemiser events"
        resource = cfn.describe_stack_resource(StackName=stack, LogicalResourceId="Archive")
        assert resource["StackResourceDetail"]["PhysicalResourceId"] == name

        # update in place: retention 365 -> 30
        cfn.update_stack(
            StackName=stack, TemplateBody=body, Parameters=[{"ParameterKey": "Retention", "ParameterValue": "30"}]
        )
        wait_stack(cfn, stack, "UPDATE_COMPLETE")
        assert events.describe_archive(ArchiveName=name)["RetentionDays"] == 30
    finally:
        cfn.delete_stack(StackName=stack)
        wait_stack(cfn, stack, "DELETE_COMPLETE")
    names = [a["ArchiveName"] for a in events.list_archives()["Archives"]]
    assert name not in names, names
