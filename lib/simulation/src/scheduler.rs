//! A deterministic executor for the simulation: invocations run as tasks that pause at every
//! port call (before the call and after it took effect) and whenever they wait; a seeded choice
//! picks which runnable task goes on, so concurrent invocations interleave at port calls, and a
//! task can be killed at any pause with no clean-up code running — a crash, or a timeout. Time is
//! simulation time: it moves only when no task can run, to the next wake-up or world event.
//!
//! Why a scheduler of our own rather than madsim, turmoil or shuttle: the code under test already
//! reaches the world through ports (store, broker, bus, ledger, clock), so pausing at the ports is
//! all the interleaving that can matter, and it needs no change to how the code is built (madsim
//! replaces tokio at compile time; shuttle replaces the sync primitives; turmoil simulates
//! sockets, which nothing here uses directly).

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use alchemiser_clock::Clock;
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

/// A task's id.
pub type TaskId = u64;

thread_local! {
    /// When the task just polled, which returned `Pending`, may run again (set by [`Pause`]).
    static RESUME: Cell<Option<Resume>> = const { Cell::new(None) };
    /// The task being polled.
    static CURRENT: Cell<Option<TaskId>> = const { Cell::new(None) };
}

/// When a paused task may run again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resume {
    /// Runnable again after this long (a port call's latency; zero: at once).
    For(Duration),
    /// Runnable again at this instant (a clock sleep).
    Until(DateTime<Utc>),
}

/// The task being polled now, if any (adapters attribute what they see to it).
pub fn current_task() -> Option<TaskId> {
    CURRENT.with(Cell::get)
}

/// A point where the running task gives way: the future is pending once, then ready.
pub struct Pause(Option<Resume>);

impl Future for Pause {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        match self.0.take() {
            Some(wanted) if current_task().is_some() => {
                // Whatever polls this (a combinator running several futures at once) must poll
                // it again when the task next runs: the executor decides when that is.
                context.waker().wake_by_ref();
                RESUME.with(|resume| {
                    let earliest = match (resume.get(), wanted) {
                        (Some(Resume::For(a)), Resume::For(b)) => Resume::For(a.min(b)),
                        (_, wanted) => wanted,
                    };
                    resume.set(Some(earliest));
                });
                Poll::Pending
            }
            // Outside the executor (a test calling an adapter directly): no pause.
            _ => Poll::Ready(()),
        }
    }
}

/// Gives way for `latency` of simulation time (a port call's round trip).
pub fn pause(latency: Duration) -> Pause {
    Pause(Some(Resume::For(latency)))
}

/// Gives way until `until` (simulation time).
pub fn sleep_until(until: DateTime<Utc>) -> Pause {
    Pause(Some(Resume::Until(until)))
}

/// Simulation time, shared by the executor and every clock of the world.
#[derive(Debug, Clone)]
pub struct SimTime(Arc<Mutex<DateTime<Utc>>>);

impl SimTime {
    /// Time starting at `start`.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(start)))
    }

    /// Now.
    pub fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }
}

/// A function's clock: simulation time, off by its machine's skew; waiting gives way to the
/// other tasks until the time has come.
pub struct SimClock {
    /// Simulation time.
    pub time: SimTime,
    /// How far this machine's clock is off.
    pub offset: TimeDelta,
}

#[async_trait]
impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        self.time.now() + self.offset
    }

    async fn sleep(&self, duration: Duration) {
        let until = self.time.now() + TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX);
        sleep_until(until).await;
    }
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It ran to its end.
    Done,
    /// It was killed at a pause (a crash: out of memory, a host failure).
    Crashed,
    /// It ran past its deadline and was killed (Lambda's timeout).
    TimedOut,
}

type TaskFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type OnEnd = Box<dyn FnOnce(Ending) + Send>;

struct Task {
    future: TaskFuture,
    deadline: Option<DateTime<Utc>>,
    /// Whether it may be killed at its pauses.
    crashable: bool,
    /// Whether it has run (and so is paused at a port call or a wait).
    polled: bool,
    on_end: Option<OnEnd>,
}

