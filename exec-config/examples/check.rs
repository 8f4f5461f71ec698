//! Loads config files and lists their entries, or prints why one does not load.
//!
//! ```text
//! cargo run -p exec-config --example check -- FILE... [--namespace NS]
//! ```

use exec_config::Loader;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let namespace = match args.iter().position(|a| a == "--namespace") {
        Some(at) if at + 1 < args.len() => {
            let ns = args.remove(at + 1);
            args.remove(at);
            Some(ns)
        }
        _ => None,
    };
    if args.is_empty() {
        eprintln!("usage: check FILE... [--namespace NS]");
        return ExitCode::from(2);
    }
    let mut failed = false;
    for file in &args {
        let mut loader = Loader::new();
        match loader.load_file(file, namespace.as_deref()) {
            Ok(ids) => println!("{file}: ok: {}", ids.join(", ")),
            Err(err) => {
                println!("{}", exec_core::report(&err));
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
