//! `executor:terminal(cmd, opts)`: the host's own terminal becomes a
//! command's, as `ssh` or `docker run -it` make it.
//!
//! While the command runs, the host terminal is in raw mode (keys go to the
//! command as they are typed, `^C` included: it reaches the command's terminal,
//! which turns it into SIGINT there), what the command writes goes to the host
//! terminal, and the host window's size follows (SIGWINCH → resize). The host
//! terminal is restored when the command ends, when the session is dropped,
//! and — through [`restore_host_terminal`] — before the runner reports an
//! error or exits on a signal. One session at a time: a process has one
//! terminal.

use exec_core::{ExitStatus, OutputReader, Process, PtySize};
use rustix::termios::{OptionalActions, Termios};
use std::io::Write as _;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The host terminal's settings from before raw mode, while a session runs.
static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

/// The session running now: its command, and its exit for the runner to wait on.
static ACTIVE: Mutex<Option<Active>> = Mutex::new(None);

struct Active {
    process: Arc<dyn Process>,
    code: watch::Receiver<Option<i32>>,
}

/// How long the end of a command's output may take to reach the screen once
/// the command has ended.
const DRAIN: Duration = Duration::from_secs(2);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn stdin() -> BorrowedFd<'static> {
    rustix::stdio::stdin()
}

/// Why the host terminal cannot be used.
#[derive(Debug)]
pub(crate) enum Unusable {
    /// Standard input (or output) is not a terminal.
    NoTerminal(&'static str),
    /// Another session holds it.
    InUse,
    /// The terminal refused a setting.
    Io(std::io::Error),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::NoTerminal(which) => write!(
                f,
                "no terminal to attach: the runner's {which} is not a terminal (run it in one, or use exec with the pty option)"
            ),
            Unusable::InUse => f.write_str("the terminal is already attached to another command"),
            Unusable::Io(e) => write!(f, "the terminal could not be set up: {e}"),
        }
    }
}

/// The host terminal's size and `TERM`, if standard input and output are a
/// terminal and no session holds it.
pub(crate) fn host() -> Result<(PtySize, Option<String>), Unusable> {
    if !rustix::termios::isatty(stdin()) {
        return Err(Unusable::NoTerminal("standard input"));
    }
    if !rustix::termios::isatty(rustix::stdio::stdout()) {
        return Err(Unusable::NoTerminal("standard output"));
    }
    if lock(&SAVED).is_some() {
        return Err(Unusable::InUse);
    }
    let size = window_size().map_err(Unusable::Io)?;
    let term = std::env::var("TERM").ok().filter(|t| !t.is_empty());
    Ok((size, term))
}

fn window_size() -> std::io::Result<PtySize> {
    let size = rustix::termios::tcgetwinsize(stdin())?;
    // A terminal that says 0 (some emulators before their first draw) gets
    // the classic size rather than none.
    let or = |n: u16, default: u16| if n == 0 { default } else { n };
    Ok(PtySize::new(or(size.ws_col, 80), or(size.ws_row, 24)))
}

/// Puts the host terminal in raw mode; [`restore_host_terminal`] undoes it.
fn enter_raw_mode() -> Result<(), Unusable> {
    let mut saved = lock(&SAVED);
    if saved.is_some() {
        return Err(Unusable::InUse);
    }
    let original = rustix::termios::tcgetattr(stdin()).map_err(|e| Unusable::Io(e.into()))?;
    let mut raw = original.clone();
    raw.make_raw();
    rustix::termios::tcsetattr(stdin(), OptionalActions::Drain, &raw)
        .map_err(|e| Unusable::Io(e.into()))?;
    *saved = Some(original);
    Ok(())
}

/// Puts the host terminal back as it was before a session, if one changed
/// it. Safe to call at any time, more than once; the runner calls it before
/// it reports an error and when it exits.
pub fn restore_host_terminal() {
    if let Some(original) = lock(&SAVED).take() {
        let _ = rustix::termios::tcsetattr(stdin(), OptionalActions::Now, &original);
    }
}

/// Ends the command of the terminal session running now, if any (SIGKILL; the
/// close goes on in the background, see `exec_core::settle`), and restores
/// the host terminal. The runner calls it when it ends early: a signal,
/// `os.exit`, an error.
pub fn end_terminal() {
    let active = lock(&ACTIVE).take();
    if let Some(active) = active {
        drop(active.process.close(true));
    }
    restore_host_terminal();
}

/// Waits for the terminal session running now, if any, to end; its exit
/// status as one number (128+n for a signal), or `None` when there was none.
pub async fn wait_for_terminal() -> Option<i32> {
    let mut receiver = lock(&ACTIVE).as_ref()?.code.clone();
    let code = match receiver.wait_for(Option::is_some).await {
        Ok(code) => *code,
        Err(_) => None,
    };
    code.or(Some(1))
}

