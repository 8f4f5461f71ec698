//! Which children of this process are exec-native's, and the reaping of the
//! others once this process is a child subreaper.
//!
//! Every child a [`NativeProcess`](crate::NativeProcess) starts is *owned*
//! from its spawn until its supervisor has reaped it: tokio waits for it by
//! pid, and nothing here may take its exit status. A child that is not owned
//! is one the kernel handed over (an orphaned descendant, once
//! [`become_subreaper`] was called) or one other code in the process started:
//! the sweep kills and reaps those, each by its pid (never `waitpid(-1)`, which
//! would steal the statuses of owned children).
//!
//! A spawn holds [`SPAWN_GATE`] shared from before the fork until its child
//! is registered; a sweep holds it exclusively, so a child between its fork
//! and its registration is never taken for an orphan. Registrations are
//! counted per pid: a pid reaped and reused by a new spawn before the old
//! supervisor unregisters stays owned.

use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

/// Held shared by spawns, exclusively by sweeps.
static SPAWN_GATE: RwLock<()> = RwLock::new(());

/// Owned children: pid → how many registrations (see the module docs).
static OWNED: Mutex<BTreeMap<i32, u32>> = Mutex::new(BTreeMap::new());

/// Process groups killed after their leader was reaped whose members may
/// not all be gone yet (tracked once this process is a subreaper): as each
/// member exits, its own children come to this process.
static DRAINING: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// Whether [`become_subreaper`] succeeded.
static SUBREAPER: AtomicBool = AtomicBool::new(false);

/// How often the reaper sweeps when no SIGCHLD comes: an orphan that is
/// still running when it is handed over brings no signal of its own.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The least time between two sweeps: an orphan waits at most this long
/// more, and a burst of exits costs one look at `/proc`, not one each.
const SWEEP_PAUSE: Duration = Duration::from_millis(25);

/// Held across a spawn and the registration of its child.
pub(crate) fn spawn_gate() -> RwLockReadGuard<'static, ()> {
    SPAWN_GATE.read().unwrap_or_else(PoisonError::into_inner)
}

/// A child that a supervisor will reap; call [`Owned::reaped`] once it did.
///
/// Dropped without `reaped` (its supervisor cancelled with the runtime, the
/// child handed to tokio's orphan queue), the pid stays owned: tokio may
/// still reap it, so no sweep may.
#[derive(Debug)]
pub(crate) struct Owned {
    pid: i32,
    reaped: bool,
}

impl Owned {
    /// Registers `pid`; call with [`spawn_gate`] held since before the spawn.
    pub(crate) fn register(pid: i32) -> Self {
        *lock(&OWNED).entry(pid).or_insert(0) += 1;
        Self { pid, reaped: false }
    }

    /// The child was waited for: its pid is no longer this process's child.
    pub(crate) fn reaped(&mut self) {
        if std::mem::replace(&mut self.reaped, true) {
            return;
        }
        let mut owned = lock(&OWNED);
        if let Some(count) = owned.get_mut(&self.pid) {
            *count -= 1;
            if *count == 0 {
                owned.remove(&self.pid);
            }
        }
    }
}

/// Notes that process group `pgid` was killed after its leader was reaped,
/// so the exit path can wait until its members are gone (and their children
/// handed over).
pub(crate) fn group_killed(pgid: i32) {
    if SUBREAPER.load(Ordering::Acquire) {
        lock(&DRAINING).insert(pgid);
    }
}

/// Makes this process a child subreaper and starts reaping what comes to it.
///
/// Linux then hands this process, instead of init, every orphaned descendant:
/// a grandchild killed with its group after its parent, a child's background
/// job, a process that left its group with `setsid` once its parent died.
/// exec-native kills each (SIGKILL) and reaps it, by its pid, on every
/// SIGCHLD and at least once a second, from a task on the current tokio
/// runtime. Children that a [`NativeProcess`](crate::NativeProcess) owns are
/// left to it. [`kill_and_reap_all`] does the same one last time, thoroughly,
/// before the process exits.
///
/// This is a setting of the whole process, and it takes **every** child the
/// process has that exec-native did not start: call it only in a process
/// whose children all come from exec-native (as in the `exec-lua` runner), or
/// whose other children may be killed. Calling it again does nothing.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// exec_native::become_subreaper()?;
/// // … run commands with NativeExecutor …
/// let left = exec_native::kill_and_reap_all(std::time::Duration::from_secs(5)).await;
/// assert!(left.is_empty(), "not reaped: {left:?}");
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// Outside a tokio runtime; when the kernel refuses `PR_SET_CHILD_SUBREAPER`;
/// when `/proc/thread-self/children` cannot be read (a kernel without
/// `CONFIG_PROC_CHILDREN`, or `/proc` not mounted for this pid namespace),
/// since the orphans could then not be found.
pub fn become_subreaper() -> io::Result<()> {
    if SUBREAPER.load(Ordering::Acquire) {
        return Ok(());
    }
    let runtime = tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
    std::fs::read_to_string("/proc/thread-self/children").map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot list this process's children in /proc/thread-self/children: {e}"),
        )
    })?;
    let mut sigchld = {
        let _entered = runtime.enter();
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())?
    };
    nix::sys::prctl::set_child_subreaper(true)?;
    if SUBREAPER.swap(true, Ordering::AcqRel) {
        return Ok(());
    }
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                received = sigchld.recv() => if received.is_none() { break },
                _ = ticks.tick() => {}
            }
            sweep();
            // SIGCHLDs meanwhile (one per command that ends, many a second
            // in a loop of short commands) are served by one sweep after
            // this pause: the signal stream keeps that one came.
            tokio::time::sleep(SWEEP_PAUSE).await;
        }
    });
    Ok(())
}

