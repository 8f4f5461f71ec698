-- en/lua/dynamic/exec.md, "Loading" and "Acquiring an Executor", unchanged
-- but for the asserts.
local exec = require("exec")

local executor, err = exec.get("app:exec")
if err then
    return nil, err
end

-- Use executor
local proc = executor:exec("ls -la")
-- ...

-- Release when done
executor:release()

assert(proc ~= nil, "exec returned a process")
assert(tostring(proc):find("ls %-la"), tostring(proc))

-- An unknown id: NOT_FOUND (Wippy says INVALID), naming the id and the nearest one.
local missing, not_found = exec.get("app:exe")
assert(missing == nil)
assert(not_found:kind() == errors.NOT_FOUND, not_found:kind())
assert(not_found:message():find('"app:exe"', 1, true), not_found:message())
assert(not_found:message():find('did you mean "app:exec"', 1, true), not_found:message())
assert(errors.is(not_found, errors.NOT_FOUND))

-- An empty id: INVALID, as Wippy says ("resource id is required").
local none, empty = exec.get("")
assert(none == nil)
assert(empty:kind() == errors.INVALID, empty:kind())
assert(empty:message():find("resource id is required", 1, true), empty:message())
assert(empty:retryable() == false)
