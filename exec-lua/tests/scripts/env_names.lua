-- The env option: names are UTF-8 strings, values UTF-8 text; anything else is
-- an INVALID error value that names the key, and nothing runs.
local exec = require("exec")
local shell = assert(exec.get("app:shell"))

local function invalid(what, expected, proc, err)
    assert(proc == nil, what .. ": expected nil, got " .. tostring(proc))
    assert(type(err) == "userdata", what .. ": error is a " .. type(err) .. ": " .. tostring(err))
    assert(err:kind() == errors.INVALID, what .. ": " .. err:kind() .. " " .. err:message())
    assert(err:message() == expected, what .. ": " .. err:message())
end

local not_a_list = ' (env is a table of NAME = "value", not a list)'
invalid("a list", "option env: variable names must be strings, got the number 1" .. not_a_list,
    shell:exec("env", { env = { "A=1" } }))
invalid("[1] =", "option env: variable names must be strings, got the number 1" .. not_a_list,
    shell:exec("env", { env = { [1] = "x" } }))
invalid("[1.5] =", "option env: variable names must be strings, got the number 1.5" .. not_a_list,
    shell:exec("env", { env = { [1.5] = "x" } }))
invalid("[true] =", "option env: variable names must be strings, got the boolean true" .. not_a_list,
    shell:exec("env", { env = { [true] = "y" } }))
invalid("[{}] =", "option env: variable names must be strings, got a table key" .. not_a_list,
    shell:exec("env", { env = { [{}] = "z" } }))
invalid("non-UTF-8 name", 'option env: variable name "A\\xff" must be valid UTF-8',
    shell:exec("env", { env = { ["A\255"] = "1" } }))
invalid("non-UTF-8 value", "option env: the value of A must be valid UTF-8",
    shell:exec("env", { env = { A = "caf\233" } }))
invalid("table value", "option env: the value of A must be a string, got table",
    shell:exec("env", { env = { A = {} } }))

-- Numbers and booleans as values are taken as text, as YAML default_env does.
local proc = assert(shell:exec("env", { env = { COUNT = 3, RATIO = 1.5, DEBUG = true } }))
local out = proc:stdout_stream()
assert(proc:start())
local text = out:read_all()
assert(proc:wait() == 0)
assert(text:find("COUNT=3\n", 1, true), text)
assert(text:find("RATIO=1.5\n", 1, true), text)
assert(text:find("DEBUG=true\n", 1, true), text)
