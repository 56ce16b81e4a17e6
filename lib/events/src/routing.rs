//! The one routing table: event type → producing module (hence EventBridge `Source`) → consuming
//! handler. Publishers derive `Source` from it, the CDK app builds its rules from its JSON export
//! (`lib/events/routes.json`), and the Lambda glue refuses events its handler does not consume.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::ParseError;
use crate::event::EventType;

/// Prefix of every `Source` unless configured otherwise (`EVENTBRIDGE_SOURCE_PREFIX`).
pub const DEFAULT_SOURCE_PREFIX: &str = "alchemiser";

/// The workflow's handlers; each runs as one Lambda function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HandlerName {
    /// Emits `WorkflowStarted` and `SignalGenerated` from a target allocation.
    Strategy,
    /// `SignalGenerated` → `RebalancePlanned`.
    Portfolio,
    /// `RebalancePlanned` → `TradeExecuted` → `WorkflowCompleted` | `WorkflowFailed`.
    Execution,
    /// Records workflow outcomes.
    Monitor,
}

impl HandlerName {
    /// Every handler, in workflow order.
    pub const ALL: [HandlerName; 4] = [
        HandlerName::Strategy,
        HandlerName::Portfolio,
        HandlerName::Execution,
        HandlerName::Monitor,
    ];

    /// The handler's name, which is also its module in `Source` and its function's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            HandlerName::Strategy => "strategy",
            HandlerName::Portfolio => "portfolio",
            HandlerName::Execution => "execution",
            HandlerName::Monitor => "monitor",
        }
    }

    /// The event types routed to this handler.
    pub fn consumes(self) -> impl Iterator<Item = EventType> {
        ROUTES
            .iter()
            .filter(move |route| route.consumer == Some(self))
            .map(|route| route.event_type)
    }

    /// Whether this handler consumes `event_type`.
    pub fn consumes_type(self, event_type: EventType) -> bool {
        Route::of(event_type).consumer == Some(self)
    }

    /// The EventBridge `Source` of events this handler produces: `{prefix}.{handler}`.
    pub fn source(self, prefix: &str) -> String {
        format!("{prefix}.{}", self.as_str())
    }
}

impl fmt::Display for HandlerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for HandlerName {
    type Err = ParseError;
    fn from_str(name: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|handler| handler.as_str() == name)
            .ok_or_else(|| ParseError::Unknown {
                kind: "handler",
                found: name.to_owned(),
                known: Self::ALL.map(Self::as_str).join(", "),
            })
    }
}

/// One row of the routing table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The event type routed.
    pub event_type: EventType,
    /// The only handler that produces it; its name is the `Source` module.
    pub producer: HandlerName,
    /// The handler that consumes it; `None` for events that are only archived.
    pub consumer: Option<HandlerName>,
}

/// The routing table. Every [`EventType`] has exactly one row (a test checks it).
pub const ROUTES: [Route; 6] = [
    Route {
        event_type: EventType::WorkflowStarted,
        producer: HandlerName::Strategy,
        consumer: None,
    },
    Route {
        event_type: EventType::SignalGenerated,
        producer: HandlerName::Strategy,
        consumer: Some(HandlerName::Portfolio),
    },
    Route {
        event_type: EventType::RebalancePlanned,
        producer: HandlerName::Portfolio,
        consumer: Some(HandlerName::Execution),
    },
    Route {
        event_type: EventType::TradeExecuted,
        producer: HandlerName::Execution,
        consumer: Some(HandlerName::Monitor),
    },
    Route {
        event_type: EventType::WorkflowCompleted,
        producer: HandlerName::Execution,
        consumer: Some(HandlerName::Monitor),
    },
    Route {
        event_type: EventType::WorkflowFailed,
        producer: HandlerName::Execution,
        consumer: Some(HandlerName::Monitor),
    },
];

impl Route {
    /// The row for `event_type`.
    pub fn of(event_type: EventType) -> &'static Route {
        ROUTES
            .iter()
            .find(|route| route.event_type == event_type)
            .expect("ROUTES has a row for every event type (checked by a test)")
    }

    /// The EventBridge `Source` publishers send for this event type.
    pub fn source(&self, prefix: &str) -> String {
        self.producer.source(prefix)
    }
}

impl EventType {
    /// This type's row of the routing table.
    pub fn route(self) -> &'static Route {
        Route::of(self)
    }
}

/// The routing table as the JSON the CDK app reads (`alchemiser routes --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoutingDocument {
    /// The `Source` prefix the sources below were written with.
    pub source_prefix: String,
    /// Every handler (one Lambda function each).
    pub handlers: Vec<HandlerName>,
    /// One row per event type.
    pub routes: Vec<RouteDocument>,
}

/// One row of [`RoutingDocument`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteDocument {
    /// The `DetailType`.
    pub event_type: EventType,
    /// The producing handler.
    pub producer: HandlerName,
    /// The exact `Source` publishers send.
    pub source: String,
    /// The consuming handler, or null.
    pub consumer: Option<HandlerName>,
}

impl RoutingDocument {
    /// The table for a `Source` prefix.
    pub fn new(prefix: &str) -> Self {
        Self {
            source_prefix: prefix.to_owned(),
            handlers: HandlerName::ALL.to_vec(),
            routes: ROUTES
                .iter()
                .map(|route| RouteDocument {
                    event_type: route.event_type,
                    producer: route.producer,
                    source: route.source(prefix),
                    consumer: route.consumer,
                })
                .collect(),
        }
    }

    /// Pretty JSON with a trailing newline: the exact text of the checked-in `routes.json`.
    pub fn to_pretty_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("routing document serialises");
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_has_exactly_one_route() {
        for event_type in EventType::ALL {
            let rows = ROUTES.iter().filter(|r| r.event_type == event_type).count();
            assert_eq!(rows, 1, "{event_type} has {rows} routes");
        }
    }

    #[test]
    fn consumers_match_the_workflow() {
        use EventType::*;
        let consumed = |handler: HandlerName| handler.consumes().collect::<Vec<_>>();
        assert_eq!(consumed(HandlerName::Strategy), vec![]);
        assert_eq!(consumed(HandlerName::Portfolio), vec![SignalGenerated]);
        assert_eq!(consumed(HandlerName::Execution), vec![RebalancePlanned]);
        assert_eq!(
            consumed(HandlerName::Monitor),
            vec![TradeExecuted, WorkflowCompleted, WorkflowFailed]
        );
        assert_eq!(
            SignalGenerated.route().source("alchemiser"),
            "alchemiser.strategy"
        );
        assert_eq!(RebalancePlanned.route().source("acme"), "acme.portfolio");
    }

    #[test]
    fn checked_in_routes_json_matches_the_code() {
        let checked_in = include_str!("../routes.json");
        assert!(
            checked_in == RoutingDocument::new(DEFAULT_SOURCE_PREFIX).to_pretty_json(),
            "lib/events/routes.json has drifted from the routing table in lib/events/src/routing.rs; \
             regenerate it with `cargo run -p alchemiser -- routes --json > lib/events/routes.json`"
        );
    }
}
