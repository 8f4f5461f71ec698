//! `exec-lua`: runs a Lua script with Wippy's `exec` module.
//!
//! ```text
//! exec-lua [--config FILE]... [--allow-file-access] [--memory-limit SIZE]
//!         [--timeout DURATION] [--max-processes N] [-e CHUNK]... SCRIPT [ARGS]...
//! exec-lua --check FILE...
//! ```
//!
//! What the script may consume is bounded: its Lua memory (`--memory-limit`,
//! 1 GiB by default; past it the script gets "not enough memory"), its time
//! (`--timeout`, none by default: exit 124), how many commands it runs at
//! once (`--max-processes`, 256). A deadlocked script (every coroutine waiting
//! on a channel nothing can complete) ends with an error at once. A signal
//! stops even a script in a loop that never calls exec.
//!
//! Exit status: 0 when the script ran to its end, 1 when it raised an error
//! (message and traceback on stderr; an error in a coroutine the script
//! started with `coroutine.spawn` is raised in the main flow, with that
//! coroutine's traceback), 2 for bad usage, a script that cannot be
//! read, or a config that does not load (the loader's message names the file,
//! line, entry and field), 124 when `--timeout` passed. `os.exit(n)` ends with `n` after the children are
//! cleaned up; SIGINT, SIGTERM, SIGHUP and SIGQUIT end with 128+n (130, 143,
//! 129, 131), likewise.
//!
//! Nothing the script started outlives the runner, and nothing is left for
//! the runner's parent to reap:
//!
//! - However the runner ends (the script's end, an error, `os.exit`, one of
//!   the signals above), it kills every process group its commands lead and
//!   reaps every child before it exits (`exec_native::kill_and_reap_all`).
//! - It is a child subreaper (`exec_native::become_subreaper`): what its
//!   commands leave running in the background after they exit, even a process
//!   that left their group with `setsid`, comes back to it once its parent is
//!   gone, and is killed and reaped then, and at the latest at exit.
//! - Its commands ask the kernel to kill them (SIGKILL) when the runner dies
//!   (`NativeExecutor::with_kill_with_parent`), so they die even when the
//!   runner is killed with SIGKILL. (They are started from the main thread,
//!   which runs the script and lives as long as the runner.) What *they*
//!   started in the background is not covered then: it goes to the runner's
//!   own subreaper or init, as a pid namespace or cgroup around the runner
//!   would catch.
//! - Only their standard streams reach the commands, not the descriptors the
//!   runner inherited.
//!
//! When the script ends, the coroutines it spawned end with it, as in Wippy,
//! and the processes they held are killed.
//!
//! Audit events (what ran, what was refused; see `exec_core::audit`) go to
//! stderr when `--log LEVEL` or `RUST_LOG` asks for them; silent otherwise.

#[cfg(feature = "docker")]
mod sweep;

use clap::Parser;
use exec_config::{Loader, Registry};
use mlua::chunk::ChunkMode;
use mlua::{Function, Lua, MultiValue, Value};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// The script raised an error.
const EXIT_SCRIPT_ERROR: u8 = 1;
/// Bad usage, an unreadable script, or a config that does not load.
const EXIT_USAGE: u8 = 2;

/// The registry when no `--config` is given: `app:shell`, host processes.
const DEFAULT_CONFIG: &str = include_str!("default.yaml");

#[derive(Debug, Parser)]
#[command(
    name = "exec-lua",
    version,
    about = "Run a Lua script with Wippy's `exec` module: commands on this host, \
             in Docker or in Incus, as the config allows.",
    after_help = "Without --config, the executor app:shell runs host commands with \
                  PATH=/usr/local/bin:/usr/bin:/bin and LANG=C.UTF-8.\n\
                  Exit status: 0 success, 1 the script raised an error, 2 bad usage or config, \
                  124 --timeout passed, 128+n signal n."
)]
struct Cli {
    /// Load executors from this YAML file (repeatable); a bare list of entries
    /// gets the namespace `app`
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Vec<PathBuf>,

    /// Run this chunk of Lua before SCRIPT (repeatable)
    #[arg(short = 'e', value_name = "CHUNK")]
    execute: Vec<String>,

