//! `cargo xtask fuzz [TARGET] [--seconds N]`: the fuzz targets of `fuzz/`
//! under cargo-fuzz and libFuzzer, each for N seconds (default 30), and a
//! table of what each did.
//!
//! cargo-fuzz needs nightly flags (`-Zsanitizer=address`); the toolchain
//! here is stable, so they are let through with `RUSTC_BOOTSTRAP=1` (only
//! for this build, in `fuzz/target`). cargo-fuzz is installed when missing.
//! Each target starts from the seeds in `fuzz/seeds/TARGET` (in the repo)
//! and what earlier runs found in `fuzz/corpus/TARGET` (not in the repo);
//! a crash, a panic, a leak or an input that runs longer than 10 s stops
//! the run with libFuzzer's report and the input in
//! `fuzz/artifacts/TARGET`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::provision::{apt_get, have_program};
use crate::{cargo, run, workspace_root};

/// The cargo-fuzz release `cargo xtask fuzz` installs when none is there.
const CARGO_FUZZ: &str = "0.13.2";
/// libFuzzer's limit on one input: past it, the input is reported as a hang.
const INPUT_TIMEOUT_SECONDS: u32 = 10;

/// What one target did.
struct Figures {
    target: String,
    seconds: f64,
    executions: u64,
    corpus: u64,
}

pub(crate) fn fuzz(args: &[String]) -> Result<(), String> {
    let mut target = None;
    let mut seconds = 30u32;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or("fuzz: --seconds takes a number of seconds above 0")?;
            }
            name if !name.starts_with('-') && target.is_none() => target = Some(name.to_owned()),
            other => return Err(format!("fuzz: unexpected argument {other:?}")),
        }
    }
    install()?;
    let all = targets()?;
    let targets = match target {
        Some(name) if all.contains(&name) => vec![name],
        Some(name) => {
            return Err(format!(
                "fuzz: no target {name:?}; the targets are {}",
                all.join(", ")
            ));
        }
        None => all,
    };
    run(
        "build the fuzz targets (cargo fuzz build, RUSTC_BOOTSTRAP=1)",
        cargo_fuzz(&["build", "--sanitizer", "address"]),
    )?;
    let mut figures = Vec::new();
    for target in &targets {
        figures.push(fuzz_one(target, seconds)?);
    }
    eprintln!("xtask: fuzz: every target ran without a crash, a leak or a hang");
    println!("| target | seconds | executions | corpus | crashes |");
    println!("|---|---|---|---|---|");
    for f in &figures {
        println!(
            "| {} | {:.0} | {} | {} | 0 |",
            f.target, f.seconds, f.executions, f.corpus
        );
    }
    Ok(())
}

/// `cargo fuzz ARGS` in the workspace root, nightly flags allowed.
fn cargo_fuzz(args: &[&str]) -> Command {
    let mut command = cargo(&["fuzz"]);
    command.args(args).env("RUSTC_BOOTSTRAP", "1");
    command
}

/// cargo-fuzz, installed from crates.io when `cargo fuzz` is not there,
/// and the C++ compiler libFuzzer is built with (Debian's g++).
fn install() -> Result<(), String> {
    if !have_program("c++") {
        apt_get("fuzz", &["update"])?;
        apt_get("fuzz", &["install", "--no-install-recommends", "g++"])?;
    }
    let installed = cargo(&["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if installed {
        return Ok(());
    }
    run(
        &format!("install cargo-fuzz {CARGO_FUZZ}"),
        cargo(&["install", "cargo-fuzz", "--locked", "--version", CARGO_FUZZ]),
    )
}

/// The targets `fuzz/Cargo.toml` declares.
fn targets() -> Result<Vec<String>, String> {
    let output = cargo_fuzz(&["list"])
        .output()
        .map_err(|e| format!("fuzz: cargo fuzz list: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "fuzz: cargo fuzz list failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Runs `target` for `seconds`; its figures from libFuzzer's final stats.
fn fuzz_one(target: &str, seconds: u32) -> Result<Figures, String> {
    let root = workspace_root();
    let corpus = root.join("fuzz/corpus").join(target);
    let seeds = root.join("fuzz/seeds").join(target);
    std::fs::create_dir_all(&corpus)
        .map_err(|e| format!("fuzz: create {}: {e}", corpus.display()))?;
    let mut command = cargo_fuzz(&["run", "--sanitizer", "address", target]);
    command.arg(&corpus);
    if seeds.is_dir() {
        command.arg(&seeds);
    }
    command
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_SECONDS}"))
        .arg("-print_final_stats=1")
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped());
    eprintln!("xtask: == fuzz {target} for {seconds} s");
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("fuzz: cannot run cargo fuzz: {e}"))?;
    // libFuzzer's report goes on to our stderr as it comes, and is kept for
    // the figures of its final stats.
    let mut log = String::new();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            log.push_str(&line);
            log.push('\n');
        }
    }
    let status = child.wait().map_err(|e| format!("fuzz: cargo fuzz: {e}"))?;
    let elapsed = started.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!(
            "fuzz: {target} failed ({status}) after {elapsed:.0} s (its report is above); the \
             input is in {}",
            Path::new("fuzz/artifacts").join(target).display(),
        ));
    }
    let stat = |name: &str| {
        log.lines()
            .rev()
            .filter_map(|l| l.strip_prefix(name))
            .find_map(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let figures = Figures {
        target: target.to_owned(),
        seconds: elapsed,
        executions: stat("stat::number_of_executed_units:"),
        corpus: std::fs::read_dir(&corpus).map_or(0, |d| d.count() as u64),
    };
    eprintln!(
        "xtask: == fuzz {target}: {} executions in {elapsed:.0} s, corpus {}, no crash",
        figures.executions, figures.corpus
    );
    Ok(figures)
}
