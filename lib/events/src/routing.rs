//! The routing table ([`crate::ROUTES`], one row per event type, each in its type's module):
//! who may produce each type (Rust handlers and the Python modules of the system this one
//! replaces, named here with their EventBridge `Source`) and which Rust handlers consume it.
//! Publishers derive `Source` from it, the CDK app builds one rule per consuming handler from its
//! JSON export (`lib/events/routes.json`), and the Lambda glue refuses events its handler does
//! not consume or that come from a source no producer of their type uses.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::ParseError;
use crate::event::{EventType, ROUTES};
use crate::registry::{HandlerName, HandlerSpecDocument, DEFAULT_WORKFLOW_DEADLINE, HANDLERS};

/// Prefix of every Rust `Source` unless configured otherwise (`EVENTBRIDGE_SOURCE_PREFIX`).
pub const DEFAULT_SOURCE_PREFIX: &str = "alchemiser";

/// Prefix of every `Source` the Python system sends: `"alchemiser." + source_module`, fixed in
/// its publisher whatever the Rust side is configured with.
pub const PYTHON_SOURCE_PREFIX: &str = "alchemiser";

/// The stem of a consuming handler's rule name; the CDK app appends `-<stage>`.
const RULE_NAME_STEM: &str = "alchemiser";

impl HandlerName {
    /// The event types routed to this handler.
    pub fn consumes(self) -> impl Iterator<Item = EventType> {
        ROUTES
            .iter()
            .filter(move |route| route.consumers.contains(&self))
            .map(|route| route.event_type)
    }

    /// Whether this handler consumes `event_type`.
    pub fn consumes_type(self, event_type: EventType) -> bool {
        Route::of(event_type).consumers.contains(&self)
    }

    /// The event types this handler publishes.
    pub fn produces(self) -> impl Iterator<Item = EventType> {
        ROUTES
            .iter()
            .filter(move |route| route.producers.contains(&Producer::rust(self)))
            .map(|route| route.event_type)
    }

    /// The EventBridge `Source` of events this handler produces: `{prefix}.{handler}`.
    pub fn source(self, prefix: &str) -> String {
        Producer::rust(self).source(prefix)
    }

    /// Every source an event this handler consumes may come with (its rule matches these).
    pub fn accepted_sources(self, prefix: &str) -> BTreeSet<String> {
        ROUTES
            .iter()
            .filter(|route| route.consumers.contains(&self))
            .flat_map(|route| route.producers.iter().map(|p| p.source(prefix)))
            .collect()
    }
}

impl Serialize for HandlerName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
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

/// Which system a producer belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// A handler of this workspace: `Source` = `{configured prefix}.{handler}`.
    Rust,
    /// A module of the Python system: `Source` = `alchemiser.{module}`.
    Python,
}

/// One producer of an event type: the `source_module` its events carry, and so its `Source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Producer {
    /// The events' `source_module`.
    pub module: &'static str,
    /// The system it belongs to.
    pub language: Language,
}

impl Producer {
    /// A Rust handler.
    pub const fn rust(handler: HandlerName) -> Self {
        Self {
            module: handler.as_str(),
            language: Language::Rust,
        }
    }

    /// A Python module (its `source_module`, e.g. `portfolio_v2.handlers`).
    pub const fn python(module: &'static str) -> Self {
        Self {
            module,
            language: Language::Python,
        }
    }

    /// The EventBridge `Source` its events are published with.
    pub fn source(&self, prefix: &str) -> String {
        match self.language {
            Language::Rust => format!("{prefix}.{}", self.module),
            Language::Python => format!("{PYTHON_SOURCE_PREFIX}.{}", self.module),
        }
    }
}

/// One row of the routing table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The event type routed.
    pub event_type: EventType,
    /// Everyone who may publish it; an event from anyone else is refused.
    pub producers: &'static [Producer],
    /// The Rust handlers it is delivered to.
    pub consumers: &'static [HandlerName],
}