    /// Give the script every file this user can read or write, /proc/self/mem
    /// included: native code, so the command whitelist no longer holds
    ///
    /// Turns on io.open, io.lines, io.input and io.output with file names,
    /// io.tmpfile, os.remove, os.rename, os.tmpname, os.getenv, loadfile,
    /// dofile and require from package.path. A script that can write
    /// /proc/self/mem can overwrite the runner's own code and do anything this
    /// user can, commands included: use it for trusted scripts only. Without
    /// it a script reads standard input and writes standard output and error,
    /// nothing else.
    #[arg(long)]
    allow_file_access: bool,

    /// The most memory the script's Lua state may hold: a number of bytes
    /// with an optional unit (KiB, MiB, GiB; K, M, G alike), or `none`; past
    /// it an allocation fails with "not enough memory" and the script, unless
    /// it catches that, ends with status 1
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_memory_limit)]
    memory_limit: MemoryLimit,

    /// End the script after this long (`30s`, `5m`, `1h30m`, or seconds such
    /// as `2.5`): what it started is killed and the runner exits with 124
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    timeout: Option<Duration>,

    /// At most this many commands of the script run at once, over every
    /// executor (each entry's own `max_running` holds too); a start past it
    /// fails with an UNAVAILABLE error value ("too many processes")
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PROCESSES,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_processes: u32,

    /// Check config files and list their entries; run nothing
    #[arg(
        long,
        value_name = "FILE",
        num_args = 1..,
        conflicts_with_all = ["config", "execute", "script"]
    )]
    check: Vec<PathBuf>,

    /// Print audit events (what ran and what was refused) on stderr at this
    /// level or a filter such as `exec=info`; without it, `RUST_LOG` is
    /// honoured, and with neither nothing is printed
    #[arg(long = "log", value_name = "LEVEL")]
    log: Option<String>,

    /// Remove the Docker containers that exec processes now gone left
    /// behind, on each Docker daemon the --config files name (without
    /// --config: DOCKER_HOST, else the local socket); run nothing else
    #[cfg(feature = "docker")]
    #[arg(long, conflicts_with_all = ["execute", "script", "check"])]
    sweep_docker: bool,

    /// The script (`-` reads it from standard input)
    #[arg(value_name = "SCRIPT")]
    script: Option<String>,

    /// Arguments for the script: `arg[1]`, `arg[2]`, … and `...`
    #[arg(
        value_name = "ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    args: Vec<String>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    if let Err(message) = init_logging(cli.log.as_deref()) {
        eprintln!("exec-lua: {message}");
        return ExitCode::from(EXIT_USAGE);
    }
    if !cli.check.is_empty() {
        return check(&cli.check);
    }
    #[cfg(feature = "docker")]
    if cli.sweep_docker {
        return ExitCode::from(sweep::sweep_docker(loader(), &cli.config));
    }
    if cli.script.is_none() && cli.execute.is_empty() {
        eprintln!("exec-lua: nothing to run: give a SCRIPT or -e CHUNK (see exec-lua --help)");
        return ExitCode::from(EXIT_USAGE);
    }
    let registry = match load_registry(&cli.config) {
        Ok(mut registry) => {
            let max = usize::try_from(cli.max_processes).unwrap_or(usize::MAX);
            registry.limit_processes(&exec_core::ProcessLimit::new(
                "the script (exec-lua --max-processes)",
                max,
            ));
            registry
        }
        Err(message) => {
            eprintln!("exec-lua: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let script = match cli.script.as_deref().map(read_script).transpose() {
        Ok(script) => script,
        Err(message) => {
            eprintln!("exec-lua: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("exec-lua: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_SCRIPT_ERROR);
        }
    };
    let code = runtime.block_on(async {
        if let Err(e) = exec_native::become_subreaper() {
            eprintln!(
                "exec-lua: warning: orphaned descendants of the script's commands will not be reaped: {e}"
            );
        }
        let code = run(registry, cli, script).await;
        // Launches and closes still in flight (a container being created
        // when a signal came) finish, and kill what they made, before the
        // runtime goes.
        let unsettled = exec_core::settle(REAP_LIMIT).await;
        if unsettled > 0 {
            eprintln!(
                "exec-lua: warning: {unsettled} starts or closes of commands did not finish within {REAP_LIMIT:?}"
            );
        }
        let left = exec_native::kill_and_reap_all(REAP_LIMIT).await;
        if !left.is_empty() {
            eprintln!(
                "exec-lua: warning: {} child processes not reaped within {REAP_LIMIT:?}: {left:?}",
                left.len()
            );
        }
        code
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    ExitCode::from(code)
}

/// How long the runner waits, at exit, for what it killed to be reaped.
const REAP_LIMIT: Duration = Duration::from_secs(10);

/// `--max-processes` unless told otherwise.
const DEFAULT_MAX_PROCESSES: u32 = 256;

/// The exit status when `--timeout` passed, as `timeout(1)`'s.
const EXIT_TIMEOUT: u8 = 124;

/// How long a stopped script (a signal, `--timeout`) has to unwind before the
/// runner kills and reaps what it started and exits on its own: only a long
/// call into C or a `__gc` finalizer, which Lua runs with hooks off, takes
/// that long.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// `--memory-limit`: bytes, or none.
#[derive(Debug, Clone, Copy)]
struct MemoryLimit(Option<usize>);

impl std::fmt::Display for MemoryLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("none"),
            Some(bytes) if bytes % (1 << 30) == 0 => write!(f, "{}GiB", bytes >> 30),
            Some(bytes) if bytes % (1 << 20) == 0 => write!(f, "{}MiB", bytes >> 20),
            Some(bytes) if bytes % (1 << 10) == 0 => write!(f, "{}KiB", bytes >> 10),
            Some(bytes) => write!(f, "{bytes} bytes"),
        }
    }
}