/// How a session ended.
#[derive(Debug)]
pub(crate) struct SessionEnd {
    /// The command's exit, or why it could not be learnt.
    pub(crate) status: exec_core::Result<ExitStatus>,
    /// What went wrong with the host terminal meanwhile, if anything.
    pub(crate) terminal_error: Option<String>,
}

/// Restores the host terminal when dropped (the session's task may be cut
/// short by a runtime that shuts down).
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        restore_host_terminal();
    }
}

/// A session that runs: its end, once it has come.
pub(crate) type Ended = watch::Receiver<Option<Arc<SessionEnd>>>;

/// Attaches the host terminal to `process` (started, in a terminal of the
/// host's size, `screen` its output) until the command ends: raw mode now,
/// then keys to the command, its output to the screen, the window size
/// followed, in tasks of the current runtime.
pub(crate) fn attach(process: Arc<dyn Process>, screen: OutputReader) -> Result<Ended, Unusable> {
    enter_raw_mode()?;
    let restore = Restore;
    let (code_sender, code) = watch::channel(None);
    *lock(&ACTIVE) = Some(Active {
        process: process.clone(),
        code,
    });
    let (end_sender, ended) = watch::channel(None);
    let stop = Arc::new(AtomicBool::new(false));
    let terminal_error: Arc<Mutex<Option<String>>> = Arc::default();

    // Keys: a thread polls the host terminal (without changing its blocking
    // mode, which it shares with the shell that started us).
    let (keys, typed) = mpsc::channel::<Vec<u8>>(16);
    let keyboard = {
        let stop = stop.clone();
        let failed = terminal_error.clone();
        std::thread::Builder::new()
            .name("exec-terminal-keys".to_owned())
            .spawn(move || {
                if let Err(e) = read_keys(&keys, &stop) {
                    *lock(&failed) = Some(format!("reading the keyboard: {e}"));
                }
            })
            .map_err(Unusable::Io)?
    };
    let typing = tokio::spawn(type_keys(process.clone(), typed));
    let drawing = tokio::spawn(draw(screen, terminal_error.clone()));
    let following = tokio::spawn(follow_window(process.clone()));
    tokio::spawn(async move {
        let status = process.wait().await;
        let _ = tokio::time::timeout(DRAIN, drawing).await;
        following.abort();
        typing.abort();
        stop.store(true, Ordering::SeqCst);
        let _ = tokio::task::spawn_blocking(move || keyboard.join()).await;
        drop(restore);
        let code = match &status {
            Ok(status) => status.shell_code(),
            Err(_) => 1,
        };
        code_sender.send_replace(Some(code));
        let terminal_error = lock(&terminal_error).take();
        end_sender.send_replace(Some(Arc::new(SessionEnd {
            status,
            terminal_error,
        })));
    });
    Ok(ended)
}

/// What the user types goes to the command's terminal.
async fn type_keys(process: Arc<dyn Process>, mut typed: mpsc::Receiver<Vec<u8>>) {
    while let Some(key) = typed.recv().await {
        if process.write_stdin(&key).await.is_err() {
            break;
        }
    }
}

/// What the command writes goes to the host's screen.
async fn draw(mut screen: OutputReader, failed: Arc<Mutex<Option<String>>>) {
    let mut out = std::io::stdout();
    loop {
        match screen.read_chunk(64 * 1024).await {
            Ok(Some(chunk)) => {
                if let Err(e) = out.write_all(&chunk).and_then(|()| out.flush()) {
                    *lock(&failed) = Some(format!("writing to the screen: {e}"));
                    break;
                }
                screen.recycle(chunk);
            }
            Ok(None) => break,
            Err(e) => {
                *lock(&failed) = Some(format!("reading the command's output: {e}"));
                break;
            }
        }
    }
}

/// The host window's size goes to the command's terminal (SIGWINCH).
async fn follow_window(process: Arc<dyn Process>) {
    let Ok(mut resized) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
    else {
        return;
    };
    while resized.recv().await.is_some() {
        if let Ok(size) = window_size() {
            let _ = process.resize(size).await;
        }
    }
}

/// Reads the host keyboard until `stop`: waits at most 100 ms at a time, so
/// the thread ends soon after the session.
fn read_keys(keys: &mpsc::Sender<Vec<u8>>, stop: &AtomicBool) -> std::io::Result<()> {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let mut buffer = vec![0u8; 4096];
    let keyboard = stdin();
    while !stop.load(Ordering::SeqCst) {
        let mut fds = [PollFd::new(&keyboard, PollFlags::IN)];
        let timeout = Timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        };
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let n = match rustix::io::read(stdin(), &mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => continue,
            Err(e) => return Err(e.into()),
        };
        if keys.blocking_send(buffer[..n].to_vec()).is_err() {
            return Ok(());
        }
    }
    Ok(())
}
