//! The global `errors` table and the error values every `exec` call returns,
//! after Wippy's error API (`errors.new`, `errors.wrap`, `errors.is`,
//! `errors.call_stack`, the kind constants, and `err:kind()`, `message()`,
//! `retryable()`, `details()`, `stack()`, `tostring(err)`).

use mlua::{
    AnyUserData, IntoLua, Lua, MetaMethod, MultiValue, Table, UserData, UserDataMethods, Value,
};

/// The error kinds of Wippy's error API, as the strings `err:kind()` returns
/// and the `errors` table holds under the same names.
pub const KINDS: [&str; 11] = [
    NOT_FOUND,
    ALREADY_EXISTS,
    INVALID,
    PERMISSION_DENIED,
    UNAVAILABLE,
    INTERNAL,
    CANCELED,
    CONFLICT,
    TIMEOUT,
    RATE_LIMITED,
    UNKNOWN,
];

/// A resource does not exist (an executor id, a program, a work dir).
pub const NOT_FOUND: &str = "NOT_FOUND";
/// A resource already exists.
pub const ALREADY_EXISTS: &str = "ALREADY_EXISTS";
/// Bad input or a call out of order (wait before start, read after close, …).
pub const INVALID: &str = "INVALID";
/// Refused: a command not in the whitelist, or a policy's refusal.
pub const PERMISSION_DENIED: &str = "PERMISSION_DENIED";
/// A service (a daemon) cannot be reached now.
pub const UNAVAILABLE: &str = "UNAVAILABLE";
/// Something failed inside: an I/O error, a peer that spoke nonsense.
pub const INTERNAL: &str = "INTERNAL";
/// The operation was canceled.
pub const CANCELED: &str = "CANCELED";
/// A resource's state conflicts with the request.
pub const CONFLICT: &str = "CONFLICT";
/// The operation (or the process) ran out of time.
pub const TIMEOUT: &str = "TIMEOUT";
/// Too many requests.
pub const RATE_LIMITED: &str = "RATE_LIMITED";
/// Unspecified (the kind of `errors.new("message")`).
pub const UNKNOWN: &str = "UNKNOWN";

/// An error as scripts see it: the userdata behind `err:kind()` and friends.
/// The `details` table, when there is one, is kept as the userdata's user value
/// so the Lua garbage collector sees it.
#[derive(Debug, Clone)]
pub struct ScriptError {
    kind: &'static str,
    message: String,
    retryable: Option<bool>,
    stack: String,
    frames: Vec<Frame>,
}

/// One frame of the Lua stack where an error was made, for `errors.call_stack`.
#[derive(Debug, Clone)]
struct Frame {
    source: String,
    line: i64,
    name: Option<String>,
}

/// How many frames `errors.call_stack` keeps.
const MAX_FRAMES: usize = 32;

impl ScriptError {
    /// An error of `kind` (one of [`KINDS`]; anything else counts as
    /// [`UNKNOWN`]) with `message`.
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        let kind = KINDS
            .iter()
            .copied()
            .find(|k| *k == kind)
            .unwrap_or(UNKNOWN);
        Self {
            kind,
            message: message.into(),
            retryable: None,
            stack: String::new(),
            frames: Vec::new(),
        }
    }

    /// An [`INVALID`] error: misuse or bad input.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(INVALID, message).retryable(false)
    }

    /// Sets whether retrying could help.
    #[must_use]
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = Some(retryable);
        self
    }

    /// The kind, one of [`KINDS`].
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Turns the error into the Lua value scripts receive, with the Lua stack
    /// where it was made.
    pub fn into_lua_value(mut self, lua: &Lua) -> mlua::Result<Value> {
        if self.stack.is_empty() {
            self.stack = lua
                .traceback(None, 1)
                .map(|s| s.to_string_lossy())
                .unwrap_or_default();
            self.frames = (1..=MAX_FRAMES)
                .map_while(|level| {
                    lua.inspect_stack(level, |frame| Frame {
                        source: frame
                            .source()
                            .short_src
                            .map_or_else(|| "?".to_owned(), |s| s.into_owned()),
                        line: frame
                            .current_line()
                            .and_then(|l| i64::try_from(l).ok())
                            .unwrap_or(0),
                        name: frame.names().name.map(|n| n.into_owned()),
                    })
                })
                .collect();
        }
        lua.create_userdata(self).map(Value::UserData)
    }
}