/// The smallest `--memory-limit`: the state and its modules take about
/// 300 KiB before a script runs.
const MIN_MEMORY_LIMIT: usize = 1 << 20;

fn parse_memory_limit(text: &str) -> Result<MemoryLimit, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("none") {
        return Ok(MemoryLimit(None));
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 512MiB, 2GiB or none"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => return Err(format!("unknown unit {other:?} (B, KiB, MiB or GiB)")),
    };
    let bytes = number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if bytes < MIN_MEMORY_LIMIT {
        return Err(format!(
            "{text:?} is below the smallest limit, 1MiB (the state itself needs some)"
        ));
    }
    Ok(MemoryLimit(Some(bytes)))
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let duration = match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 => {
            Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))?
        }
        Ok(_) => return Err(format!("{text:?} is not a duration above 0")),
        Err(_) => {
            let duration: jiff::SignedDuration = text
                .parse()
                .map_err(|e| format!("{text:?} is not a duration such as 30s, 5m or 1h30m: {e}"))?;
            Duration::try_from(duration)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| format!("{text:?} is not a duration above 0"))?
        }
    };
    Ok(duration)
}

/// A script to run: its source and its chunk name.
struct Script {
    path: String,
    name: String,
    source: Vec<u8>,
}

fn read_script(path: &str) -> Result<Script, String> {
    let (source, name) = if path == "-" {
        let mut source = Vec::new();
        std::io::stdin()
            .read_to_end(&mut source)
            .map_err(|e| format!("cannot read the script from standard input: {e}"))?;
        (source, "=stdin".to_owned())
    } else {
        let source = std::fs::read(path).map_err(|e| format!("cannot read script {path}: {e}"))?;
        (source, format!("@{path}"))
    };
    Ok(Script {
        path: path.to_owned(),
        name,
        source: exec_lua::skip_shebang(source),
    })
}

/// Sends `tracing` events to stderr as `--log` or `RUST_LOG` asks; with
/// neither, installs nothing (silent).
fn init_logging(flag: Option<&str>) -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    let filter = match flag {
        Some(directives) => {
            EnvFilter::try_new(directives).map_err(|e| format!("--log {directives:?}: {e}"))?
        }
        None => match std::env::var("RUST_LOG") {
            Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
                .map_err(|e| format!("RUST_LOG={directives:?}: {e}"))?,
            _ => return Ok(()),
        },
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init()
        .map_err(|e| format!("cannot set up logging: {e}"))
}

/// The `exec.native` kind of the runner: as exec-config's, and the children
/// are killed if the runner dies (see the crate docs).
#[cfg(feature = "native")]
#[derive(Debug, Clone, Copy)]
struct NativeKilledWithRunner;

#[cfg(feature = "native")]
impl exec_config::ExecutorKind for NativeKilledWithRunner {
    type Spec = exec_config::NativeSpec;

    fn build(
        &self,
        settings: exec_core::ExecutorSettings,
        _spec: Self::Spec,
    ) -> exec_core::Result<Arc<dyn exec_core::Executor>> {
        Ok(Arc::new(
            exec_native::NativeExecutor::new(settings).with_kill_with_parent(true),
        ))
    }
}

