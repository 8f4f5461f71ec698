//! The workspace's own tasks, run as `cargo xtask <task>`:
//!
//! - `test-all` — every test of the workspace: unit, integration and doc tests
//!   with every feature on (for exec-lua: every feature but the other Lua
//!   versions, which are exclusive). Tests that need a daemon are told it is required
//!   (`EXEC_REQUIRE_DAEMONS=1`), so they fail instead of skipping; a Docker
//!   engine (`docker.rs`) and a private incusd (`incus.rs`) are provisioned
//!   first when none is given, and stopped after.
//! - `checks` — `cargo fmt --check`, clippy with warnings denied, docs with
//!   warnings denied, and each published crate built alone (with its default
//!   features and with none), as a user of that one crate builds it; exec-lua
//!   also with each other Lua version.
//! - `ci` — `checks`, then `test-all`.
//! - `bench [--quick]` — the benchmarks, each figure beside its baseline in
//!   one run, and `BENCHMARKS.md` with `docs/bench.svg` from their figures.
//! - `daemons` — starts the test daemons, prints the environment that points
//!   tests at them, and stops them when standard input ends (for running
//!   single tests by hand).
//! - `fuzz [TARGET] [--seconds N]` — the fuzz targets of `fuzz/` under
//!   cargo-fuzz (see `fuzz.rs`); `ci` runs each for 15 s.
//! - `soak [native | docker | incus] [--runs N]` — the long runs of `soak/`
//!   (see `soak.rs`).
//!
//! Only the standard library is used, so this builds in seconds on a fresh machine.

mod bench;
mod docker;
mod fuzz;
mod incus;
mod provision;
mod soak;

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

const USAGE: &str = "usage: cargo xtask <test-all | checks | ci | bench | daemons | fuzz | soak>

  test-all   every test of the workspace, every feature on, daemons required
  checks     fmt check, clippy -D warnings, docs -D warnings, each crate built alone
  ci         checks, test-all, then each fuzz target for 15 s
  bench      benchmarks beside their baselines, medians and ratios; writes
             BENCHMARKS.md and docs/bench.svg (--quick: short, report under target/)
  daemons    start the test daemons, print their environment, stop them at end of input
  fuzz       [TARGET] [--seconds N]: the fuzz targets (cargo-fuzz), N s each (30)
  soak       [native | docker | incus] [--runs N]: 10,000 native runs (also as PID 1),
             1,000 Docker and 1,000 Incus runs, and what they left behind";

/// How long `ci` runs each fuzz target.
const CI_FUZZ_SECONDS: &str = "15";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test-all") => test_all(),
        Some("checks") => checks(),
        Some("ci") => checks()
            .and_then(|()| test_all())
            .and_then(|()| fuzz::fuzz(&["--seconds".to_owned(), CI_FUZZ_SECONDS.to_owned()])),
        Some("fuzz") => fuzz::fuzz(&args[1..]),
        Some("soak") => soak::soak(&args[1..]),
        Some("bench") => bench::bench(&args[1..]),
        Some("daemons") => daemons(),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task {other:?}\n\n{USAGE}")),
        None => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or(manifest_dir.clone(), Path::to_path_buf)
}

/// A `cargo` command run at the workspace root with the cargo that runs us.
fn cargo(args: &[&str]) -> Command {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command.args(args).current_dir(workspace_root());
    command
}

/// Runs `command`, saying what runs and how long it took.
fn run(title: &str, mut command: Command) -> Result<(), String> {
    eprintln!("xtask: == {title}");
    let started = Instant::now();
    let status = command
        .status()
        .map_err(|e| format!("{title}: could not start: {e}"))?;
    eprintln!("xtask: == {title}: {status} in {:.1?}", started.elapsed());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{title} failed ({status})"))
    }
}

fn daemons() -> Result<(), String> {
    let docker = docker::provision()?;
    let incus = incus::provision()?;
    for (name, value) in docker.env.iter().chain(&incus.env) {
        println!("export {name}={value}");
    }
    eprintln!("xtask: the daemons run until standard input ends (^D)");
    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
    Ok(())
}