impl From<&exec_core::Error> for ScriptError {
    fn from(error: &exec_core::Error) -> Self {
        use exec_core::ErrorKind;
        let (kind, retryable) = match error.kind() {
            ErrorKind::Invalid => (INVALID, Some(false)),
            ErrorKind::PermissionDenied => (PERMISSION_DENIED, Some(false)),
            ErrorKind::NotFound => (NOT_FOUND, Some(false)),
            ErrorKind::Unavailable => (UNAVAILABLE, Some(true)),
            ErrorKind::Timeout => (TIMEOUT, None),
            _ => (INTERNAL, None),
        };
        // Messages do not repeat their sources: a script sees the whole chain.
        let message = exec_core::report(error);
        Self {
            kind,
            message,
            retryable,
            stack: String::new(),
            frames: Vec::new(),
        }
    }
}

impl From<exec_core::Error> for ScriptError {
    fn from(error: exec_core::Error) -> Self {
        Self::from(&error)
    }
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScriptError {}

impl UserData for ScriptError {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("kind", |_, this, ()| Ok(this.kind));
        methods.add_method("message", |_, this, ()| Ok(this.message.clone()));
        methods.add_method("retryable", |_, this, ()| Ok(this.retryable));
        methods.add_method("stack", |_, this, ()| Ok(this.stack.clone()));
        methods.add_function("details", |_, this: AnyUserData| {
            this.named_user_value::<Value>("details")
        });
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| Ok(this.message.clone()));
    }
}

/// What a script-facing call produced: a value, or an error returned to the
/// script as `nil, err` (never raised).
pub(crate) type Outcome<T> = Result<T, ScriptError>;

/// Converts an [`Outcome`] into Lua's `value` / `nil, err` convention.
pub(crate) fn returns<T: IntoLua>(lua: &Lua, outcome: Outcome<T>) -> mlua::Result<MultiValue> {
    match outcome {
        Ok(value) => Ok(MultiValue::from_iter([value.into_lua(lua)?])),
        Err(error) => Ok(MultiValue::from_iter([
            Value::Nil,
            error.into_lua_value(lua)?,
        ])),
    }
}

/// Registers the global `errors` table on `lua`: the kind constants,
/// `errors.new`, `errors.wrap`, `errors.is` and `errors.call_stack`.
///
/// # Errors
///
/// Only if Lua cannot allocate.
pub fn register_errors(lua: &Lua) -> mlua::Result<()> {
    let errors = lua.create_table()?;
    for kind in KINDS {
        errors.set(kind, kind)?;
    }
    errors.set("new", lua.create_function(new_error)?)?;
    errors.set("wrap", lua.create_function(wrap_error)?)?;
    errors.set("call_stack", lua.create_function(call_stack)?)?;
    errors.set(
        "is",
        lua.create_function(|_, (err, kind): (Value, Value)| {
            let kind = match kind {
                Value::String(s) => s.to_string_lossy(),
                _ => return Ok(false),
            };
            Ok(match err {
                Value::UserData(ud) => ud
                    .borrow::<ScriptError>()
                    .is_ok_and(|e| e.kind == kind.as_str()),
                _ => false,
            })
        })?,
    )?;
    lua.globals().set("errors", errors)
}

/// `errors.new("message")` or `errors.new({message=, kind=, retryable=, details=})`.
fn new_error(lua: &Lua, spec: Value) -> mlua::Result<Value> {
    match spec {
        Value::String(message) => {
            ScriptError::new(UNKNOWN, message.to_string_lossy()).into_lua_value(lua)
        }
        Value::Table(table) => {
            let message = match table.get::<Value>("message")? {
                Value::String(s) => s.to_string_lossy(),
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "errors.new: the table needs a string field \"message\", got {}",
                        lua_type(&other)
                    )));
                }
            };
            let kind = match table.get::<Value>("kind")? {
                Value::Nil => UNKNOWN.to_owned(),
                Value::String(s) if KINDS.contains(&s.to_string_lossy().as_str()) => {
                    s.to_string_lossy()
                }
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "errors.new: unknown kind {}; use one of the errors.* constants ({})",
                        describe(&other),
                        KINDS.join(", ")
                    )));
                }
            };
            let mut error = ScriptError::new(&kind, message);
            error.retryable = match table.get::<Value>("retryable")? {
                Value::Nil => None,
                Value::Boolean(b) => Some(b),
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "errors.new: \"retryable\" must be a boolean, got {}",
                        lua_type(&other)
                    )));
                }
            };
            let details = match table.get::<Value>("details")? {
                Value::Nil => None,
                Value::Table(details) => Some(details),
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "errors.new: \"details\" must be a table, got {}",
                        lua_type(&other)
                    )));
                }
            };
            with_details(lua, error, details)
        }
        other => Err(mlua::Error::runtime(format!(
            "errors.new expects a message string or a table with a \"message\" field, got {}",
            lua_type(&other)
        ))),
    }
}

