-- A command as a list of words (an extension of Wippy's API): taken as they
-- are, compared with the whitelist like the line that splits into them.
local exec = require("exec")
local shell = assert(exec.get("app:shell"))
local restricted = assert(exec.get("app:restricted"))

local function run(executor, cmd)
    local proc = assert(executor:exec(cmd))
    local out = proc:stdout_stream()
    assert(proc:start())
    local text = out:read_all()
    return text, proc:wait()
end

-- No splitting, no quotes, no expansion.
assert(run(shell, { "printf", "%s|", "a b", "$HOME", "*", "'q'" }) == "a b|$HOME|*|'q'|")

-- The same whitelist entry either way; other words are refused.
assert(run(restricted, { "echo", "hello" }) == "hello\n")
assert(run(restricted, "echo   'hello'") == "hello\n")
for _, denied in ipairs({ { "echo", "hello", "x" }, { "echo hello" }, { "echo", "'hello'" } }) do
    local proc, err = restricted:exec(denied)
    assert(proc == nil and err:kind() == errors.PERMISSION_DENIED, tostring(err))
end

-- Bad lists are INVALID error values naming what is wrong.
local cases = {
    { {}, "empty" },
    { { "echo", 5 }, "word 2 of the command must be a string, got number" },
    { { "echo", name = "x" }, "must be a list of strings" },
    { { "echo", "a\0b" }, "NUL" },
    { { [1] = "echo", [3] = "x" }, "must be a list of strings" },
}
for _, case in ipairs(cases) do
    local proc, err = shell:exec(case[1])
    assert(proc == nil, "a bad list made a process")
    assert(err:kind() == errors.INVALID, tostring(err))
    assert(err:message():find(case[2], 1, true), err:message())
end
local proc, err = shell:exec(true)
assert(proc == nil and err:kind() == errors.INVALID)
assert(err:message():find("a string or a list of words", 1, true), err:message())
