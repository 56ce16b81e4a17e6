//! The start-up check that the bus exists: PutEvents to a missing bus reports success.

use tokio::time::Instant;

use super::{Clients, EventBridgePublisher};
use crate::retry::{backoff_ceiling, full_jitter, Failure};

impl EventBridgePublisher {
    /// Checks once (per publisher) that the bus exists; only success is remembered, so a bus
    /// created later is found on the next publish.
    pub(super) async fn ensure_bus(
        &self,
        clients: &Clients,
        deadline: Instant,
    ) -> Result<(), Failure> {
        let config = &self.config;
        self.bus_checked
            .get_or_try_init(|| async {
                let mut attempt = 0u32;
                loop {
                    attempt += 1;
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    let request = clients
                        .events
                        .describe_event_bus()
                        .name(&config.bus_name)
                        .send();
                    let failure = match tokio::time::timeout(remaining, request).await {
                        Ok(Ok(_)) => return Ok(()),
                        Ok(Err(error)) => {
                            let not_found = error
                                .as_service_error()
                                .is_some_and(|e| e.is_resource_not_found_exception());
                            let failure = Failure::from_sdk("DescribeEventBus", &error);
                            if not_found {
                                return Err(Failure {
                                    code: "ResourceNotFoundException".into(),
                                    reason: format!(
                                        "event bus `{bus}` does not exist (DescribeEventBus: ResourceNotFoundException); \
                                         deploy it (infra/) or create it (`aws events create-event-bus --name {bus}`), \
                                         or set EVENTBRIDGE_BUS_NAME to an existing bus",
                                        bus = config.bus_name
                                    ),
                                    retryable: false,
                                });
                            }
                            if !failure.retryable {
                                return Err(Failure {
                                    reason: format!(
                                        "could not check that event bus `{}` exists: {}; if the role may only put events, \
                                         set EVENTBRIDGE_VERIFY_BUS=false",
                                        config.bus_name, failure.reason
                                    ),
                                    ..failure
                                });
                            }
                            failure
                        }
                        Err(_) => Failure {
                            code: "Timeout".into(),
                            reason: "DescribeEventBus did not answer before the publish deadline".into(),
                            retryable: true,
                        },
                    };
                    let sleep =
                        full_jitter(backoff_ceiling(attempt, config.base_backoff, config.max_backoff));
                    if attempt >= config.max_attempts || Instant::now() + sleep >= deadline {
                        return Err(Failure {
                            reason: format!(
                                "could not check that event bus `{}` exists after {attempt} attempts: {}",
                                config.bus_name, failure.reason
                            ),
                            ..failure
                        });
                    }
                    tokio::time::sleep(sleep).await;
                }
            })
            .await
            .map(|_| ())
    }
}