/// `errors.wrap(err, "context")`: same kind, retryable and details; the message
/// becomes `"context: <message>"`. `errors.wrap(nil, …)` is `nil`.
fn wrap_error(lua: &Lua, (err, context): (Value, Value)) -> mlua::Result<Value> {
    let context = match context {
        Value::String(s) => s.to_string_lossy(),
        Value::Nil => String::new(),
        other => {
            return Err(mlua::Error::runtime(format!(
                "errors.wrap: the message must be a string, got {}",
                lua_type(&other)
            )));
        }
    };
    let prefix = |message: &str| {
        if context.is_empty() {
            message.to_owned()
        } else {
            format!("{context}: {message}")
        }
    };
    match err {
        Value::Nil => Ok(Value::Nil),
        Value::UserData(ud) if ud.is::<ScriptError>() => {
            let inner = ud.borrow::<ScriptError>()?;
            let mut error = ScriptError::new(inner.kind, prefix(&inner.message));
            error.retryable = inner.retryable;
            drop(inner);
            let details = ud.named_user_value::<Option<Table>>("details")?;
            with_details(lua, error, details)
        }
        other => {
            let text = lua
                .globals()
                .get::<mlua::Function>("tostring")?
                .call::<String>(other)?;
            ScriptError::new(UNKNOWN, prefix(&text)).into_lua_value(lua)
        }
    }
}

/// `errors.call_stack(err)`: `{thread = "main", frames = {{source, line, name}, …}}`
/// for an error value (the stack where it was made), `nil` for anything else.
fn call_stack(lua: &Lua, err: Value) -> mlua::Result<Value> {
    let Value::UserData(ud) = err else {
        return Ok(Value::Nil);
    };
    let Ok(error) = ud.borrow::<ScriptError>() else {
        return Ok(Value::Nil);
    };
    let frames = lua.create_table()?;
    for frame in &error.frames {
        let entry = lua.create_table()?;
        entry.set("source", frame.source.as_str())?;
        entry.set("line", frame.line)?;
        entry.set("name", frame.name.as_deref())?;
        frames.raw_push(entry)?;
    }
    let stack = lua.create_table()?;
    stack.set("thread", "main")?;
    stack.set("frames", frames)?;
    Ok(Value::Table(stack))
}

fn with_details(lua: &Lua, error: ScriptError, details: Option<Table>) -> mlua::Result<Value> {
    let value = error.into_lua_value(lua)?;
    if let (Value::UserData(ud), Some(details)) = (&value, details) {
        ud.set_named_user_value("details", details)?;
    }
    Ok(value)
}

/// The message of an mlua error, without mlua's wrapping (callback errors
/// carry the cause's message).
pub(crate) fn error_text(error: &mlua::Error) -> String {
    match error {
        mlua::Error::RuntimeError(message) => message.clone(),
        mlua::Error::CallbackError { cause, .. } => error_text(cause),
        other => other.to_string(),
    }
}

/// The text of a value a script raised: a string as it is, an mlua error by
/// its message, anything else through `tostring` (so `errors.new` values
/// show their message).
pub(crate) fn value_text(lua: &Lua, value: &Value) -> String {
    match value {
        Value::String(s) => s.to_string_lossy(),
        Value::Error(e) => error_text(e),
        Value::Nil => "nil".to_owned(),
        other => lua
            .globals()
            .get::<mlua::Function>("tostring")
            .and_then(|tostring| tostring.call::<String>(other.clone()))
            .unwrap_or_else(|_| format!("(error object is a {} value)", lua_type(other))),
    }
}

/// The name Lua's `type()` gives a value ("number" for integers and floats).
pub(crate) fn lua_type(value: &Value) -> &'static str {
    match value {
        Value::Integer(_) | Value::Number(_) => "number",
        Value::Error(_) => "error",
        other => other.type_name(),
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{:?}", s.to_string_lossy()),
        other => lua_type(other).to_owned(),
    }
}
