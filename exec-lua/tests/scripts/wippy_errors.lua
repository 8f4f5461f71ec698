-- en/lua/core/errors.md: the examples, unchanged but for the asserts (and a
-- stand-in `db` the doc assumes).
local db = {
    query = function(_, sql)
        return nil, errors.new({ message = "connection refused", kind = errors.UNAVAILABLE, retryable = true })
    end,
}

-- Simple message (kind defaults to UNKNOWN)
local err = errors.new("something went wrong")
assert(err:kind() == errors.UNKNOWN and errors.UNKNOWN == "")
assert(err:message() == "something went wrong")
assert(tostring(err) == "something went wrong")
assert(err:retryable() == nil)
assert(err:details() == nil)

-- With kind, retryable, and details
local err = errors.new({
    message = "user not found",
    kind = errors.NOT_FOUND,
    retryable = false,
    details = {user_id = 123}
})
assert(err:kind() == errors.NOT_FOUND)
assert(err:retryable() == false)
assert(err:details().user_id == 123)
assert(type(err:stack()) == "string")

-- Wrapping Errors
local function load_users()
    local data, err = db:query("SELECT * FROM users")
    if err then
        return nil, errors.wrap(err, "failed to load users")
    end
    return data
end
local users, err = load_users()
assert(users == nil)
-- As in Wippy's runtime: the message stays the wrapped error's, the context
-- goes on the stack.
assert(err:message() == "connection refused", err:message())
assert(err:stack():find("failed to load users", 1, true), err:stack())
assert(err:kind() == errors.UNAVAILABLE)       -- kind, retry metadata kept
assert(err:retryable() == true)
assert(not pcall(errors.wrap, nil, "nothing"), "nothing to wrap is an argument error")
assert(errors.wrap("plain", "ctx"):message() == "plain")

-- Checking Kind
local err = errors.new({ message = "bad", kind = errors.INVALID })
local handled = false
if errors.is(err, errors.INVALID) then
    -- handle invalid input
    handled = true
end
assert(handled)
assert(not errors.is(err, errors.NOT_FOUND))
assert(not errors.is("a string", errors.INVALID))

-- Or compare directly
local err = errors.new({ message = "gone", kind = errors.NOT_FOUND })
if err:kind() == errors.NOT_FOUND then
    -- handle missing resource
    handled = "not found"
end
assert(handled == "not found")

-- Error Kinds: every constant is there and distinct.
local seen = {}
for _, name in ipairs({ "NOT_FOUND", "ALREADY_EXISTS", "INVALID", "PERMISSION_DENIED", "UNAVAILABLE",
        "INTERNAL", "CANCELED", "CONFLICT", "TIMEOUT", "RATE_LIMITED", "UNKNOWN" }) do
    assert(type(errors[name]) == "string", name)
    assert(not seen[errors[name]], name)
    seen[errors[name]] = true
end

-- Call Stack (the doc's loop, its prints gathered into lines)
local function failing()
    return errors.new({ message = "deep", kind = errors.INTERNAL })
end
local err = failing()
local lines = {}
local stack = errors.call_stack(err)
if stack then
    lines[#lines + 1] = "Thread: " .. stack.thread
    for _, frame in ipairs(stack.frames) do
        lines[#lines + 1] = frame.source .. ":" .. frame.line .. " " .. tostring(frame.name)
    end
end
local text = table.concat(lines, "\n")
assert(text:find("wippy_errors.lua:%d+ failing"), text)
assert(errors.call_stack("not an error") == nil)

-- Retryable Errors
local err = errors.new({ message = "busy", kind = errors.UNAVAILABLE, retryable = true })
local retried = false
if err:retryable() then
    -- safe to retry
    retried = true
end
assert(retried)

-- Error Details
local err = errors.new({
    message = "validation failed",
    kind = errors.INVALID,
    details = {
        errors = {
            {field = "email", message = "invalid format"},
            {field = "age", message = "must be positive"}
        }
    }
})

local details = err:details()
local fields = {}
for _, e in ipairs(details.errors) do
    fields[#fields + 1] = e.field .. ": " .. e.message
end
assert(table.concat(fields, "; ") == "email: invalid format; age: must be positive")
assert(errors.wrap(err, "signup"):details() == details)

-- Bad arguments to errors.new raise, naming what is wrong.
local ok, msg = pcall(errors.new, {})
assert(not ok and tostring(msg):find("message field is required", 1, true), tostring(msg))
assert(errors.new({ message = "x", kind = "NOPE" }):kind() == "NOPE", "any kind string is kept")
local ok, msg = pcall(errors.new, 42)
assert(not ok and tostring(msg):find("number", 1, true), tostring(msg))

-- Errors from exec are the same values.
local exec = require("exec")
local _, err = exec.get(42)
assert(errors.is(err, errors.INVALID) and err:retryable() == false)
