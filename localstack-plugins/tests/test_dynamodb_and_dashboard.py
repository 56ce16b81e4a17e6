"""DynamoDB forwarded to moto (service provider dynamodb:alchemiser_moto) and the
AWS::CloudWatch::Dashboard CloudFormation resource provider."""

import json
import uuid

import pytest
from conftest import MOTO, REGION, client, emulators
from test_archive_provider import wait_stack

TEMPLATE = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Resources": {
        "Table": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": "TABLE_NAME",
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "BillingMode": "PAY_PER_REQUEST",
                "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                "Tags": [{"Key": "project", "Value": "alchemiser"}],
            },
        },
        "Dashboard": {
            "Type": "AWS::CloudWatch::Dashboard",
            "Properties": {
                "DashboardName": "DASHBOARD_NAME",
                "DashboardBody": {
                    "Fn::Join": [
                        "",
                        [
                            '{"widgets":[{"type":"text","x":0,"y":0,',
                            '"width":6,"height":3,"properties":{"markdown":"',
                            {"Ref": "Table"},
                            '"}}]}',
                        ],
                    ]
                },
            },
        },
    },
    "Outputs": {
        "TableArn": {"Value": {"Fn::GetAtt": ["Table", "Arn"]}},
        "DashboardName": {"Value": {"Ref": "Dashboard"}},
    },
}


@pytest.fixture(scope="module")
def moto_ddb():
    ddb = emulators.client("dynamodb", MOTO)
    try:
        ddb.list_tables()
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"moto is not reachable at {MOTO}: {e}. Run scripts/moto start.")
    return ddb


def test_dynamodb_api_of_localstack_is_moto(moto_ddb):
    ddb = client("dynamodb")
    name = f"plugin-ddb-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        # written through LocalStack, read through moto, and the other way round
        ddb.put_item(TableName=name, Item={"pk": {"S": "a"}})
        assert moto_ddb.get_item(TableName=name, Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}
        moto_ddb.put_item(TableName=name, Item={"pk": {"S": "b"}})
        # conditional writes keep their error code through the proxy
        with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
            ddb.put_item(TableName=name, Item={"pk": {"S": "b"}}, ConditionExpression="attribute_not_exists(pk)")
        # same account on both sides (MOTO_ACCOUNT_ID=000000000000)
        arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
        assert arn == f"arn:aws:dynamodb:{REGION}:000000000000:table/{name}"
    finally:
        ddb.delete_table(TableName=name)
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.describe_table(TableName=name)


def test_cfn_table_lives_in_moto_and_dashboard_is_real(cfn, moto_ddb):
    stack = f"plugin-ddb-{uuid.uuid4().hex[:8]}"
    table, dashboard = f"{stack}-table", f"{stack}-dashboard"
    body = json.dumps(TEMPLATE).replace("TABLE_NAME", table).replace("DASHBOARD_NAME", dashboard)
    cfn.create_stack(StackName=stack, TemplateBody=body)
    cloudwatch = client("cloudwatch")
    try:
        out = wait_stack(cfn, stack, "CREATE_COMPLETE")
        outputs = {o["OutputKey"]: o["OutputValue"] for o in out.get("Outputs", [])}
        described = moto_ddb.describe_table(TableName=table)["Table"]
        assert described["TableStatus"] == "ACTIVE"
        assert described["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
        assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert outputs["TableArn"] == described["TableArn"]
        ttl = moto_ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}

        assert outputs["DashboardName"] == dashboard
        got = cloudwatch.get_dashboard(DashboardName=dashboard)
        assert json.loads(got["DashboardBody"])["widgets"][0]["properties"]["markdown"] == table
    finally:
        cfn.delete_stack(StackName=stack)
        wait_stack(cfn, stack, "DELETE_COMPLETE")
    assert table not in moto_ddb.list_tables()["TableNames"]
    names = [d["DashboardName"] for d in cloudwatch.list_dashboards()["DashboardEntries"]]
    assert dashboard not in names
