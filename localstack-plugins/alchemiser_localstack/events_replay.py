"""LocalStack's EventBridge with archive replays that work (`events:alchemiser_replay`).

LocalStack's StartReplay (localstack-core 2026.3.0, `services/events/provider.py`) answers 500
whenever the archive holds an event in the window: the archive keeps each event's `time` as the
envelope's string (`2026-12-06T12:16:49Z`) and its filter calls `datetime.replace(second=0, ...)`
on that string (TypeError); past it, the replayed entries would carry the same string as
`Time`, which PutEvents again treats as a datetime, and the replay's `EventLastReplayedTime` is
the largest string. A client that retries gets `ResourceAlreadyExistsException` for the replay
the failed call had already registered (left in STARTING). It also ignores
`Destination.FilterArns` and replays to every rule of the bus.

This provider is LocalStack's own EventsProvider with StartReplay done as AWS does it:

- events whose envelope `time` lies between EventStartTime and EventEndTime, both included (the
  archive keeps times to the second, and LocalStack reads the window's ends to the second), are
  replayed in time order,
  each with its original time, source, detail-type, detail and resources, and `replay-name`;
- with `Destination.FilterArns`, only to those rules of the bus (AWS's meaning), else to every
  rule (the archive's own rule never takes a replayed event: it excludes `replay-name`);
- the replay ends COMPLETED with `EventLastReplayedTime` the last replayed event's time. Unlike
  AWS, it runs within the StartReplay call (AWS starts it and replays in the background), so
  DescribeReplay never shows RUNNING here.

Selected the supported way: `PROVIDER_OVERRIDE_EVENTS=alchemiser_replay` (scripts/localstack).
Every other EventBridge operation is LocalStack's, unchanged.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from localstack.aws.api import RequestContext
from localstack.aws.api.events import (
    Arn,
    ReplayDescription,
    ReplayDestination,
    ReplayName,
    ResourceAlreadyExistsException,
    StartReplayResponse,
    Timestamp,
)
from localstack.services.events.models import ValidationException
from localstack.services.events.provider import EventsProvider
from localstack.services.events.utils import extract_event_bus_name, format_event


def event_time(event: dict) -> datetime:
    """The envelope `time` of an archived event as an aware datetime (the archive keeps the
    string the envelope was written with)."""
    value = event["time"]
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def aware(value: Timestamp) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class ReplayingEventsProvider(EventsProvider):
    """LocalStack's EventBridge; StartReplay replays the archive's events as AWS does."""

    def start_replay(
        self,
        context: RequestContext,
        replay_name: ReplayName,
        event_source_arn: Arn,
        event_start_time: Timestamp,
        event_end_time: Timestamp,
        destination: ReplayDestination,
        description: ReplayDescription = None,
        **kwargs,
    ) -> StartReplayResponse:
        region, account_id = context.region, context.account_id
        store = self.get_store(region, account_id)
        if replay_name in store.replays:
            raise ResourceAlreadyExistsException(f"Replay {replay_name} already exists.")
        self._validate_replay_time(event_start_time, event_end_time)
        if event_source_arn not in self._archive_service_store:
            archive_name = event_source_arn.split("/")[-1]
            raise ValidationException(
                f"Parameter EventSourceArn is not valid. Reason: Archive {archive_name} does not exist."
            )
        self._validate_replay_destination(destination, event_source_arn)
        bus_name = extract_event_bus_name(destination["Arn"])
        bus = self.get_event_bus(bus_name, store)
        filter_arns = destination.get("FilterArns") or []
        rules = [rule for rule in bus.rules.values() if not filter_arns or rule.arn in filter_arns]
        unknown = set(filter_arns) - {rule.arn for rule in rules}
        if unknown:
            raise ValidationException(
                "Parameter Destination.FilterArns is not valid."
                f" Reason: no rule {sorted(unknown)} on event bus {bus_name}."
            )

        replay = self.create_replay_service(
            replay_name,
            region,
            account_id,
            event_source_arn,
            destination,
            event_start_time,
            event_end_time,
            description,
        )
        store.replays[replay.replay.name] = replay.replay
        start, end = aware(event_start_time), aware(event_end_time)
        archive = self._archive_service_store[event_source_arn].archive
        events = sorted(
            (event for event in list(archive.events.values()) if start <= event_time(event) <= end),
            key=event_time,
        )
        replay.start(None)
        trace_header = context.trace_context["aws_trace_header"]
        for event in events:
            entry = {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]),
                "Time": event_time(event),
                "EventBusName": bus_name,
                "ReplayName": replay_name,
            }
            if event.get("resources"):
                entry["Resources"] = event["resources"]
            formatted = format_event(entry, region, account_id, bus_name)
            for rule in rules:
                if not rule.schedule_expression:
                    self._process_rules(rule, region, account_id, formatted, trace_header)
        if events:
            replay.replay.event_last_replayed_time = event_time(events[-1])
        replay.finish()
        return StartReplayResponse(
            ReplayArn=replay.arn,
            State=replay.state,
            StateReason=replay.state_reason,
            ReplayStartTime=replay.replay_start_time,
        )
