//! The global `errors` table and the error values every `exec` call returns,
//! as Wippy's runtime has them (its go-lua error type and `errors` library):
//! `errors.new`, `errors.wrap`, `errors.is`, `errors.call_stack`, the kind
//! constants (`errors.INVALID == "Invalid"`, …, `errors.UNKNOWN == ""`), and
//! an error value's `err:kind()`, `message()`, `retryable()`, `details()`,
//! `stack()`, `tostring(err)` and `..` (an error concatenates as its message).
//!
//! `errors.wrap(err, context)` keeps `err`'s message, kind, retryable and
//! details; the context goes on the stack (`err:stack()` starts with it) and
//! becomes part of the message only when the wrapped error is wrapped again,
//! exactly as in Wippy.

use mlua::{
    AnyUserData, IntoLua, Lua, MetaMethod, MultiValue, Table, UserData, UserDataMethods, Value,
};

/// The error kinds of Wippy's error API, as the strings `err:kind()` returns;
/// the `errors` table holds each under its constant's name (`errors.NOT_FOUND`
/// is `"NotFound"`).
pub const KINDS: [(&str, &str); 11] = [
    ("NOT_FOUND", NOT_FOUND),
    ("ALREADY_EXISTS", ALREADY_EXISTS),
    ("INVALID", INVALID),
    ("PERMISSION_DENIED", PERMISSION_DENIED),
    ("UNAVAILABLE", UNAVAILABLE),
    ("INTERNAL", INTERNAL),
    ("CANCELED", CANCELED),
    ("CONFLICT", CONFLICT),
    ("TIMEOUT", TIMEOUT),
    ("RATE_LIMITED", RATE_LIMITED),
    ("UNKNOWN", UNKNOWN),
];

/// A resource does not exist (an executor id, a program, a work dir).
pub const NOT_FOUND: &str = "NotFound";
/// A resource already exists.
pub const ALREADY_EXISTS: &str = "AlreadyExists";
/// Bad input or a call out of order (wait before start, read after close, …).
pub const INVALID: &str = "Invalid";
/// Refused: a command not in the whitelist, or a policy's refusal.
pub const PERMISSION_DENIED: &str = "PermissionDenied";
/// A service (a daemon) cannot be reached now.
pub const UNAVAILABLE: &str = "Unavailable";
/// Something failed inside: an I/O error, a peer that spoke nonsense.
pub const INTERNAL: &str = "Internal";
/// The operation was canceled.
pub const CANCELED: &str = "Canceled";
/// A resource's state conflicts with the request.
pub const CONFLICT: &str = "Conflict";
/// The operation (or the process) ran out of time.
pub const TIMEOUT: &str = "Timeout";
/// Too many requests.
pub const RATE_LIMITED: &str = "RateLimited";
/// Unspecified: the empty string, the kind of `errors.new("message")`.
pub const UNKNOWN: &str = "";

/// An error as scripts see it: the userdata behind `err:kind()` and friends.
/// The `details` table, when there is one, is kept as the userdata's user value
/// so the Lua garbage collector sees it.
#[derive(Debug, Clone)]
pub struct ScriptError {
    kind: String,
    message: String,
    retryable: Option<bool>,
    /// Where it was made (boxed: errors travel in every `Result`).
    trace: Box<Trace>,
}

/// Where an error was made, and what `errors.wrap` added.
#[derive(Debug, Clone, Default)]
struct Trace {
    /// What `errors.wrap` added: shown by `stack()` and by [`Display`]
    /// (Wippy's `Error()`), not by `message()`.
    context: Option<String>,
    /// `stack()`'s text of the errors this one wraps.
    wrapped_stack: String,
    frames: Vec<Frame>,
    /// The coroutine the error was made in, as `call_stack().thread`.
    thread: String,
}

/// One frame of the Lua stack where an error was made, for `errors.call_stack`.
#[derive(Debug, Clone)]
struct Frame {
    level: usize,
    source: String,
    line: i64,
    name: String,
    what: &'static str,
}

/// How many frames an error keeps.
const MAX_FRAMES: usize = 32;