/// Every Rust handler as a producer, in workflow order: any of them may fail a workflow (the
/// consumer runtime announces a permanent failure as the handler's WorkflowFailed; the monitor
/// fails the workflows that stall).
pub(crate) const EVERY_RUST_HANDLER: [Producer; HandlerName::ALL.len()] = {
    let mut producers = [Producer::rust(HandlerName::Strategy); HandlerName::ALL.len()];
    let mut i = 0;
    while i < producers.len() {
        producers[i] = Producer::rust(HandlerName::ALL[i]);
        i += 1;
    }
    producers
};

// The producers the event types' routes name (each type's module has its row of the table).
pub(crate) const STRATEGY: Producer = Producer::rust(HandlerName::Strategy);
pub(crate) const PORTFOLIO: Producer = Producer::rust(HandlerName::Portfolio);
pub(crate) const EXECUTION: Producer = Producer::rust(HandlerName::Execution);
pub(crate) const PY_ORCHESTRATOR: Producer =
    Producer::python("orchestration.event_driven_orchestrator");
pub(crate) const PY_STRATEGY: Producer = Producer::python("strategy_v2.handlers");
pub(crate) const PY_PORTFOLIO: Producer = Producer::python("portfolio_v2.handlers");
pub(crate) const PY_EXECUTION: Producer = Producer::python("execution_v2.handlers");

/// An event whose `source_module` or `Source` is not a producer of its type in the routing table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{event_type} from {found} is not from a producer the routing table knows for it (expected one of: {known}); a forged or misrouted event is refused — if a new producer is real, add it to the type's ROUTE (lib/events/src/event/<type>.rs)")]
pub struct UnknownProducer {
    /// The event's type.
    pub event_type: EventType,
    /// What it came with (`source_module` or `Source`).
    pub found: String,
    /// What the table allows.
    pub known: String,
}

impl Route {
    /// The row for `event_type`.
    pub fn of(event_type: EventType) -> &'static Route {
        ROUTES
            .iter()
            .find(|route| route.event_type == event_type)
            .expect("ROUTES has a row for every event type (checked by a test)")
    }

    /// The Rust handlers that produce this type: who may sign it.
    pub fn rust_producers(&self) -> Vec<&'static str> {
        self.producers
            .iter()
            .filter(|producer| producer.language == Language::Rust)
            .map(|producer| producer.module)
            .collect()
    }

    /// The producer whose events carry `source_module`.
    pub fn producer(&self, source_module: &str) -> Result<&'static Producer, UnknownProducer> {
        self.producers
            .iter()
            .find(|producer| producer.module == source_module)
            .ok_or_else(|| UnknownProducer {
                event_type: self.event_type,
                found: format!("source_module `{source_module}`"),
                known: self
                    .producers
                    .iter()
                    .map(|p| p.module)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The EventBridge `Source` of an event of this type from `source_module`.
    pub fn source_of(&self, source_module: &str, prefix: &str) -> Result<String, UnknownProducer> {
        Ok(self.producer(source_module)?.source(prefix))
    }

    /// The producer whose events come with the EventBridge `Source` `source`. The `Source` is
    /// what identifies a producer: IAM lets each function put events with its own source only
    /// (`events:source`), while `source_module` is free text in the detail.
    pub fn check_source(
        &self,
        source: &str,
        prefix: &str,
    ) -> Result<&'static Producer, UnknownProducer> {
        self.producers
            .iter()
            .find(|producer| producer.source(prefix) == source)
            .ok_or_else(|| UnknownProducer {
                event_type: self.event_type,
                found: format!("source `{source}`"),
                known: self
                    .producers
                    .iter()
                    .map(|p| p.source(prefix))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

impl EventType {
    /// This type's row of the routing table.
    pub fn route(self) -> &'static Route {
        Route::of(self)
    }
}

/// The routing table as the JSON the CDK app and the test scripts read (`alchemiser routes --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoutingDocument {
    /// The prefix the Rust sources below were written with.
    pub source_prefix: String,
    /// The prefix of every Python source.
    pub python_source_prefix: &'static str,
    /// Every handler (one Lambda function each).
    pub handlers: Vec<HandlerName>,
    /// Each handler's spec from the registry, in the order of `handlers`.
    pub specs: Vec<HandlerSpecDocument>,
    /// How long a workflow may run, in seconds, unless a stage sets its own deadline.
    pub default_workflow_deadline_seconds: u64,
    /// The handlers a stage assigns an owner (`rust`, `python` or `shadow`), with the Python
    /// module that does the same job.
    pub ownable: Vec<OwnableDocument>,
    /// One row per event type.
    pub routes: Vec<RouteDocument>,
    /// One rule per consuming handler: what it matches.
    pub rules: Vec<RuleDocument>,
}

/// A handler with a Python counterpart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnableDocument {
    /// The Rust handler.
    pub handler: HandlerName,
    /// The Python module doing its job.
    pub python_module: &'static str,
}

/// One row of [`RoutingDocument::routes`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteDocument {
    /// The `DetailType`.
    pub event_type: EventType,
    /// Who may publish it.
    pub producers: Vec<ProducerDocument>,
    /// The Rust handlers it is delivered to.
    pub consumers: Vec<HandlerName>,
}

