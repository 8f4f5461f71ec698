//! Reading `executor:exec(cmd, options)` arguments from Lua values, with an
//! `INVALID` error that names the bad argument.

use crate::errors::{Outcome, ScriptError};
use exec_core::{CommandSpec, ExecOptions, Mount, Pty};
use mlua::Value;
use std::time::Duration;

/// Warns (an audit event, target `exec`) that `executor`'s option `key` is
/// not one this module knows, and is ignored, as Wippy ignores it (so a
/// script written for a newer or older Wippy still runs). The key is shown
/// quoted and escaped: a script cannot forge a log line with it.
fn ignored(executor: &str, key: &str) {
    tracing::warn!(target: "exec", executor = ?executor, option = ?key, "unknown option ignored");
}

/// The command: a command line (a string, split as a shell splits words) or
/// a list of words (a table `{"git", "status"}`, taken as they are — an
/// extension of Wippy's API).
pub(crate) fn command(value: &Value) -> Outcome<CommandSpec> {
    match value {
        Value::String(s) => s
            .to_str()
            .map(|s| CommandSpec::Line(s.to_owned()))
            .map_err(|_| ScriptError::invalid("the command is not valid UTF-8".to_owned())),
        Value::Table(words) => {
            let count = words.raw_len();
            let mut argv = Vec::with_capacity(count);
            for pair in words.clone().pairs::<Value, Value>() {
                let (key, _) = pair.map_err(|e| ScriptError::invalid(e.to_string()))?;
                let in_sequence =
                    matches!(key, Value::Integer(i) if i >= 1 && (i as usize) <= count);
                if !in_sequence {
                    return Err(ScriptError::invalid(format!(
                        "a command given as words must be a list of strings; it has the key {}",
                        key_text(&key)
                    )));
                }
            }
            for index in 1..=count {
                let word: Value = words
                    .raw_get(index)
                    .map_err(|e| ScriptError::invalid(e.to_string()))?;
                match word {
                    Value::String(s) => {
                        argv.push(s.to_str().map(|s| s.to_owned()).map_err(|_| {
                            ScriptError::invalid(format!(
                                "word {index} of the command is not valid UTF-8"
                            ))
                        })?)
                    }
                    other => {
                        return Err(ScriptError::invalid(format!(
                            "word {index} of the command must be a string, got {}",
                            crate::errors::lua_type(&other)
                        )));
                    }
                }
            }
            Ok(CommandSpec::Words(argv))
        }
        other => Err(ScriptError::invalid(format!(
            "the command must be a string or a list of words, got {}",
            crate::errors::lua_type(other)
        ))),
    }
}

/// A table key as a message shows it.
fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => format!("{:?}", s.to_string_lossy()),
        Value::Integer(i) => i.to_string(),
        other => crate::errors::lua_type(other).to_owned(),
    }
}

/// The options table (or nil) of a call on `executor` (the id, for the
/// warning about a key it ignores).
pub(crate) fn exec_options(value: &Value, executor: &str) -> Outcome<ExecOptions> {
    let table = match value {
        Value::Nil => return Ok(ExecOptions::new()),
        Value::Table(table) => table,
        other => {
            return Err(ScriptError::invalid(format!(
                "the options must be a table, got {}",
                crate::errors::lua_type(other)
            )));
        }
    };
    let mut options = ExecOptions::new();
    for pair in table.pairs::<Value, Value>() {
        let (key, value) = pair.map_err(|e| ScriptError::invalid(e.to_string()))?;
        let name = match &key {
            Value::String(s) => s.to_string_lossy(),
            other => {
                ignored(executor, &key_text(other));
                continue;
            }
        };
        match name.as_str() {
            "work_dir" => match value {
                Value::String(dir) => {
                    let dir = dir.to_str().map_err(|_| {
                        ScriptError::invalid("option work_dir is not valid UTF-8".to_owned())
                    })?;
                    options = options.with_work_dir(dir.to_owned());
                }
                other => return Err(wrong_type("work_dir", "a string", &other)),
            },
            "env" => match value {
                Value::Table(env) => {
                    for pair in env.pairs::<Value, Value>() {
                        let (name, value) =
                            pair.map_err(|e| ScriptError::invalid(e.to_string()))?;
                        let (name, value) = env_variable(&name, &value)?;
                        options = options.with_env(name, value);
                    }
                }
                other => return Err(wrong_type("env", "a table", &other)),
            },
            "timeout" => {
                let seconds = match value {
                    Value::Integer(n) => n as f64,
                    Value::Number(n) => n,
                    other => return Err(wrong_type("timeout", "a number of seconds", &other)),
                };
                let timeout = Duration::try_from_secs_f64(seconds)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| {
                        ScriptError::invalid(format!(
                            "option timeout must be a positive number of seconds, got {seconds}"
                        ))
                    })?;
                options = options.with_timeout(timeout);
            }
            // Native commands always lead a process group of their own (so
            // that close, the timeout and a dropped state end all they
            // started): `false` cannot put them in the host's group, and is
            // taken as it is, for scripts written for Wippy.
            "process_group" => match value {
                Value::Boolean(_) => {}
                other => return Err(wrong_type("process_group", "a boolean", &other)),
            },
            "mounts" => {
                for mount in mounts(&value, executor)? {
                    options = options.with_mount(mount);
                }
            }
            "pty" => {
                if let Some(pty) = pty(&value, executor)? {
                    options = options.with_pty(pty);
                }
            }
            // Never ignore a restriction asked for: this project cannot
            // confine a command yet, so the call fails, as Wippy's does
            // where it cannot.
            "confine" => {
                return Err(ScriptError::invalid(
                    "option confine: requested process confinement is unavailable \
                     (commands here are confined by their executor's config, not per call)"
                        .to_owned(),
                ));
            }
            _ => ignored(executor, &name),
        }
    }
    Ok(options)
}