impl ScriptError {
    /// An error of `kind` (one of [`KINDS`]' values, or any other string, as
    /// `errors.new` takes it) with `message`; whether retrying helps is not
    /// said (`retryable()` is `nil`).
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        Self {
            kind: kind.to_owned(),
            message: message.into(),
            retryable: None,
            trace: Box::default(),
        }
    }

    /// An [`INVALID`] error: misuse or bad input; retrying does not help.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(INVALID, message).retryable(false)
    }

    /// An [`INTERNAL`] error: a failed read, a value Lua could not make;
    /// retrying does not help.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(INTERNAL, message).retryable(false)
    }

    /// Sets whether retrying could help.
    #[must_use]
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = Some(retryable);
        self
    }

    /// The kind: one of [`KINDS`]' values, or what `errors.new` was given.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// `stack()`: the context (if wrapped), the frames where the error was
    /// made, then the stack of the error it wraps.
    fn stack_text(&self) -> String {
        let mut text = String::new();
        if let Some(context) = &self.trace.context {
            text.push_str(context);
            text.push('\n');
        }
        for frame in &self.trace.frames {
            text.push_str(&format!(
                "  {}:{} ({})\n",
                frame.source, frame.line, frame.name
            ));
        }
        text.push_str(&self.trace.wrapped_stack);
        text
    }

    /// Turns the error into the Lua value scripts receive, with the Lua stack
    /// where it was made.
    pub fn into_lua_value(mut self, lua: &Lua) -> mlua::Result<Value> {
        if self.trace.frames.is_empty() {
            self.trace.frames = (1..=MAX_FRAMES)
                .map_while(|level| {
                    lua.inspect_stack(level, |frame| {
                        let source = frame.source();
                        Frame {
                            level,
                            source: source
                                .short_src
                                .map_or_else(|| "?".to_owned(), |s| s.into_owned()),
                            line: frame
                                .current_line()
                                .and_then(|l| i64::try_from(l).ok())
                                .unwrap_or(-1),
                            name: frame
                                .names()
                                .name
                                .map(|n| n.into_owned())
                                .unwrap_or_default(),
                            what: source.what,
                        }
                    })
                })
                .collect();
            self.trace.thread = format!("{:p}", Value::Thread(lua.current_thread()).to_pointer());
        }
        lua.create_userdata(self).map(Value::UserData)
    }
}

impl From<&exec_core::Error> for ScriptError {
    fn from(error: &exec_core::Error) -> Self {
        use exec_core::ErrorKind;
        // Every exec error says whether retrying helps, as Wippy's do: only
        // a daemon that cannot be reached now may answer later.
        let (kind, retryable) = match error.kind() {
            ErrorKind::Invalid => (INVALID, false),
            ErrorKind::PermissionDenied => (PERMISSION_DENIED, false),
            ErrorKind::NotFound => (NOT_FOUND, false),
            ErrorKind::Unavailable => (UNAVAILABLE, true),
            ErrorKind::Timeout => (TIMEOUT, false),
            _ => (INTERNAL, false),
        };
        // Messages do not repeat their sources: a script sees the whole chain.
        Self::new(kind, exec_core::report(error)).retryable(retryable)
    }
}

impl From<exec_core::Error> for ScriptError {
    fn from(error: exec_core::Error) -> Self {
        Self::from(&error)
    }
}

impl std::fmt::Display for ScriptError {
    /// The context `errors.wrap` added, then the message (Wippy's `Error()`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.trace.context {
            Some(context) => write!(f, "{context}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ScriptError {}

impl UserData for ScriptError {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("kind", |_, this, ()| Ok(this.kind.clone()));
        methods.add_method("message", |_, this, ()| Ok(this.message.clone()));
        methods.add_method("retryable", |_, this, ()| Ok(this.retryable));
        methods.add_method("stack", |_, this, ()| Ok(this.stack_text()));
        methods.add_function("details", |_, this: AnyUserData| {
            this.named_user_value::<Value>("details")
        });
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| Ok(this.message.clone()));
        // `"context: " .. err`, `err .. "!"`, `e1 .. e2`: an error is its
        // message, anything else what Lua makes of it.
        methods.add_meta_function(MetaMethod::Concat, |lua, (left, right): (Value, Value)| {
            let mut text = concat_text(lua, &left)?;
            text.extend_from_slice(&concat_text(lua, &right)?);
            lua.create_string(text)
        });
    }
}

