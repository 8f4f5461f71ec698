//! `cargo xtask bench [--quick]`: every benchmark, each figure beside its
//! baseline in one run, then `BENCHMARKS.md` (the table, the machine, how to
//! reproduce) and `docs/bench.svg` (every ratio against its goal) from the
//! figures the benchmarks wrote (`EXEC_BENCH_RESULTS`). With `--quick` the
//! figures are short (`EXEC_BENCH_QUICK`) and the report goes under
//! `target/bench-quick/`: CI runs it to prove the benchmarks work, never to
//! judge speed.

use crate::{cargo, docker, incus, run, workspace_root};
use std::fmt::Write as _;
use std::process::Command;

/// One figure, as a benchmark wrote it (see exec-test-support's `bench`).
struct Figure {
    section: String,
    name: String,
    ours: String,
    baseline: String,
    spread: String,
    value: f64,
    op: String,
    target: f64,
    met: String,
    goal: String,
}

impl Figure {
    fn parse(line: &str) -> Option<Self> {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 10 {
            return None;
        }
        Some(Self {
            section: f[0].to_owned(),
            name: f[1].to_owned(),
            ours: f[2].to_owned(),
            baseline: f[3].to_owned(),
            spread: f[4].to_owned(),
            value: f[5].parse().ok()?,
            op: f[6].to_owned(),
            target: f[7].parse().ok()?,
            met: f[8].to_owned(),
            goal: f[9].to_owned(),
        })
    }
}

