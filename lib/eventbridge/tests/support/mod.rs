//! A fake EventBridge on 127.0.0.1 that speaks the AWS JSON 1.1 protocol (`x-amz-target:
//! AWSEvents.PutEvents` / `AWSEvents.DescribeEventBus`) and injects faults: whole-request
//! throttling (400), 500/503s, partial failures with mixed entry codes, requests accepted but
//! answered with a 500 (to provoke duplicates), and an outage during which the port refuses
//! connections (the listener is closed, then bound again on the same port). Each PutEvents
//! answer can wait a fixed delay, so concurrent requests overlap; the server records how many
//! were in flight at once.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alchemiser_eventbridge::{EventBridgePublisher, PublisherConfig};
use aws_config::{BehaviorVersion, Region};
use aws_sdk_eventbridge::config::Credentials;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{watch, Notify};

/// The `metadata.inject` value that makes the server reject an entry with `MalformedDetail`.
pub const POISON: &str = "MalformedDetail";

/// What to inject, as probabilities per request or per entry.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Whole request answered 400 ThrottlingException.
    pub throttle_request: f64,
    /// Whole request answered 500 InternalException (JSON).
    pub http500: f64,
    /// Whole request answered 503 (plain text, no error code).
    pub http503: f64,
    /// Entries recorded as received, then the request answered 500 (the client must resend:
    /// duplicates, never losses). Malformed entries are not accepted: EventBridge would have
    /// rejected them.
    pub accept_then_500: f64,
    /// Entry answered ThrottlingException.
    pub entry_throttle: f64,
    /// Entry answered InternalFailure.
    pub entry_internal: f64,
    /// After this many PutEvents requests, refuse connections for `outage`.
    pub outage_after: Option<u64>,
    /// How long the port refuses connections.
    pub outage: Duration,
    /// Whether DescribeEventBus finds the bus.
    pub bus_exists: bool,
    /// Random seed.
    pub seed: u64,
    /// How long each PutEvents answer takes (a cloud round trip).
    pub delay: Duration,
}

impl Faults {
    /// No faults at all.
    pub fn none() -> Self {
        Self {
            throttle_request: 0.0,
            http500: 0.0,
            http503: 0.0,
            accept_then_500: 0.0,
            entry_throttle: 0.0,
            entry_internal: 0.0,
            outage_after: None,
            outage: Duration::ZERO,
            bus_exists: true,
            seed: 7,
            delay: Duration::ZERO,
        }
    }
}

/// What the server saw.
#[derive(Debug, Default)]
pub struct Record {
    /// Event id → times the server accepted it (answered success, or accepted-then-500).
    pub accepted: HashMap<String, u32>,
    /// Event id → times the server saw it in any PutEvents request.
    pub seen: HashMap<String, u32>,
    /// PutEvents requests, by outcome.
    pub put_requests: u64,
    /// Requests answered 400 ThrottlingException.
    pub throttled_requests: u64,
    /// Requests answered 500/503.
    pub server_errors: u64,
    /// Requests accepted then answered 500.
    pub accepted_then_500: u64,
    /// Entries answered with each error code.
    pub entry_errors: HashMap<String, u64>,
    /// DescribeEventBus calls.
    pub describe_calls: u64,
    /// Largest number of entries in one request.
    pub max_entries: usize,
    /// Outages begun.
    pub outages: u64,
    /// Events answered MalformedDetail.
    pub rejected_permanently: HashMap<String, u32>,
    /// Most PutEvents requests being answered at once. A request whose client gave up (its
    /// attempt timed out) may still be counted until the server notices, so only a run without
    /// timeouts bounds this by the client's `max_in_flight`.
    pub max_in_flight: usize,
    /// Events sent again after a MalformedDetail answer (must stay empty).
    pub resent_after_permanent: Vec<String>,
}

/// A running fake EventBridge.
pub struct FakeEventBridge {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// What it saw.
    pub record: Arc<Mutex<Record>>,
    faults: Arc<Mutex<Faults>>,
    stop: watch::Sender<bool>,
}