/// Kills what is left and waits up to `limit` for every child to be reaped;
/// for the end of the process. Returns the pids of children still there.
///
/// Every process group a [`NativeProcess`](crate::NativeProcess) still leads
/// is killed (SIGKILL) and its supervisor's reaping awaited; once
/// [`become_subreaper`] was called, every other child is killed and reaped
/// too, and the wait goes on until the groups killed are empty and no child
/// is left, so what their members leave behind is caught as well. Without
/// the subreaper, only exec-native's own children are waited for. The
/// guardian of [`with_kill_with_parent`](crate::NativeExecutor::with_kill_with_parent),
/// if one runs, is ended and reaped first: the process is exiting.
///
/// Call it on the runtime the processes were started on (their supervisors
/// reap them there), after dropping or closing them.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use exec_core::{ExecOptions, Executor, ExecutorSettings};
/// use exec_native::NativeExecutor;
/// use std::time::Duration;
///
/// let executor = NativeExecutor::new(
///     ExecutorSettings::new("app:shell").with_default_env_var("PATH", "/usr/bin:/bin"),
/// );
/// let process = executor.create_process("sleep 30".into(), ExecOptions::new())?;
/// process.start().await?;
/// let left = exec_native::kill_and_reap_all(Duration::from_secs(5)).await;
/// assert!(left.is_empty());
/// assert_eq!(process.wait().await?.signal(), Some(9));
/// # Ok(())
/// # }
/// ```
pub async fn kill_and_reap_all(limit: Duration) -> Vec<u32> {
    let deadline = Instant::now() + limit;
    // The guardian kills what it guards and exits; it is reaped here, not
    // left to this process's parent.
    crate::guardian::stop().await;
    let leaders: Vec<i32> = lock(&OWNED).keys().copied().collect();
    for pgid in leaders {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
    loop {
        let subreaper = SUBREAPER.load(Ordering::Acquire);
        if subreaper {
            sweep();
        }
        let children = children();
        let left: Vec<i32> = match &children {
            Ok(children) if subreaper => children.clone(),
            // Only exec-native's own; a pid no longer a child was reaped.
            Ok(children) => {
                let owned = lock(&OWNED);
                children
                    .iter()
                    .copied()
                    .filter(|pid| owned.contains_key(pid))
                    .collect()
            }
            Err(_) => lock(&OWNED).keys().copied().collect(),
        };
        let draining = subreaper && !lock(&DRAINING).is_empty();
        if (left.is_empty() && !draining) || Instant::now() >= deadline {
            return left
                .into_iter()
                .filter_map(|pid| u32::try_from(pid).ok())
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Kills and reaps every child no `NativeProcess` owns; forgets the killed
/// groups that are empty now.
fn sweep() {
    let _gate = SPAWN_GATE.write().unwrap_or_else(PoisonError::into_inner);
    // Owned first, children second: a pid not owned now and still a child
    // below cannot have been ours (no spawn runs while the gate is held), so
    // nobody but this sweep reaps it, and its pid cannot be reused under us.
    let owned: BTreeSet<i32> = lock(&OWNED).keys().copied().collect();
    let Ok(children) = children() else {
        return;
    };
    for pid in children.into_iter().filter(|pid| !owned.contains(pid)) {
        let pid = Pid::from_raw(pid);
        let _ = kill(pid, Signal::SIGKILL);
        // If it has not died yet, its SIGCHLD brings the next sweep.
        let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
    }
    // A group stays while any member can be signalled; ESRCH says it is
    // empty, EPERM that its number now belongs to someone else's group.
    lock(&DRAINING).retain(|pgid| killpg(Pid::from_raw(*pgid), None).is_ok());
}

/// The pids of this process's children, from each thread's
/// `/proc/self/task/<tid>/children` (a child belongs to the thread that
/// forked it, or to the one the kernel handed it to).
fn children() -> io::Result<Vec<i32>> {
    let mut pids = Vec::new();
    for task in std::fs::read_dir("/proc/self/task")?.flatten() {
        // A thread that ended meanwhile has handed its children on.
        let Ok(list) = std::fs::read_to_string(task.path().join("children")) else {
            continue;
        };
        pids.extend(
            list.split_whitespace()
                .filter_map(|pid| pid.parse::<i32>().ok()),
        );
    }
    Ok(pids)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
