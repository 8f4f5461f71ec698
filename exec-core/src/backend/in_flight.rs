//! Work in flight that must finish before a program exits: launches, closes
//! and kills that run in tasks of their own. [`settle`](crate::settle)
//! waits for them.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static SETTLED: Notify = Notify::const_new();
/// How many `settle` calls are waiting: closes hurry while any is.
static SETTLING: AtomicUsize = AtomicUsize::new(0);
static HURRY: Notify = Notify::const_new();

/// Counts as in flight from its making until it is dropped.
struct Guard;

impl Guard {
    fn new() -> Self {
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        Self
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if IN_FLIGHT.fetch_sub(1, Ordering::SeqCst) == 1 {
            SETTLED.notify_waiters();
        }
    }
}

/// `future`, counted as in flight from this call until it completes or is
/// dropped: what [`settle`](crate::settle) waits for. The life cycle tracks
/// its own launches and closes; a backend tracks the tasks it spawns to
/// finish a kill or a clean-up (a container to remove) so that a program
/// that settles before it exits leaves nothing half-done.
pub fn tracked<F: Future>(future: F) -> impl Future<Output = F::Output> {
    let guard = Guard::new();
    async move {
        let output = future.await;
        drop(guard);
        output
    }
}

/// Resolves once a [`settle`](crate::settle) is waiting: a close in its
/// grace period then goes on to SIGKILL at once.
pub(crate) async fn hurried() {
    loop {
        let hurry = HURRY.notified();
        tokio::pin!(hurry);
        hurry.as_mut().enable();
        if SETTLING.load(Ordering::SeqCst) > 0 {
            return;
        }
        hurry.await;
    }
}

/// Counts a waiting `settle` while it lives.
struct Settling;

impl Settling {
    fn new() -> Self {
        SETTLING.fetch_add(1, Ordering::SeqCst);
        HURRY.notify_waiters();
        Self
    }
}

impl Drop for Settling {
    fn drop(&mut self) {
        SETTLING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How many tracked futures are in flight now.
pub(crate) fn in_flight() -> usize {
    IN_FLIGHT.load(Ordering::SeqCst)
}

/// Waits until no launch, close or kill of any process is in flight, or
/// `limit` has passed; returns how many are still in flight (0 when all
/// settled). Meanwhile closes do not wait out their grace period: the
/// program is ending, so a command that ignores SIGTERM gets SIGKILL at once.
///
/// A program that ends while a command is starting (a container being
/// created) or closing would otherwise cut that work in half when its
/// runtime shuts down, and leave what it made behind: call it after dropping
/// or closing the processes and before the runtime goes. The `exec-lua`
/// runner does.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// assert_eq!(exec_core::settle(std::time::Duration::from_secs(1)).await, 0);
/// # });
/// ```
pub async fn settle(limit: Duration) -> usize {
    let _settling = Settling::new();
    idle(limit).await
}

/// Waits, without hurrying anything, until nothing is in flight or `limit`
/// has passed; how many are still in flight.
#[cfg_attr(not(feature = "conformance"), allow(dead_code))]
pub(crate) async fn idle(limit: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let settled = SETTLED.notified();
        tokio::pin!(settled);
        settled.as_mut().enable();
        let left = in_flight();
        if left == 0 {
            return 0;
        }
        if tokio::time::timeout_at(deadline, settled).await.is_err() {
            return in_flight();
        }
    }
}