struct Shared {
    record: Arc<Mutex<Record>>,
    faults: Arc<Mutex<Faults>>,
    rng: Mutex<fastrand::Rng>,
    requests: AtomicU64,
    outage: Notify,
    outage_started: AtomicBool,
    in_flight: AtomicUsize,
}

impl FakeEventBridge {
    /// Starts the server on an ephemeral port.
    pub async fn start(faults: Faults) -> Self {
        let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0)));
        let address = listener.local_addr().expect("local address");
        let record = Arc::new(Mutex::new(Record::default()));
        let seed = faults.seed;
        let faults = Arc::new(Mutex::new(faults));
        let shared = Arc::new(Shared {
            record: record.clone(),
            faults: faults.clone(),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            requests: AtomicU64::new(0),
            outage: Notify::new(),
            outage_started: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
        });
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(serve(listener, address, shared, stopped));
        Self {
            url: format!("http://{address}"),
            record,
            faults,
            stop,
        }
    }

    /// Changes the faults from now on.
    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().unwrap() = faults;
    }

    /// A publisher pointed at this server with test credentials.
    pub fn publisher(&self, config: PublisherConfig) -> EventBridgePublisher {
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "fake"));
        EventBridgePublisher::with_config_loader(config, loader)
    }
}

impl Drop for FakeEventBridge {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn listen(address: SocketAddr) -> TcpListener {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket.bind(address).expect("bind");
    socket.listen(1024).expect("listen")
}

async fn serve(
    listener: TcpListener,
    address: SocketAddr,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut listener = listener;
    // Closing every open connection as well as the listener makes the client see refused
    // connections, not a pooled keep-alive connection that still works.
    let (kill, _) = watch::channel(0u64);
    loop {
        let accepted = tokio::select! {
            _ = stopped.changed() => return,
            _ = shared.outage.notified() => None,
            accepted = listener.accept() => Some(accepted),
        };
        match accepted {
            None => {
                drop(listener);
                kill.send_modify(|generation| *generation += 1);
                let outage = shared.faults.lock().unwrap().outage;
                tokio::time::sleep(outage).await;
                listener = listen(address);
            }
            Some(Err(_)) => continue,
            Some(Ok((stream, _))) => {
                let shared = shared.clone();
                let mut killed = kill.subscribe();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(handle(&shared, request).await) }
                    });
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = connection => {}
                        _ = killed.changed() => {}
                    }
                });
            }
        }
    }
}

fn reply(status: u16, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    response
}

fn error(status: u16, code: &str, message: &str) -> Response<Full<Bytes>> {
    reply(status, json!({"__type": code, "message": message}))
}

async fn handle(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return error(400, "SerializationException", "unreadable body"),
    };
    let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let faults = shared.faults.lock().unwrap().clone();
    match target.as_str() {
        "AWSEvents.DescribeEventBus" => {
            shared.record.lock().unwrap().describe_calls += 1;
            let name = input["Name"].as_str().unwrap_or("default");
            if faults.bus_exists {
                reply(
                    200,
                    json!({"Name": name, "Arn": format!("arn:aws:events:us-east-1:000000000000:event-bus/{name}")}),
                )
            } else {
                error(
                    400,
                    "ResourceNotFoundException",
                    &format!("Event bus {name} does not exist."),
                )
            }
        }
        "AWSEvents.PutEvents" => {
            let in_flight = InFlight::enter(&shared.in_flight);
            {
                let mut record = shared.record.lock().unwrap();
                record.max_in_flight = record.max_in_flight.max(in_flight.count);
            }
            tokio::time::sleep(faults.delay).await;
            put_events(shared, &faults, &input)
        }
        other => error(
            400,
            "UnknownOperationException",
            &format!("unknown target {other:?}"),
        ),
    }
}