/// One producer in [`RouteDocument`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProducerDocument {
    /// Its events' `source_module`.
    pub module: &'static str,
    /// `rust` or `python`.
    pub language: Language,
    /// The exact `Source` it publishes with.
    pub source: String,
}

/// The rule of one consuming handler: EventBridge matches `source` ∈ `sources` and
/// `detail-type` ∈ `event_types`, the function then checks the pair against the routes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleDocument {
    /// The consuming handler.
    pub handler: HandlerName,
    /// The rule's name without the stage: the CDK app appends `-<stage>`.
    pub name: String,
    /// The detail-types it matches.
    pub event_types: Vec<EventType>,
    /// The sources it matches.
    pub sources: Vec<String>,
}

impl RoutingDocument {
    /// The table for a `Source` prefix.
    pub fn new(prefix: &str) -> Self {
        let producers = |route: &Route| {
            route
                .producers
                .iter()
                .map(|producer| ProducerDocument {
                    module: producer.module,
                    language: producer.language,
                    source: producer.source(prefix),
                })
                .collect()
        };
        Self {
            source_prefix: prefix.to_owned(),
            python_source_prefix: PYTHON_SOURCE_PREFIX,
            handlers: HandlerName::ALL.to_vec(),
            specs: HANDLERS.iter().map(HandlerSpecDocument::from).collect(),
            default_workflow_deadline_seconds: DEFAULT_WORKFLOW_DEADLINE.as_secs(),
            ownable: HandlerName::ALL
                .into_iter()
                .filter_map(|handler| {
                    handler
                        .spec()
                        .python_counterpart
                        .map(|python_module| OwnableDocument {
                            handler,
                            python_module,
                        })
                })
                .collect(),
            routes: ROUTES
                .iter()
                .map(|route| RouteDocument {
                    event_type: route.event_type,
                    producers: producers(route),
                    consumers: route.consumers.to_vec(),
                })
                .collect(),
            rules: HandlerName::ALL
                .into_iter()
                .filter(|handler| handler.consumes().next().is_some())
                .map(|handler| RuleDocument {
                    handler,
                    name: format!("{RULE_NAME_STEM}-{handler}-events"),
                    event_types: handler.consumes().collect(),
                    sources: handler.accepted_sources(prefix).into_iter().collect(),
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
    use EventType::*;

    #[test]
    fn every_event_type_has_exactly_one_route_and_a_rust_producer() {
        for event_type in EventType::ALL {
            let rows: Vec<_> = ROUTES
                .iter()
                .filter(|r| r.event_type == event_type)
                .collect();
            assert_eq!(rows.len(), 1, "{event_type} has {} routes", rows.len());
            assert!(
                rows[0]
                    .producers
                    .iter()
                    .any(|p| p.language == Language::Rust),
                "{event_type} has no Rust producer: the Rust system could not run alone"
            );
            let modules: BTreeSet<_> = rows[0].producers.iter().map(|p| p.module).collect();
            assert_eq!(
                modules.len(),
                rows[0].producers.len(),
                "{event_type}: a producer twice"
            );
        }
    }

    #[test]
    fn consumers_match_the_workflow() {
        let consumed = |handler: HandlerName| handler.consumes().collect::<Vec<_>>();
        assert_eq!(consumed(HandlerName::Strategy), vec![]);
        assert_eq!(consumed(HandlerName::Portfolio), vec![SignalGenerated]);
        assert_eq!(consumed(HandlerName::Execution), vec![RebalancePlanned]);
        assert_eq!(consumed(HandlerName::Monitor), EventType::ALL.to_vec());
        let produced = |handler: HandlerName| handler.produces().collect::<Vec<_>>();
        assert_eq!(
            produced(HandlerName::Strategy),
            vec![WorkflowStarted, SignalGenerated, WorkflowFailed]
        );
        assert_eq!(produced(HandlerName::Monitor), vec![WorkflowFailed]);
    }

    #[test]
    fn sources_follow_the_producer() {
        let route = SignalGenerated.route();
        assert_eq!(
            route.source_of("strategy", "acme").unwrap(),
            "acme.strategy"
        );
        assert_eq!(
            route.source_of("strategy_v2.handlers", "acme").unwrap(),
            "alchemiser.strategy_v2.handlers",
            "Python sources do not follow the Rust prefix"
        );
        let forged = route.source_of("portfolio", "alchemiser").unwrap_err();
        assert!(
            forged
                .to_string()
                .contains("strategy, strategy_v2.handlers"),
            "{forged}"
        );
    }

    #[test]
    fn a_plan_is_accepted_only_from_a_portfolio_source() {
        let route = RebalancePlanned.route();
        let python = route
            .check_source("alchemiser.portfolio_v2.handlers", "alchemiser")
            .unwrap();
        assert_eq!(python.language, Language::Python);
        assert_eq!(
            route.check_source("acme.portfolio", "acme").unwrap().module,
            "portfolio"
        );
        // A strategy function cannot pass off a plan as the portfolio's, whatever its detail says.
        for source in [
            "alchemiser.strategy",
            "alchemiser.execution",
            "alchemiser.portfolio_v2",
            "acme.portfolio",
            "",
        ] {
            let error = route.check_source(source, "alchemiser").unwrap_err();
            assert_eq!(error.event_type, RebalancePlanned);
            assert!(
                error
                    .to_string()
                    .contains("alchemiser.portfolio_v2.handlers"),
                "{error}"
            );
        }
    }

    #[test]
    fn each_consumer_has_one_rule_covering_exactly_its_producers() {
        let document = RoutingDocument::new(DEFAULT_SOURCE_PREFIX);
        let rules: Vec<_> = document.rules.iter().map(|r| r.handler).collect();
        let consumers: Vec<_> = HandlerName::ALL
            .into_iter()
            .filter(|handler| handler.consumes().next().is_some())
            .collect();
        assert_eq!(rules, consumers, "one rule per consuming handler, in order");
        for handler in [
            HandlerName::Portfolio,
            HandlerName::Execution,
            HandlerName::Monitor,
        ] {
            assert!(rules.contains(&handler), "{handler}");
        }
        let rule_of = |handler| {
            document
                .rules
                .iter()
                .find(|rule| rule.handler == handler)
                .expect("a rule of each consumer")
        };
        let execution = rule_of(HandlerName::Execution);
        assert_eq!(execution.event_types, vec![RebalancePlanned]);
        assert_eq!(
            execution.sources,
            vec!["alchemiser.portfolio", "alchemiser.portfolio_v2.handlers"]
        );
        assert_eq!(
            rule_of(HandlerName::Monitor).sources.len(),
            8,
            "four Rust and four Python sources"
        );
        let ownable: Vec<_> = document.ownable.iter().map(|o| o.handler).collect();
        assert_eq!(
            ownable,
            vec![
                HandlerName::Strategy,
                HandlerName::Portfolio,
                HandlerName::Execution
            ]
        );
    }

    #[test]
    fn checked_in_routes_json_matches_the_code() {
        let checked_in = include_str!("../routes.json");
        assert!(
            checked_in == RoutingDocument::new(DEFAULT_SOURCE_PREFIX).to_pretty_json(),
            "lib/events/routes.json has drifted from the routing table and the registry in lib/events; \
             regenerate it with `cargo run -p alchemiser -- routes --json > lib/events/routes.json`"
        );
    }
}