/// One side of `..` with an error value: an error's message, a string or
/// number as Lua would concatenate it, anything else through `tostring`.
fn concat_text(lua: &Lua, value: &Value) -> mlua::Result<Vec<u8>> {
    if let Value::UserData(ud) = value
        && let Ok(error) = ud.borrow::<ScriptError>()
    {
        return Ok(error.message.clone().into_bytes());
    }
    if matches!(
        value,
        Value::String(_) | Value::Integer(_) | Value::Number(_)
    ) && let Some(text) = lua.coerce_string(value.clone())?
    {
        return Ok(text.as_bytes().to_vec());
    }
    Ok(value.to_string()?.into_bytes())
}

/// What a script-facing call produced: a value, or an error returned to the
/// script as `nil, err` (never raised).
pub(crate) type Outcome<T> = Result<T, ScriptError>;

/// Converts an [`Outcome`] into Lua's `value` / `nil, err` convention.
pub(crate) fn returns<T: IntoLua>(lua: &Lua, outcome: Outcome<T>) -> mlua::Result<MultiValue> {
    failing_with(lua, outcome, Value::Nil)
}

/// [`returns`], with `failed` in place of `nil` before the error (Wippy's
/// streams answer `0, err` for a failed write, `-1, err` for a seek).
pub(crate) fn failing_with<T: IntoLua>(
    lua: &Lua,
    outcome: Outcome<T>,
    failed: Value,
) -> mlua::Result<MultiValue> {
    match outcome {
        Ok(value) => Ok(MultiValue::from_iter([value.into_lua(lua)?])),
        Err(error) => Ok(MultiValue::from_iter([failed, error.into_lua_value(lua)?])),
    }
}

/// An argument error, raised as Lua's own are: "bad argument #2 to 'wrap'
/// (expected string or error object, got nil)".
pub(crate) fn bad_argument(position: usize, function: &str, reason: &str) -> mlua::Error {
    mlua::Error::runtime(format!(
        "bad argument #{position} to '{function}' ({reason})"
    ))
}

/// Registers the global `errors` table on `lua`: the kind constants,
/// `errors.new`, `errors.wrap`, `errors.is` and `errors.call_stack`.
///
/// # Errors
///
/// Only if Lua cannot allocate.
pub fn register_errors(lua: &Lua) -> mlua::Result<()> {
    let errors = lua.create_table()?;
    for (name, kind) in KINDS {
        errors.set(name, kind)?;
    }
    errors.set("new", lua.create_function(new_error)?)?;
    errors.set("wrap", lua.create_function(wrap_error)?)?;
    errors.set("call_stack", lua.create_function(call_stack)?)?;
    errors.set(
        "is",
        lua.create_function(|lua, (err, kind): (Value, Value)| {
            let kind = match &kind {
                Value::String(_) | Value::Integer(_) | Value::Number(_) => lua
                    .coerce_string(kind.clone())?
                    .map(|s| s.to_string_lossy())
                    .unwrap_or_default(),
                other => {
                    return Err(bad_argument(
                        2,
                        "is",
                        &format!("string expected, got {}", lua_type(other)),
                    ));
                }
            };
            Ok(match err {
                Value::UserData(ud) => ud.borrow::<ScriptError>().is_ok_and(|e| e.kind == kind),
                _ => false,
            })
        })?,
    )?;
    lua.globals().set("errors", errors)
}