/// One PutEvents being answered; leaves the count when dropped, also when hyper drops the
/// request because its client gave up on it (a timed-out attempt).
struct InFlight<'a> {
    counter: &'a AtomicUsize,
    count: usize,
}

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        let count = counter.fetch_add(1, Ordering::SeqCst) + 1;
        Self { counter, count }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::SeqCst);
    }
}

fn put_events(shared: &Shared, faults: &Faults, input: &Value) -> Response<Full<Bytes>> {
    let number = shared.requests.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(after) = faults.outage_after {
        if number >= after && !shared.outage_started.swap(true, Ordering::SeqCst) {
            shared.record.lock().unwrap().outages += 1;
            shared.outage.notify_one();
        }
    }
    let entries = input["Entries"].as_array().cloned().unwrap_or_default();
    let mut record = shared.record.lock().unwrap();
    let mut rng = shared.rng.lock().unwrap();
    record.put_requests += 1;
    record.max_entries = record.max_entries.max(entries.len());
    let ids: Vec<String> = entries.iter().map(event_id_of).collect();
    for id in &ids {
        *record.seen.entry(id.clone()).or_default() += 1;
        if record.rejected_permanently.contains_key(id) {
            record.resent_after_permanent.push(id.clone());
        }
    }
    if entries.is_empty() || entries.len() > 10 {
        return error(400, "ValidationException", "1 to 10 entries per request");
    }
    let roll = rng.f64();
    let mut threshold = faults.throttle_request;
    if roll < threshold {
        record.throttled_requests += 1;
        return error(400, "ThrottlingException", "Rate exceeded");
    }
    threshold += faults.http500;
    if roll < threshold {
        record.server_errors += 1;
        return error(500, "InternalException", "internal error");
    }
    threshold += faults.http503;
    if roll < threshold {
        record.server_errors += 1;
        let mut response = Response::new(Full::new(Bytes::from_static(b"Service Unavailable")));
        *response.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
        return response;
    }
    threshold += faults.accept_then_500;
    if roll < threshold {
        record.accepted_then_500 += 1;
        record.server_errors += 1;
        for (entry, id) in entries.iter().zip(&ids) {
            if !is_poisoned(entry) {
                *record.accepted.entry(id.clone()).or_default() += 1;
            }
        }
        return error(500, "InternalException", "accepted, then failed to answer");
    }
    let mut results = Vec::new();
    let mut failed = 0;
    for (entry, id) in entries.iter().zip(&ids) {
        let poisoned = is_poisoned(entry);
        let roll = rng.f64();
        let code = if poisoned {
            Some(POISON)
        } else if roll < faults.entry_throttle {
            Some("ThrottlingException")
        } else if roll < faults.entry_throttle + faults.entry_internal {
            Some("InternalFailure")
        } else {
            None
        };
        match code {
            Some(code) => {
                failed += 1;
                if code == POISON {
                    *record.rejected_permanently.entry(id.clone()).or_default() += 1;
                }
                *record.entry_errors.entry(code.to_owned()).or_default() += 1;
                results
                    .push(json!({"ErrorCode": code, "ErrorMessage": format!("injected {code}")}));
            }
            None => {
                *record.accepted.entry(id.clone()).or_default() += 1;
                results.push(json!({"EventId": format!("eb-{number}-{}", results.len())}));
            }
        }
    }
    reply(200, json!({"FailedEntryCount": failed, "Entries": results}))
}

/// Whether an entry's Detail carries the poison that EventBridge answers with MalformedDetail.
fn is_poisoned(entry: &Value) -> bool {
    entry["Detail"]
        .as_str()
        .and_then(|detail| serde_json::from_str::<Value>(detail).ok())
        .is_some_and(|detail| detail["metadata"]["inject"] == POISON)
}

/// The event id inside an entry's Detail.
pub fn event_id_of(entry: &Value) -> String {
    entry["Detail"]
        .as_str()
        .and_then(|detail| serde_json::from_str::<Value>(detail).ok())
        .and_then(|detail| detail["event_id"].as_str().map(str::to_owned))
        .unwrap_or_default()
}
