-- en/lua/dynamic/exec.md, "Command Parsing": quotes group words, nothing is
-- expanded, a shell runs only when asked for, an unclosed quote is INVALID.
local exec = require("exec")
local executor = assert(exec.get("app:exec"))

local function output_of(proc)
    local out = proc:stdout_stream()
    assert(proc:start())
    local text = out:read_all()
    return text, proc:wait()
end

-- One argument containing a space, passed literally
local proc = executor:exec("grep 'hello world' notes.txt")
local text, code = output_of(proc)
assert(text == "hello world, from notes.txt\n", text)
assert(code == 0)

-- $HOME is passed as the five characters $HOME, not expanded
local proc = executor:exec("echo $HOME")
assert(output_of(proc) == "$HOME\n")

-- To use shell features, invoke a shell explicitly
local proc = executor:exec("/bin/sh -c 'ls *.log | wc -l'")
local count = output_of(proc)
assert(tonumber(count) == 2, count)

local unclosed, err = executor:exec("echo 'unclosed")
assert(unclosed == nil and err:kind() == errors.INVALID, tostring(err))
assert(err:message():find("echo 'unclosed", 1, true), err:message())
assert(err:retryable() == false)

local empty, err = executor:exec("   ")
assert(empty == nil and err:kind() == errors.INVALID, tostring(err))