/// The `pty` option: `{width = 100, height = 30, term = "xterm-256color"}`,
/// each field optional (80 by 24, [`DEFAULT_TERM`](exec_core::DEFAULT_TERM)),
/// or `true` for all the defaults; `false` or `nil` for none.
fn pty(value: &Value, executor: &str) -> Outcome<Option<Pty>> {
    let table = match value {
        Value::Boolean(false) | Value::Nil => return Ok(None),
        Value::Boolean(true) => return Ok(Some(Pty::new(80, 24))),
        Value::Table(table) => table,
        other => {
            return Err(wrong_type(
                "pty",
                "a table {width, height, term} or true",
                other,
            ));
        }
    };
    let (mut width, mut height, mut term) = (80, 24, None);
    for pair in table.pairs::<Value, Value>() {
        let (key, value) = pair.map_err(|e| ScriptError::invalid(e.to_string()))?;
        let name = match &key {
            Value::String(s) => s.to_string_lossy(),
            other => key_text(other),
        };
        match name.as_str() {
            "width" | "height" => {
                let cells = match value {
                    Value::Integer(n) => u16::try_from(n).ok(),
                    Value::Number(n) if n.fract() == 0.0 && (1.0..=65535.0).contains(&n) => {
                        Some(n as u16)
                    }
                    _ => None,
                }
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    ScriptError::invalid(format!(
                        "option pty: {name} must be a whole number from 1 to 65535, got {}",
                        value_text(&value)
                    ))
                })?;
                if name == "width" {
                    width = cells;
                } else {
                    height = cells;
                }
            }
            "term" => match value {
                Value::String(t) => term = Some(t.to_string_lossy()),
                other => return Err(wrong_type("pty.term", "a string", &other)),
            },
            _ => ignored(executor, &format!("pty.{name}")),
        }
    }
    let pty = Pty::new(width, height);
    Ok(Some(match term {
        Some(term) => pty.with_term(term),
        None => pty,
    }))
}

/// A number or other value as a message shows it.
fn value_text(value: &Value) -> String {
    match value {
        Value::Integer(n) => n.to_string(),
        Value::Number(n) => n.to_string(),
        other => crate::errors::lua_type(other).to_owned(),
    }
}

