"""Archive replays on LocalStack's EventBridge with the `events:alchemiser_replay` provider."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from conftest import receive_json


@pytest.fixture
def bus_with_archive(events, sqs):
    """A bus, its archive, and two rules each delivering to its own queue; removed afterwards."""
    name = f"plugin-replay-{uuid.uuid4().hex[:8]}"
    bus_arn = events.create_event_bus(Name=name)["EventBusArn"]
    archive_arn = events.create_archive(ArchiveName=name, EventSourceArn=bus_arn)["ArchiveArn"]
    rules = {}
    for kind in ("plans", "signals"):
        url = sqs.create_queue(QueueName=f"{name}-{kind}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        detail_type = {"plans": "RebalancePlanned", "signals": "SignalGenerated"}[kind]
        rule_arn = events.put_rule(
            Name=f"{name}-{kind}", EventBusName=name, EventPattern=json.dumps({"detail-type": [detail_type]})
        )["RuleArn"]
        events.put_targets(Rule=f"{name}-{kind}", EventBusName=name, Targets=[{"Id": "q", "Arn": queue_arn}])
        rules[kind] = {"arn": rule_arn, "url": url, "name": f"{name}-{kind}"}
    yield {"name": name, "bus_arn": bus_arn, "archive_arn": archive_arn, "rules": rules}
    for rule in rules.values():
        events.remove_targets(Rule=rule["name"], EventBusName=name, Ids=["q"])
        events.delete_rule(Name=rule["name"], EventBusName=name)
        sqs.delete_queue(QueueUrl=rule["url"])
    events.delete_archive(ArchiveName=name)
    events.delete_event_bus(Name=name)


def put(events, bus, detail_type, at, number):
    response = events.put_events(
        Entries=[
            {
                "EventBusName": bus,
                "Source": "alchemiser.test",
                "DetailType": detail_type,
                "Detail": json.dumps({"n": number}),
                "Time": at,
                "Resources": [f"correlation:c-{number}"],
            }
        ]
    )
    assert response["FailedEntryCount"] == 0, response


def drain(sqs, url):
    got = []
    while batch := receive_json(sqs, url, wait_seconds=1):
        got.extend(batch)
    return got


def test_a_replay_sends_the_windows_archived_events_again_to_the_rules_it_names(bus_with_archive, events, sqs):
    bus = bus_with_archive["name"]
    rules = bus_with_archive["rules"]
    now = datetime.now(UTC).replace(microsecond=0)
    # Two events in the window (an hour ago), one after it.
    put(events, bus, "RebalancePlanned", now - timedelta(minutes=50), 1)
    put(events, bus, "SignalGenerated", now - timedelta(minutes=40), 2)
    put(events, bus, "RebalancePlanned", now - timedelta(minutes=5), 3)
    assert len(drain(sqs, rules["plans"]["url"])) == 2
    assert len(drain(sqs, rules["signals"]["url"])) == 1
    window = {"EventStartTime": now - timedelta(hours=1), "EventEndTime": now - timedelta(minutes=30)}

    # Every rule: the window's two events, each with the replay's name and its original time.
    started = events.start_replay(
        ReplayName=f"{bus}-all",
        EventSourceArn=bus_with_archive["archive_arn"],
        Destination={"Arn": bus_with_archive["bus_arn"]},
        **window,
    )
    assert started["State"] == "COMPLETED", started
    plans = drain(sqs, rules["plans"]["url"])
    signals = drain(sqs, rules["signals"]["url"])
    assert [p["detail"] for p in plans] == [{"n": 1}], plans
    assert [s["detail"] for s in signals] == [{"n": 2}], signals
    assert plans[0]["replay-name"] == f"{bus}-all"
    assert plans[0]["time"] == (now - timedelta(minutes=50)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert plans[0]["resources"] == ["correlation:c-1"]
    described = events.describe_replay(ReplayName=f"{bus}-all")
    assert described["State"] == "COMPLETED"
    assert described["EventLastReplayedTime"] == now - timedelta(minutes=40)

    # Limited to one rule (Destination.FilterArns): only that rule's queue receives.
    events.start_replay(
        ReplayName=f"{bus}-plans",
        EventSourceArn=bus_with_archive["archive_arn"],
        Destination={"Arn": bus_with_archive["bus_arn"], "FilterArns": [rules["plans"]["arn"]]},
        **window,
    )
    assert [p["detail"] for p in drain(sqs, rules["plans"]["url"])] == [{"n": 1}]
    assert drain(sqs, rules["signals"]["url"]) == []

    # The archive did not take the replayed events again.
    archive = events.describe_archive(ArchiveName=bus)
    assert archive["EventCount"] == 3, archive


def test_a_replay_name_is_used_once_and_an_unknown_rule_is_refused(bus_with_archive, events):
    now = datetime.now(UTC)
    window = {"EventStartTime": now - timedelta(hours=1), "EventEndTime": now - timedelta(minutes=30)}
    common = {"EventSourceArn": bus_with_archive["archive_arn"], **window}
    name = f"{bus_with_archive['name']}-once"
    events.start_replay(ReplayName=name, Destination={"Arn": bus_with_archive["bus_arn"]}, **common)
    with pytest.raises(events.exceptions.ResourceAlreadyExistsException):
        events.start_replay(ReplayName=name, Destination={"Arn": bus_with_archive["bus_arn"]}, **common)
    missing = bus_with_archive["rules"]["plans"]["arn"] + "-missing"
    with pytest.raises(events.exceptions.ClientError, match="FilterArns"):
        events.start_replay(
            ReplayName=f"{name}-2", Destination={"Arn": bus_with_archive["bus_arn"], "FilterArns": [missing]}, **common
        )