/// What the world does when the executor has nothing to run: its next event's time, and running
/// it (which may spawn tasks).
pub trait World {
    /// When the world's next event is due, if it has one.
    fn next_event(&self) -> Option<DateTime<Utc>>;
    /// Runs every event due at `now`; returns the tasks they start.
    fn run_events(&self, now: DateTime<Utc>) -> Vec<Spawn>;
}

/// A task to start.
pub struct Spawn {
    /// The work.
    pub future: TaskFuture,
    /// When it is killed if still running.
    pub deadline: Option<DateTime<Utc>>,
    /// Whether the executor may crash it at its pauses.
    pub crashable: bool,
    /// Called once with how it ended (also when it was killed: its clean-up code never ran).
    pub on_end: OnEnd,
    /// Called with the task's id before it first runs.
    pub on_start: Option<Box<dyn FnOnce(TaskId) + Send>>,
}

/// What the executor did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecutorStats {
    /// Tasks run.
    pub tasks: u64,
    /// Tasks killed at a pause.
    pub crashes: u64,
    /// Tasks killed past their deadline.
    pub timeouts: u64,
    /// The most tasks alive at once.
    pub max_concurrent: usize,
    /// Pauses (port calls count two).
    pub pauses: u64,
}

/// The executor.
pub struct Executor {
    time: SimTime,
    rng: fastrand::Rng,
    crash: f64,
    tasks: BTreeMap<TaskId, Task>,
    runnable: Vec<TaskId>,
    timers: BinaryHeap<Reverse<(DateTime<Utc>, u64, TaskId)>>,
    next_id: TaskId,
    sequence: u64,
    stats: ExecutorStats,
}

impl Executor {
    /// An executor over `time`, choosing with `seed`, killing a task at a pause with
    /// probability `crash`.
    pub fn new(time: SimTime, seed: u64, crash: f64) -> Self {
        Self {
            time,
            rng: fastrand::Rng::with_seed(seed),
            crash,
            tasks: BTreeMap::new(),
            runnable: Vec::new(),
            timers: BinaryHeap::new(),
            next_id: 0,
            sequence: 0,
            stats: ExecutorStats::default(),
        }
    }

    /// What it did so far.
    pub fn stats(&self) -> ExecutorStats {
        self.stats
    }

    fn spawn(&mut self, spawn: Spawn) {
        self.next_id += 1;
        let id = self.next_id;
        if let Some(on_start) = spawn.on_start {
            on_start(id);
        }
        self.tasks.insert(
            id,
            Task {
                future: spawn.future,
                deadline: spawn.deadline,
                crashable: spawn.crashable,
                polled: false,
                on_end: Some(spawn.on_end),
            },
        );
        self.runnable.push(id);
        self.stats.tasks += 1;
        self.stats.max_concurrent = self.stats.max_concurrent.max(self.tasks.len());
    }

    fn end(&mut self, id: TaskId, ending: Ending) {
        if let Some(mut task) = self.tasks.remove(&id) {
            // Dropping the future is the crash: no code after its pause runs.
            drop(std::mem::replace(&mut task.future, Box::pin(async {})));
            match ending {
                Ending::Crashed => self.stats.crashes += 1,
                Ending::TimedOut => self.stats.timeouts += 1,
                Ending::Done => {}
            }
            if let Some(on_end) = task.on_end.take() {
                on_end(ending);
            }
        }
    }

    /// Runs everything the world starts until nothing is left.
    pub fn run(&mut self, world: &dyn World) {
        loop {
            if !self.runnable.is_empty() {
                let pick = self.rng.usize(..self.runnable.len());
                let id = self.runnable.swap_remove(pick);
                self.step(id);
                continue;
            }
            let timer = self.timers.peek().map(|Reverse((at, ..))| *at);
            let event = world.next_event();
            let next = match (timer, event) {
                (Some(t), Some(e)) => t.min(e),
                (Some(t), None) => t,
                (None, Some(e)) => e,
                (None, None) => break,
            };
            if next > self.time.now() {
                self.time.set(next);
            }
            let now = self.time.now();
            while let Some(Reverse((at, _, id))) = self.timers.peek().copied() {
                if at > now {
                    break;
                }
                self.timers.pop();
                self.runnable.push(id);
            }
            if event.is_some_and(|e| e <= now) {
                for spawn in world.run_events(now) {
                    self.spawn(spawn);
                }
            }
        }
    }