/// The `mounts` option: a list of `{source = "/host", target = "/ctr",
/// read_only = bool}` (Wippy's form). Whether the executor takes them is its
/// business (exec-docker within `mount_roots`; the others refuse them).
fn mounts(value: &Value, executor: &str) -> Outcome<Vec<Mount>> {
    let Value::Table(list) = value else {
        return Err(wrong_type(
            "mounts",
            "a list of {source, target, read_only} tables",
            value,
        ));
    };
    let count = list.raw_len();
    let mut mounts = Vec::with_capacity(count);
    for pair in list.clone().pairs::<Value, Value>() {
        let (key, _) = pair.map_err(|e| ScriptError::invalid(e.to_string()))?;
        if !matches!(key, Value::Integer(i) if i >= 1 && (i as usize) <= count) {
            return Err(ScriptError::invalid(format!(
                "option mounts must be a list of {{source, target, read_only}} tables; it has the key {}",
                key_text(&key)
            )));
        }
    }
    for index in 1..=count {
        let entry: Value = list
            .raw_get(index)
            .map_err(|e| ScriptError::invalid(e.to_string()))?;
        let Value::Table(entry) = entry else {
            return Err(ScriptError::invalid(format!(
                "option mounts: mount {index} must be a table {{source, target, read_only}}, got {}",
                crate::errors::lua_type(&entry)
            )));
        };
        let mut source = None;
        let mut target = None;
        let mut read_only = false;
        for pair in entry.pairs::<Value, Value>() {
            let (key, value) = pair.map_err(|e| ScriptError::invalid(e.to_string()))?;
            let name = match &key {
                Value::String(s) => s.to_string_lossy(),
                other => key_text(other),
            };
            match (name.as_str(), value) {
                ("source" | "target", Value::String(path)) => {
                    let path = path.to_str().map(|p| p.to_owned()).map_err(|_| {
                        ScriptError::invalid(format!(
                            "option mounts: mount {index}: {name} is not valid UTF-8"
                        ))
                    })?;
                    if name == "source" {
                        source = Some(path);
                    } else {
                        target = Some(path);
                    }
                }
                ("read_only", Value::Boolean(b)) => read_only = b,
                ("source" | "target" | "read_only", other) => {
                    let expected = if name == "read_only" {
                        "a boolean"
                    } else {
                        "a string"
                    };
                    return Err(ScriptError::invalid(format!(
                        "option mounts: mount {index}: {name} must be {expected}, got {}",
                        crate::errors::lua_type(&other)
                    )));
                }
                (_, _) => ignored(executor, &format!("mounts[{index}].{name}")),
            }
        }
        let (Some(source), Some(target)) = (source, target) else {
            return Err(ScriptError::invalid(format!(
                "option mounts: mount {index} needs both source and target"
            )));
        };
        mounts.push(Mount::new(source, target).with_read_only(read_only));
    }
    Ok(mounts)
}

/// One `NAME = value` of the `env` option. The name is a UTF-8 string; the
/// value a UTF-8 string, or a number or boolean taken as text (as YAML
/// `default_env` does).
fn env_variable(name: &Value, value: &Value) -> Outcome<(String, String)> {
    let name = match name {
        Value::String(s) => s.to_str().map(|s| s.to_owned()).map_err(|_| {
            ScriptError::invalid(format!(
                "option env: variable name \"{}\" must be valid UTF-8",
                s.as_bytes().escape_ascii()
            ))
        })?,
        other => {
            let key = match other {
                Value::Integer(n) => format!("the number {n}"),
                Value::Number(n) => format!("the number {n}"),
                Value::Boolean(b) => format!("the boolean {b}"),
                other => format!("a {} key", crate::errors::lua_type(other)),
            };
            return Err(ScriptError::invalid(format!(
                "option env: variable names must be strings, got {key} \
                 (env is a table of NAME = \"value\", not a list)"
            )));
        }
    };
    let value = match value {
        Value::String(s) => s.to_str().map(|s| s.to_owned()).map_err(|_| {
            ScriptError::invalid(format!(
                "option env: the value of {name} must be valid UTF-8"
            ))
        })?,
        Value::Integer(n) => n.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Boolean(b) => b.to_string(),
        other => {
            return Err(ScriptError::invalid(format!(
                "option env: the value of {name} must be a string, got {}",
                crate::errors::lua_type(other)
            )));
        }
    };
    Ok((name, value))
}

fn wrong_type(option: &str, expected: &str, got: &Value) -> ScriptError {
    ScriptError::invalid(format!(
        "option {option} must be {expected}, got {}",
        crate::errors::lua_type(got)
    ))
}

/// A non-negative integer argument such as a signal number or a read size;
/// `None` when absent.
pub(crate) fn integer(name: &str, value: &Value) -> Outcome<Option<i64>> {
    match value {
        Value::Nil => Ok(None),
        Value::Integer(n) => Ok(Some(*n)),
        Value::Number(n) if n.fract() == 0.0 && n.is_finite() => Ok(Some(*n as i64)),
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .map(Some)
            .ok_or_else(|| ScriptError::invalid(format!("{name} must be an integer"))),
        other => Err(ScriptError::invalid(format!(
            "{name} must be an integer, got {}",
            crate::errors::lua_type(other)
        ))),
    }
}