/// A loader whose `exec.native` entries kill their children with the runner.
fn loader() -> Loader {
    #[cfg_attr(not(feature = "native"), allow(unused_mut))]
    let mut loader = Loader::new();
    #[cfg(feature = "native")]
    loader.register_kind("exec.native", NativeKilledWithRunner);
    loader
}

fn load_registry(configs: &[PathBuf]) -> Result<Registry, String> {
    let mut loader = loader();
    if configs.is_empty() {
        if cfg!(feature = "native") {
            loader
                .load_str(DEFAULT_CONFIG, Path::new("<built-in config>"), Some("app"))
                .map_err(|e| exec_core::report(&e))?;
        }
    } else {
        for config in configs {
            loader
                .load_file(config, Some("app"))
                .map_err(|e| exec_core::report(&e))?;
        }
    }
    Ok(loader.into_registry())
}

/// `--check`: loads every file (into one registry, so an id given twice across
/// files is found) and lists the entries of each.
fn check(files: &[PathBuf]) -> ExitCode {
    let mut loader = loader();
    let mut failed = false;
    for file in files {
        match loader.load_file(file, Some("app")) {
            Ok(ids) => {
                println!("{}: ok, {} entries", file.display(), ids.len());
                for id in ids {
                    println!("  {id}");
                }
            }
            Err(e) => {
                eprintln!("exec-lua: {}", exec_core::report(&e));
                failed = true;
            }
        }
    }
    ExitCode::from(if failed { EXIT_USAGE } else { 0 })
}

/// Runs the chunks and the script; returns the exit status. The Lua state (and
/// with it every process the script left) is dropped before this returns, so
/// nothing outlives the runner.
async fn run(registry: Registry, cli: Cli, script: Option<Script>) -> u8 {
    let terminated = termination();
    let (exit_sender, mut exit_requested) = watch::channel(None::<u8>);
    let lua = match prepare(registry, &cli, script.as_ref(), exit_sender) {
        Ok(lua) => lua,
        Err(e) => {
            eprintln!("exec-lua: cannot prepare the Lua state: {e}");
            return EXIT_SCRIPT_ERROR;
        }
    };
    let (stop_sender, mut stopped) = watch::channel(None::<u8>);
    let unwound = Arc::new(AtomicBool::new(false));
    if let Some(stopper) = exec_lua::stopper(&lua) {
        tokio::spawn(watchdog(
            terminated,
            cli.timeout,
            stopper,
            stop_sender,
            Arc::clone(&unwound),
        ));
    }
    let chunks = async {
        for (i, chunk) in cli.execute.iter().enumerate() {
            let name = if cli.execute.len() == 1 {
                "=(command line)".to_owned()
            } else {
                format!("=(command line chunk {})", i + 1)
            };
            run_chunk(&lua, chunk.as_bytes(), &name, &[]).await?;
        }
        if let Some(script) = &script {
            run_chunk(&lua, &script.source, &script.name, &cli.args).await?;
        }
        // A terminal the script attached (`executor:terminal`) runs on until
        // its command ends; its status is the runner's.
        Ok::<Option<i32>, String>(exec_lua::wait_for_terminal().await)
    };
    let ended = tokio::select! {
        result = chunks => result,
        code = exit_requested.wait_for(Option::is_some) => {
            Ok(Some(code.ok().and_then(|code| *code).map_or(0, i32::from)))
        }
        _ = stopped.wait_for(Option::is_some) => Ok(None),
    };
    unwound.store(true, Ordering::Release);
    // A terminal still attached (the runner ends early) ends with it; the
    // host terminal is as it was before anything is said on it.
    exec_lua::end_terminal();
    let stop = *stopped.borrow();
    let code = match (stop, ended) {
        // Stopped: the script's error is the stop itself.
        (Some(code), _) => code,
        (None, Ok(None)) => 0,
        (None, Ok(Some(code))) => u8::try_from(code).unwrap_or(EXIT_SCRIPT_ERROR),
        (None, Err(message)) => {
            eprintln!("exec-lua: {message}");
            if message.contains(LUA_MEMORY_ERROR) {
                eprintln!(
                    "exec-lua: the script's Lua memory reached its limit (--memory-limit {})",
                    cli.memory_limit
                );
            }
            EXIT_SCRIPT_ERROR
        }
    };
    // Spawned coroutines end with the script; the processes they held are
    // killed (dropping the state would do it too).
    let _ = exec_lua::stop_spawned(&lua);
    drop(lua);
    code
}

