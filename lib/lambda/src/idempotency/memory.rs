//! An in-process idempotency store, for `alchemiser invoke`, `alchemiser run`, the simulation and
//! tests. Same rules as the DynamoDB store.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    Claim, ClaimRequest, IdempotencyConfig, IdempotencyStore, Lease, LeaseRequest, StoreError,
    StoredResult,
};

#[derive(Debug, Clone)]
enum Record {
    InProgress {
        expires_at: DateTime<Utc>,
    },
    Completed {
        result: StoredResult,
        payload_hash: String,
        expires_at: DateTime<Utc>,
    },
}

/// An in-process store.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    records: Mutex<HashMap<String, Record>>,
    leases: Mutex<HashMap<String, (String, DateTime<Utc>)>>,
    config: IdempotencyConfig,
}

impl InMemoryStore {
    /// An empty store with the default timings.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store with the given timings.
    pub fn with_config(config: IdempotencyConfig) -> Self {
        Self {
            records: Mutex::default(),
            leases: Mutex::default(),
            config,
        }
    }

    /// Forgets the records whose key `forget` says (the simulation keeps memory bounded this
    /// way once the events they are for can come no more, as their TTL would).
    pub fn forget(&self, forget: impl Fn(&str) -> bool) {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|key, _| !forget(key));
    }
}

#[async_trait]
impl IdempotencyStore for InMemoryStore {
    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Claim, StoreError> {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        match records.get(request.key) {
            Some(Record::Completed {
                result,
                payload_hash,
                expires_at,
            }) if *expires_at > request.now => {
                if payload_hash != request.payload_hash {
                    return Ok(Claim::PayloadMismatch {
                        stored_hash: payload_hash.clone(),
                    });
                }
                return Ok(Claim::Completed(result.clone()));
            }
            Some(Record::InProgress { expires_at }) if *expires_at > request.now => {
                return Ok(Claim::InProgress {
                    expires_at: *expires_at,
                })
            }
            _ => {}
        }
        records.insert(
            request.key.to_owned(),
            Record::InProgress {
                expires_at: request.in_progress_until,
            },
        );
        Ok(Claim::Acquired)
    }

    async fn complete(
        &self,
        key: &str,
        payload_hash: &str,
        result: &StoredResult,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.insert(
            key.to_owned(),
            Record::Completed {
                result: result.clone(),
                payload_hash: payload_hash.to_owned(),
                expires_at: now + self.config.record_ttl,
            },
        );
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(records.get(key), Some(Record::InProgress { .. })) {
            records.remove(key);
        }
        Ok(())
    }

    async fn acquire_lease(&self, request: &LeaseRequest<'_>) -> Result<Lease, StoreError> {
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((holder, until)) = leases.get(request.name) {
            if holder != request.holder && *until > request.now {
                return Ok(Lease::Held {
                    holder: holder.clone(),
                    until: *until,
                });
            }
        }
        leases.insert(
            request.name.to_owned(),
            (request.holder.to_owned(), request.until),
        );
        Ok(Lease::Acquired)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        if leases.get(name).is_some_and(|(h, _)| h == holder) {
            leases.remove(name);
        }
        Ok(())
    }
}

/// Answers a claim in the store's place (`Some`), or lets the store answer (`None`).
type ClaimHook = Box<dyn Fn(&ClaimRequest<'_>) -> Option<Result<Claim, StoreError>> + Send + Sync>;
/// Answers the completion of a result in the store's place (`Some`), or lets the store (`None`).
type CompleteHook = Box<dyn Fn(&StoredResult) -> Option<Result<(), StoreError>> + Send + Sync>;

/// The in-process store with its claims or completions seen first by a test: to watch what the
/// runtime records, to make a write fail, or to hand back a record no run wrote. Every call a
/// hook leaves alone, and every lease call, goes to the store.
#[derive(Default)]
pub struct InterceptedStore {
    inner: InMemoryStore,
    claim: Option<ClaimHook>,
    complete: Option<CompleteHook>,
}

impl InterceptedStore {
    /// An empty store that intercepts nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets `hook` see every claim first.
    pub fn on_claim(
        mut self,
        hook: impl Fn(&ClaimRequest<'_>) -> Option<Result<Claim, StoreError>> + Send + Sync + 'static,
    ) -> Self {
        self.claim = Some(Box::new(hook));
        self
    }

    /// Lets `hook` see every result to complete first.
    pub fn on_complete(
        mut self,
        hook: impl Fn(&StoredResult) -> Option<Result<(), StoreError>> + Send + Sync + 'static,
    ) -> Self {
        self.complete = Some(Box::new(hook));
        self
    }
}

#[async_trait]
impl IdempotencyStore for InterceptedStore {
    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Claim, StoreError> {
        match self.claim.as_ref().and_then(|hook| hook(request)) {
            Some(answer) => answer,
            None => self.inner.claim(request).await,
        }
    }

    async fn complete(
        &self,
        key: &str,
        payload_hash: &str,
        result: &StoredResult,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self.complete.as_ref().and_then(|hook| hook(result)) {
            Some(answer) => answer,
            None => self.inner.complete(key, payload_hash, result, now).await,
        }
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.inner.release(key).await
    }

    async fn acquire_lease(&self, request: &LeaseRequest<'_>) -> Result<Lease, StoreError> {
        self.inner.acquire_lease(request).await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.inner.release_lease(name, holder).await
    }
}