/// `errors.new("message")` or `errors.new({message=, kind=, retryable=,
/// details=})`. As in Wippy, `kind` may be any string, and a `kind`,
/// `retryable` or `details` of another type is left out.
fn new_error(lua: &Lua, spec: Value) -> mlua::Result<Value> {
    match spec {
        Value::String(message) => {
            ScriptError::new(UNKNOWN, message.to_string_lossy()).into_lua_value(lua)
        }
        Value::Table(table) => {
            let message = match table.raw_get::<Value>("message")? {
                Value::String(s) => s.to_string_lossy(),
                Value::Nil => return Err(bad_argument(1, "new", "message field is required")),
                other => {
                    return Err(bad_argument(
                        1,
                        "new",
                        &format!("message must be a string, got {}", lua_type(&other)),
                    ));
                }
            };
            let kind = match table.raw_get::<Value>("kind")? {
                Value::String(s) => s.to_string_lossy(),
                _ => UNKNOWN.to_owned(),
            };
            let mut error = ScriptError::new(&kind, message);
            if let Value::Boolean(retryable) = table.raw_get::<Value>("retryable")? {
                error.retryable = Some(retryable);
            }
            let details = match table.raw_get::<Value>("details")? {
                Value::Table(details) => Some(details),
                _ => None,
            };
            with_details(lua, error, details)
        }
        other => Err(bad_argument(
            1,
            "new",
            &format!("expected string or table, got {}", lua_type(&other)),
        )),
    }
}

/// `errors.wrap(err, context)`: `err` an error value or a string, `context` a
/// string or an error value (its message). The result keeps `err`'s text
/// (Wippy's `Error()`: an earlier wrap's context included) as its message,
/// and its kind, retryable and details; `context` heads its stack.
fn wrap_error(lua: &Lua, (err, context): (Value, Value)) -> mlua::Result<Value> {
    let context = match &context {
        Value::String(s) => s.to_string_lossy(),
        Value::UserData(ud) if ud.is::<ScriptError>() => {
            ud.borrow::<ScriptError>()?.message.clone()
        }
        other => {
            return Err(bad_argument(
                2,
                "wrap",
                &format!("expected string or error object, got {}", lua_type(other)),
            ));
        }
    };
    match err {
        Value::UserData(ud) if ud.is::<ScriptError>() => {
            let inner = ud.borrow::<ScriptError>()?;
            let mut error = ScriptError::new(&inner.kind, inner.to_string());
            error.retryable = inner.retryable;
            error.trace.context = Some(context);
            error.trace.wrapped_stack = inner.stack_text();
            drop(inner);
            let details = ud.named_user_value::<Option<Table>>("details")?;
            with_details(lua, error, details)
        }
        Value::String(message) => {
            let mut error = ScriptError::new(UNKNOWN, message.to_string_lossy());
            error.trace.context = Some(context);
            error.into_lua_value(lua)
        }
        other => Err(bad_argument(
            1,
            "wrap",
            &format!("expected string or error object, got {}", lua_type(&other)),
        )),
    }
}

/// `errors.call_stack(err)`: `{thread = "0x…", frames = {{level, source,
/// line, name, type}, …}}` for an error value (the stack where it was made),
/// `nil` for anything else.
fn call_stack(lua: &Lua, err: Value) -> mlua::Result<Value> {
    let Value::UserData(ud) = err else {
        return Ok(Value::Nil);
    };
    let Ok(error) = ud.borrow::<ScriptError>() else {
        return Ok(Value::Nil);
    };
    if error.trace.frames.is_empty() {
        return Ok(Value::Nil);
    }
    let frames = lua.create_table()?;
    for frame in &error.trace.frames {
        let entry = lua.create_table()?;
        entry.set("level", frame.level)?;
        entry.set("source", frame.source.as_str())?;
        entry.set("line", frame.line)?;
        entry.set("name", frame.name.as_str())?;
        entry.set("type", frame.what)?;
        frames.raw_push(entry)?;
    }
    let stack = lua.create_table()?;
    stack.set("thread", error.trace.thread.as_str())?;
    stack.set("frames", frames)?;
    Ok(Value::Table(stack))
}

/// The error value, with `details` unless it is empty (empty details are
/// none, as in Wippy).
fn with_details(lua: &Lua, error: ScriptError, details: Option<Table>) -> mlua::Result<Value> {
    let value = error.into_lua_value(lua)?;
    if let (Value::UserData(ud), Some(details)) = (&value, details)
        && details.pairs::<Value, Value>().next().is_some()
    {
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