/// The chunk name of the limits' wrappers of `pcall` and `xpcall`.
#[cfg(not(feature = "lua51"))]
const LIMITS_CHUNK: &str = "exec-lua limits";

/// What Lua's allocation failures say (its own message, `LUA_ERRMEM`).
const LUA_MEMORY_ERROR: &str = "not enough memory";

/// Stops the script on a signal (128+n) or when `--timeout` passes (124); if
/// it has not unwound [`STOP_GRACE`] later (stuck in one call into C, or in a
/// finalizer), kills and reaps the host processes it started and exits.
async fn watchdog(
    terminated: impl std::future::Future<Output = (u8, &'static str)>,
    timeout: Option<Duration>,
    stopper: exec_lua::Stopper,
    stop_sender: watch::Sender<Option<u8>>,
    unwound: Arc<AtomicBool>,
) {
    let expired = async {
        match timeout {
            Some(timeout) => tokio::time::sleep(timeout).await,
            None => std::future::pending().await,
        }
    };
    let (code, reason) = tokio::select! {
        (code, name) = terminated => (code, name.to_owned()),
        () = expired => {
            let timeout = timeout.unwrap_or_default();
            (EXIT_TIMEOUT, format!("its --timeout of {timeout:?} passed"))
        }
    };
    if code == EXIT_TIMEOUT {
        eprintln!("exec-lua: the script was stopped: {reason}");
    }
    // The status first: the script's end, which the stop brings, reads it.
    let _ = stop_sender.send(Some(code));
    stopper.stop(reason);
    tokio::time::sleep(STOP_GRACE).await;
    if unwound.load(Ordering::Acquire) {
        return;
    }
    exec_lua::restore_host_terminal();
    eprintln!(
        "exec-lua: the script did not stop within {STOP_GRACE:?} (a long call into C or a \
         finalizer); killing what it started and exiting"
    );
    let left = exec_native::kill_and_reap_all(REAP_LIMIT).await;
    if !left.is_empty() {
        eprintln!(
            "exec-lua: warning: {} child processes not reaped within {REAP_LIMIT:?}: {left:?}",
            left.len()
        );
    }
    std::process::exit(i32::from(code));
}

/// Waits for SIGINT, SIGTERM, SIGHUP or SIGQUIT; the status to exit with
/// (128+n) and the signal's name. The handlers are installed before the
/// future is first polled, so a signal that comes while the script's first
/// steps run is not missed. One that cannot be installed keeps its default
/// action.
fn termination() -> impl std::future::Future<Output = (u8, &'static str)> + Send {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    let mut terminate = signal(SignalKind::terminate()).ok();
    let mut hangup = signal(SignalKind::hangup()).ok();
    let mut quit = signal(SignalKind::quit()).ok();
    async fn received(handler: &mut Option<Signal>) {
        if let Some(handler) = handler
            && handler.recv().await.is_some()
        {
            return;
        }
        std::future::pending().await
    }
    async move {
        tokio::select! {
            () = received(&mut interrupt) => (130, "SIGINT"),
            () = received(&mut terminate) => (143, "SIGTERM"),
            () = received(&mut hangup) => (129, "SIGHUP"),
            () = received(&mut quit) => (131, "SIGQUIT"),
        }
    }
}

fn prepare(
    registry: Registry,
    cli: &Cli,
    script: Option<&Script>,
    exit_sender: watch::Sender<Option<u8>>,
) -> mlua::Result<Lua> {
    let options = exec_lua::StateOptions::new()
        .allow_file_access(cli.allow_file_access)
        .with_memory_limit(cli.memory_limit.0);
    let lua = exec_lua::new_state_with(Arc::new(registry), options)?;
    // arg, as the standalone `lua` interpreter sets it.
    let arg = lua.create_table()?;
    arg.raw_set(-1, "exec-lua")?;
    if let Some(script) = script {
        arg.raw_set(0, script.path.as_str())?;
    }
    for (i, value) in cli.args.iter().enumerate() {
        arg.raw_set(i + 1, value.as_str())?;
    }
    lua.globals().set("arg", arg)?;
    // os.exit ends the script where it is (no pcall can catch it); the runner
    // then drops the state, cleaning up every process, and exits.
    if let Some(os) = lua.globals().get::<Option<mlua::Table>>("os")? {
        let exit = lua.create_async_function(move |_, (code, _close): (Value, Value)| {
            let code = match code {
                Value::Nil | Value::Boolean(true) => 0,
                Value::Boolean(false) => 1,
                Value::Integer(n) => (n & 0xff) as u8,
                Value::Number(n) => ((n as i64) & 0xff) as u8,
                _ => 1,
            };
            let _ = exit_sender.send(Some(code));
            async move {
                std::future::pending::<()>().await;
                Ok(())
            }
        })?;
        os.set("exit", exit)?;
    }
    Ok(lua)
}

/// Runs one chunk with `args` as `...`; an error comes back as its message
/// and the Lua traceback where it was raised.
async fn run_chunk(lua: &Lua, source: &[u8], name: &str, args: &[String]) -> Result<(), String> {
    let function = lua
        .load(source)
        .set_name(name)
        .set_mode(ChunkMode::Text)
        .into_function()
        .map_err(|e| match e {
            mlua::Error::SyntaxError { message, .. } => message,
            other => other.to_string(),
        })?;
    let args: MultiValue = args
        .iter()
        .map(|a| lua.create_string(a).map(Value::String))
        .collect::<mlua::Result<_>>()
        .map_err(|e| exec_core::report(&e))?;
    call_with_traceback(lua, function, args).await
}

#[cfg(not(feature = "lua51"))]
async fn call_with_traceback(
    lua: &Lua,
    function: Function,
    args: MultiValue,
) -> Result<(), String> {
    let handler = lua
        .create_function(|lua, message: Value| {
            let text = describe_error(lua, &message);
            let Ok(traceback) = lua.traceback(Some(&text), 1) else {
                return Ok(text);
            };
            // The runner's own frames (its xpcall, and the limits' wrapper
            // around it and the handler) say nothing about the script.
            let traceback = traceback.to_string_lossy();
            let mut lines: Vec<&str> = traceback
                .lines()
                .filter(|line| !line.contains(LIMITS_CHUNK))
                .collect();
            while lines.last().is_some_and(|line| line.contains("'xpcall'")) {
                lines.pop();
            }
            Ok(lines.join("\n"))
        })
        .map_err(|e| exec_core::report(&e))?;
    let xpcall: Function = lua
        .globals()
        .get("xpcall")
        .map_err(|e| exec_core::report(&e))?;
    let mut call_args =
        MultiValue::from_iter([Value::Function(function), Value::Function(handler)]);
    call_args.extend(args);
    let results: MultiValue = xpcall
        .call_async(call_args)
        .await
        .map_err(|e| exec_core::report(&e))?;
    let mut results = results.into_iter();
    match results.next() {
        Some(Value::Boolean(false)) => Err(results
            .next()
            .map(|m| describe_error(lua, &m))
            .unwrap_or_else(|| "error".to_owned())),
        _ => Ok(()),
    }
}

/// Lua 5.1 cannot yield across `xpcall`: the chunk runs bare, and an error
/// comes without a traceback.
#[cfg(feature = "lua51")]
async fn call_with_traceback(
    _lua: &Lua,
    function: Function,
    args: MultiValue,
) -> Result<(), String> {
    function
        .call_async::<()>(args)
        .await
        .map_err(|e| rust_error_text(&e))
}

/// The message of an error a Rust function raised, without mlua's prefixes
/// and its own traceback (the handler adds the script's).
fn rust_error_text(error: &mlua::Error) -> String {
    match error {
        mlua::Error::RuntimeError(message) => message.clone(),
        mlua::Error::CallbackError { cause, .. } => rust_error_text(cause),
        other => other.to_string(),
    }
}

#[cfg(not(feature = "lua51"))]
/// The text of an error value: strings as they are, error objects through
/// `tostring` (so `errors.new` values show their message).
fn describe_error(lua: &Lua, message: &Value) -> String {
    match message {
        Value::String(s) => s.to_string_lossy(),
        Value::Error(e) => rust_error_text(e),
        Value::Nil => "nil".to_owned(),
        other => lua
            .globals()
            .get::<Function>("tostring")
            .and_then(|tostring| tostring.call::<String>(other.clone()))
            .unwrap_or_else(|_| format!("(error object is a {} value)", other.type_name())),
    }
}