pub(crate) fn bench(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    if let Some(other) = args.iter().find(|a| *a != "--quick") {
        return Err(format!("bench: unknown argument {other:?} (only --quick)"));
    }
    let root = workspace_root();
    let out_dir = if quick {
        root.join("target/bench-quick")
    } else {
        root.clone()
    };
    std::fs::create_dir_all(out_dir.join("docs"))
        .map_err(|e| format!("bench: create {}: {e}", out_dir.display()))?;
    let results = root.join("target/bench-results.tsv");
    let _ = std::fs::remove_file(&results);
    let load_before = load_average();
    let with_env = |mut command: Command| {
        command.env("EXEC_BENCH_RESULTS", &results);
        if quick {
            command.env("EXEC_BENCH_QUICK", "1");
        }
        command
    };
    run(
        "benchmarks (exec-native against std::process::Command and the pipe floor)",
        with_env(cargo(&["bench", "-p", "exec-native", "--bench", "native"])),
    )?;
    run(
        "benchmarks (exec-lua against Python's subprocess, exec-native's Rust API and std)",
        with_env(cargo(&["bench", "-p", "exec-lua", "--bench", "lua"])),
    )?;
    // Built before the daemons start, so they do not wait through a compile.
    for krate in ["exec-docker", "exec-incus"] {
        let name = krate.trim_start_matches("exec-");
        run(
            &format!("build the {name} benchmarks"),
            cargo(&["bench", "-p", krate, "--bench", name, "--no-run"]),
        )?;
    }
    let docker = docker::provision()?;
    let mut command = with_env(cargo(&["bench", "-p", "exec-docker", "--bench", "docker"]));
    command.envs(docker.env.iter().map(|(k, v)| (k, v)));
    run(
        "benchmarks (exec-docker against the docker CLI and bollard by hand)",
        command,
    )?;
    let incus = incus::provision()?;
    let mut command = with_env(cargo(&["bench", "-p", "exec-incus", "--bench", "incus"]));
    command.envs(incus.env.iter().map(|(k, v)| (k, v)));
    run(
        "benchmarks (exec-incus against the incus CLI and the raw REST + websocket calls)",
        command,
    )?;
    let load_after = load_average();
    let text = std::fs::read_to_string(&results)
        .map_err(|e| format!("bench: read {}: {e}", results.display()))?;
    let figures: Vec<Figure> = text.lines().filter_map(Figure::parse).collect();
    if figures.is_empty() {
        return Err("bench: the benchmarks wrote no figures".to_owned());
    }
    let markdown = report(&figures, quick, &load_before, &load_after);
    let svg = chart(&figures);
    for (path, content) in [
        (out_dir.join("BENCHMARKS.md"), markdown),
        (out_dir.join("docs/bench.svg"), svg),
    ] {
        std::fs::write(&path, content)
            .map_err(|e| format!("bench: write {}: {e}", path.display()))?;
        eprintln!("xtask: wrote {}", path.display());
    }
    drop(incus);
    Ok(())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| {
            let parts: Vec<&str> = l.split_whitespace().take(3).collect();
            (parts.len() == 3).then(|| parts.join(" "))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn first_line_of(command: &str, args: &[&str]) -> String {
    Command::new(command)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8(o.stdout)
                .ok()
                .and_then(|s| s.lines().next().map(str::to_owned))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// What machine this is, in one line each.
fn machine() -> Vec<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|kb| kb.trim().trim_end_matches(" kB").parse::<u64>().ok())
        })
        .map_or("unknown".to_owned(), |kb| {
            format!("{:.0} GiB", kb as f64 / 1048576.0)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or("unknown".to_owned(), |k| k.trim().to_owned());
    vec![
        format!("{cores} cores ({model}), {memory} of memory, Linux {kernel}"),
        format!("rustc: {}", first_line_of("rustc", &["--version"])),
        format!("Python: {}", first_line_of("python3", &["--version"])),
        format!("dockerd: {}", first_line_of("dockerd", &["--version"])),
        format!("incusd: {}", first_line_of("incus", &["--version"])),
    ]
}

fn report(figures: &[Figure], quick: bool, before: &str, after: &str) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Written by `cargo xtask bench` on {}{}. Every figure runs ours and its \
         baseline alternately, after one untimed round of each, and shows the two \
         medians, the spread of ours (half the interquartile range, over the \
         median) and the ratio: ours over the baseline for times (below 1 is \
         faster), the baseline over ours for throughputs (above 1 is faster). \
         The baselines are what a user would pick instead — Python's \
         `subprocess`, `std::process::Command`, the docker and incus CLIs, the \
         raw API calls — or the floor the machine allows (the shell's pipe). \
         Machines here are shared and noisy: read medians and ratios, not \
         single runs.\n",
        first_line_of("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        if quick {
            " (--quick: short runs, not for judging speed)"
        } else {
            ""
        },
    );
    let _ = writeln!(md, "![every ratio against its goal](docs/bench.svg)\n");
    let _ = writeln!(md, "## The machine\n");
    for line in machine() {
        let _ = writeln!(md, "- {line}");
    }
    let _ = writeln!(
        md,
        "- load average (1, 5, 15 min): {before} before, {after} after\n"
    );
    let mut sections: Vec<&str> = Vec::new();
    for figure in figures {
        if !sections.contains(&figure.section.as_str()) {
            sections.push(&figure.section);
        }
    }
    for section in sections {
        let _ = writeln!(md, "## {section}\n");
        let _ = writeln!(
            md,
            "| figure | ours | baseline | spread | ratio | goal | met |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---|:-:|");
        for f in figures.iter().filter(|f| f.section == section) {
            let value = if f.op == "below" || f.baseline.is_empty() {
                String::new()
            } else {
                format!("{:.2}", f.value)
            };
            let met = match f.met.as_str() {
                "yes" => "✓",
                "no" => "✗",
                _ => "",
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {value} | {} | {met} |",
                f.name.replace('|', "\\|"),
                f.ours,
                f.baseline,
                f.spread,
                f.goal
            );
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(md, "## Reproduce\n");
    let _ = writeln!(
        md,
        "```sh\ncargo xtask bench          # the whole run: this file and docs/bench.svg\n\
         cargo xtask bench --quick  # short, for CI (report under target/bench-quick/)\n```\n\n\
         It builds in release, provisions the test daemons as `cargo xtask test-all` \
         does (a private dockerd and incusd when none is given), and needs `python3` \
         for the Python rows (without it they say so)."
    );
    md
}

/// A horizontal bar per figure with a goal: where its ratio lies against the
/// goal, green when it meets it, red when it does not.
fn chart(figures: &[Figure]) -> String {
    let judged: Vec<&Figure> = figures.iter().filter(|f| f.op != "reference").collect();
    let (left, width, row) = (560.0, 360.0, 24.0);
    let height = 60.0 + row * judged.len() as f64;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">",
        left + width + 230.0
    );
    let _ = writeln!(
        svg,
        "<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">Each figure against \
         its goal (the line): left of it is better</text>"
    );
    // Every bar is "how far from the goal": for a time or a size, the
    // value over the goal (1 is the line); for a throughput, the goal over
    // the value. The axis runs from 0 to 2.
    let goal_x = left + width / 2.0;
    let _ = writeln!(
        svg,
        "<line x1=\"{goal_x}\" y1=\"35\" x2=\"{goal_x}\" y2=\"{}\" stroke=\"#333\" \
         stroke-dasharray=\"4,3\"/><text x=\"{}\" y=\"32\">goal</text>",
        height - 10.0,
        goal_x - 12.0
    );
    for (i, f) in judged.iter().enumerate() {
        let y = 45.0 + row * i as f64;
        let relative = match f.op.as_str() {
            "throughput>=" => f.target / f.value.max(f64::MIN_POSITIVE),
            _ => f.value / f.target.max(f64::MIN_POSITIVE),
        };
        let bar = (relative.clamp(0.0, 2.0) / 2.0) * width;
        let colour = if f.met == "yes" { "#3a3" } else { "#c33" };
        let name = f
            .name
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('`', "");
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}: {name}</text>\
             <rect x=\"{left}\" y=\"{}\" width=\"{bar:.1}\" height=\"{}\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"{}\">{} (goal {})</text>",
            left - 6.0,
            y + 13.0,
            f.section.replace('&', "&amp;"),
            y + 3.0,
            row - 8.0,
            left + bar + 4.0,
            y + 13.0,
            format_value(f),
            f.goal.replace('<', "&lt;").replace('>', "&gt;")
        );
    }
    let _ = writeln!(svg, "</svg>");
    svg
}

fn format_value(f: &Figure) -> String {
    match f.op.as_str() {
        "below" => format!("{:.1} MiB", f.value),
        _ => format!("{:.2}x", f.value),
    }
}