    fn step(&mut self, id: TaskId) {
        let now = self.time.now();
        let Some(task) = self.tasks.get_mut(&id) else {
            return;
        };
        if task.deadline.is_some_and(|deadline| now >= deadline) {
            self.end(id, Ending::TimedOut);
            return;
        }
        // A task that has run before is paused at a port call or a wait: it may die there.
        if task.crashable && task.polled && self.crash > 0.0 && self.rng.f64() < self.crash {
            self.end(id, Ending::Crashed);
            return;
        }
        task.polled = true;
        let deadline = task.deadline;
        CURRENT.with(|current| current.set(Some(id)));
        RESUME.with(|resume| resume.set(None));
        let mut context = Context::from_waker(Waker::noop());
        let polled = task.future.as_mut().poll(&mut context);
        CURRENT.with(|current| current.set(None));
        match polled {
            Poll::Ready(()) => self.end(id, Ending::Done),
            Poll::Pending => {
                self.stats.pauses += 1;
                match RESUME.with(Cell::take) {
                    Some(Resume::For(latency)) if latency.is_zero() => self.runnable.push(id),
                    // Lambda kills a task at its deadline, not when its wait would have ended.
                    Some(Resume::For(latency)) => {
                        let at = now + TimeDelta::from_std(latency).unwrap_or(TimeDelta::MAX);
                        self.timer(at.min(deadline.unwrap_or(at)), id);
                    }
                    Some(Resume::Until(at)) if at <= now => self.runnable.push(id),
                    Some(Resume::Until(at)) => self.timer(at.min(deadline.unwrap_or(at)), id),
                    None => panic!(
                        "a simulated task waited on something other than the simulation's ports \
                         (a real timer or lock?): it could never be woken"
                    ),
                }
            }
        }
    }

    fn timer(&mut self, at: DateTime<Utc>, id: TaskId) {
        self.sequence += 1;
        self.timers.push(Reverse((at, self.sequence, id)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A world with nothing of its own to do.
    struct Quiet;

    impl World for Quiet {
        fn next_event(&self) -> Option<DateTime<Utc>> {
            None
        }
        fn run_events(&self, _: DateTime<Utc>) -> Vec<Spawn> {
            Vec::new()
        }
    }

    /// Spawns a task that waits `wait` with a deadline 30 s away; returns how it ended and when.
    fn ended_after(wait: Duration) -> (Ending, DateTime<Utc>) {
        let start = DateTime::parse_from_rfc3339("2026-03-02T15:00:00Z")
            .map(|t| t.to_utc())
            .unwrap_or_default();
        let time = SimTime::starting_at(start);
        let mut executor = Executor::new(time.clone(), 7, 0.0);
        let ended = Arc::new(Mutex::new(None));
        let written = ended.clone();
        let clock = time.clone();
        executor.spawn(Spawn {
            future: Box::pin(async move { pause(wait).await }),
            deadline: Some(start + TimeDelta::seconds(30)),
            crashable: false,
            on_end: Box::new(move |ending| {
                *written.lock().unwrap_or_else(|e| e.into_inner()) = Some((ending, clock.now()));
            }),
            on_start: None,
        });
        executor.run(&Quiet);
        let ended = ended.lock().unwrap_or_else(|e| e.into_inner()).take();
        ended.expect("the task ended")
    }

    #[test]
    fn a_task_held_up_past_its_deadline_is_killed_at_the_deadline() {
        let (ending, at) = ended_after(Duration::from_secs(600));
        assert_eq!(ending, Ending::TimedOut);
        // Not ten minutes later, when its call would have answered: Lambda's retry counts
        // from the kill.
        assert_eq!(at.to_rfc3339(), "2026-03-02T15:00:30+00:00");
    }

    #[test]
    fn a_task_that_answers_in_time_runs_to_its_end() {
        let (ending, at) = ended_after(Duration::from_secs(29));
        assert_eq!(ending, Ending::Done);
        assert_eq!(at.to_rfc3339(), "2026-03-02T15:00:29+00:00");
    }
}
