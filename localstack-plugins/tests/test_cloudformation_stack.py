"""A CloudFormation stack shaped like the CDK app's (bus, archive, rule -> provided.al2023 Lambda from
S3 code, async invoke config with an SQS OnFailure destination) deploys and works end to end."""

import json
import time
import uuid

from conftest import client, wait_for_messages
from test_archive_provider import wait_stack


def template(bucket, key, bus):
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": bus}},
            "Archive": {
                "Type": "AWS::Events::Archive",
                "Properties": {
                    "SourceArn": {"Fn::GetAtt": ["Bus", "Arn"]},
                    "RetentionDays": 365,
                    "EventPattern": {"source": [{"prefix": "alchemiser."}]},
                },
            },
            "DeadLetterQueue": {"Type": "AWS::SQS::Queue"},
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    }
                },
            },
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "provided.al2023",
                    "Handler": "bootstrap",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Code": {"S3Bucket": bucket, "S3Key": key},
                    "Timeout": 5,
                    "Environment": {"Variables": {"CUSTOM_VAR": "from-stack"}},
                },
            },
            "InvokeConfig": {
                "Type": "AWS::Lambda::EventInvokeConfig",
                "Properties": {
                    "FunctionName": {"Ref": "Fn"},
                    "Qualifier": "$LATEST",
                    "MaximumRetryAttempts": 0,
                    "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}},
                },
            },
            "Rule": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventBusName": {"Ref": "Bus"},
                    "EventPattern": {"source": ["alchemiser.strategy"], "detail-type": ["SignalGenerated"]},
                    "Targets": [{"Id": "fn", "Arn": {"Fn::GetAtt": ["Fn", "Arn"]}}],
                },
            },
            "Permission": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "FunctionName": {"Ref": "Fn"},
                    "Action": "lambda:InvokeFunction",
                    "Principal": "events.amazonaws.com",
                    "SourceArn": {"Fn::GetAtt": ["Rule", "Arn"]},
                },
            },
        },
        "Outputs": {
            "FunctionName": {"Value": {"Ref": "Fn"}},
            "QueueUrl": {"Value": {"Ref": "DeadLetterQueue"}},
            "ArchiveName": {"Value": {"Ref": "Archive"}},
        },
    }


def test_stack_with_lambda_rule_and_archive(cfn, events, sqs, lambda_client, bootstrap_zip):
    s3 = client("s3")
    suffix = uuid.uuid4().hex[:8]
    bucket, key, stack, bus = f"plugin-assets-{suffix}", "fn.zip", f"plugin-stack-{suffix}", f"plugin-bus-{suffix}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=bootstrap_zip)
    t0 = time.monotonic()
    cfn.create_stack(
        StackName=stack, TemplateBody=json.dumps(template(bucket, key, bus)), Capabilities=["CAPABILITY_IAM"]
    )
    try:
        out = wait_stack(cfn, stack, "CREATE_COMPLETE", timeout=120)
        print(f"[timing] create_stack -> CREATE_COMPLETE: {time.monotonic() - t0:.1f}s")
        outputs = {o["OutputKey"]: o["OutputValue"] for o in out["Outputs"]}
        fn = outputs["FunctionName"]
        assert lambda_client.get_function(FunctionName=fn)["Configuration"]["State"] == "Active"
        assert events.describe_archive(ArchiveName=outputs["ArchiveName"])["RetentionDays"] == 365

        # rule -> Lambda: the function's echo goes back through a synchronous check of its log
        marker = uuid.uuid4().hex
        entries = [
            {
                "EventBusName": bus,
                "Source": "alchemiser.strategy",
                "DetailType": "SignalGenerated",
                "Detail": json.dumps({"marker": marker}),
            },
            {
                "EventBusName": bus,
                "Source": "alchemiser.strategy",
                "DetailType": "SignalGenerated",
                "Detail": json.dumps({"fail": "handler failed permanently", "marker": marker}),
            },
        ]
        assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
        records = wait_for_messages(sqs, outputs["QueueUrl"], count=1, timeout=60)
        assert len(records) == 1, records
        rec = records[0]
        assert rec["requestContext"]["condition"] == "RetriesExhausted"
        assert rec["requestPayload"]["detail"]["fail"] == "handler failed permanently"
        assert rec["responsePayload"]["errorMessage"] == "handler failed permanently"

        logs = client("logs")
        deadline = time.monotonic() + 20
        text = ""
        while time.monotonic() < deadline:
            try:
                text = "".join(e["message"] for e in logs.filter_log_events(logGroupName=f"/aws/lambda/{fn}")["events"])
            except logs.exceptions.ResourceNotFoundException:
                text = ""
            if text.count(marker) >= 2:
                break
            time.sleep(0.5)
        assert text.count(marker) >= 2, text
    finally:
        cfn.delete_stack(StackName=stack)
        wait_stack(cfn, stack, "DELETE_COMPLETE", timeout=120)
        s3.delete_object(Bucket=bucket, Key=key)
        s3.delete_bucket(Bucket=bucket)