fn test_all() -> Result<(), String> {
    // Built first, so the daemons do not wait through a compile.
    for (title, mut args) in feature_sets(&["test"]) {
        args.push("--no-run");
        run(&format!("build the tests ({title})"), cargo(&args))?;
    }
    provision::test_tools()?;
    // Stopped when dropped, at the end or on the first failure.
    let docker = docker::provision()?;
    let incus = incus::provision()?;
    for (title, args) in feature_sets(&["test"]) {
        let mut command = cargo(&args);
        command.env("EXEC_REQUIRE_DAEMONS", "1");
        command.envs(docker.env.iter().map(|(k, v)| (k, v)));
        command.envs(incus.env.iter().map(|(k, v)| (k, v)));
        run(&format!("tests ({title})"), command)?;
    }
    drop(incus);
    Ok(())
}

/// The crate whose features cannot all be on at once: mlua takes exactly one
/// Lua version.
const LUA_CRATE: &str = "exec-lua";
/// exec-lua's features in `test-all`, `clippy` and `doc`: all but the other
/// Lua versions.
const LUA_FEATURES: &str = "lua54,vendored,send,native,docker,incus,cli";
/// The other Lua versions `checks` builds exec-lua with.
const LUA_VERSIONS: &[&str] = &["lua51", "luajit", "lua55"];

/// `cargo <args>` over the whole workspace with every feature: one run for all
/// crates but exec-lua with `--all-features`, one for exec-lua with
/// [`LUA_FEATURES`].
fn feature_sets<'a>(args: &[&'a str]) -> Vec<(String, Vec<&'a str>)> {
    let mut workspace = args.to_vec();
    workspace.extend(["--workspace", "--exclude", LUA_CRATE, "--all-features"]);
    let mut lua = args.to_vec();
    lua.extend(["--package", LUA_CRATE, "--features", LUA_FEATURES]);
    vec![
        (format!("cargo {}", workspace.join(" ")), workspace),
        (format!("cargo {}", lua.join(" ")), lua),
    ]
}

fn checks() -> Result<(), String> {
    run(
        "format (cargo fmt --check)",
        cargo(&["fmt", "--all", "--check"]),
    )?;
    for (title, mut args) in feature_sets(&["clippy", "--all-targets"]) {
        args.extend(["--", "-D", "warnings"]);
        run(&format!("lints ({title} -- -D warnings)"), cargo(&args))?;
    }
    for (title, args) in feature_sets(&["doc", "--no-deps"]) {
        let mut docs = cargo(&args);
        docs.env("RUSTDOCFLAGS", "-D warnings");
        run(&format!("docs ({title}, warnings denied)"), docs)?;
    }
    // Workspace builds unify features across crates and can hide a feature a
    // crate forgot to ask for; a user of one crate would find it.
    for krate in PUBLISHED {
        run(
            &format!("{krate} alone"),
            cargo(&["check", "--quiet", "-p", krate]),
        )?;
        let mut bare = vec!["check", "--quiet", "-p", krate, "--no-default-features"];
        if *krate == LUA_CRATE {
            // mlua needs one Lua version.
            bare.extend(["--features", "lua54,vendored"]);
        }
        run(&format!("{krate} alone, no default features"), cargo(&bare))?;
    }
    // The kit must build for a third party that turns off audit events.
    run(
        "exec-core alone, conformance kit without tracing",
        cargo(&[
            "check",
            "--quiet",
            "-p",
            "exec-core",
            "--no-default-features",
            "--features",
            "conformance",
        ]),
    )?;
    for version in LUA_VERSIONS {
        let features = format!("{version},vendored,native,docker,cli");
        run(
            &format!("{LUA_CRATE} with {version}"),
            cargo(&[
                "check",
                "--quiet",
                "-p",
                LUA_CRATE,
                "--no-default-features",
                "--features",
                &features,
            ]),
        )?;
    }
    Ok(())
}

/// The crates published to crates.io.
const PUBLISHED: &[&str] = &[
    "exec-core",
    "exec-native",
    "exec-docker",
    "exec-incus",
    "exec-config",
    "exec-lua",
];
