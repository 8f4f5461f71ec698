-- en/lua/dynamic/exec.md, "write_stdin", unchanged, then the same with
-- close_stdin (which Wippy lacks) for a command that reads to the end.
local exec = require("exec")
local executor = assert(exec.get("app:exec"))

local proc = executor:exec("head -n 3")
local stdout = proc:stdout_stream()

proc:start()

proc:write_stdin("banana\napple\ncherry\n")

local lines = stdout:read()

proc:wait()
stdout:close()

-- read() returns what has arrived: some lines, at least the first.
assert(lines and ("banana\napple\ncherry\n"):sub(1, #lines) == lines, lines)

-- sort needs the end of its input: close_stdin gives it.
local sort = executor:exec("sort")
local sorted = sort:stdout_stream()
assert(sort:start())
assert(sort:write_stdin("banana\napple\ncherry\n"))
assert(sort:write_stdin("") == true)            -- an empty write is only that
assert(sort:close_stdin() == true)
assert(sorted:read_all() == "apple\nbanana\ncherry\n")
assert(sort:wait() == 0)

-- cat: many writes, then EOF; all of it comes back.
local cat = executor:exec("cat")
local echoed = cat:stdout_stream()
assert(cat:start())
local sent = {}
for i = 1, 1000 do
    local line = ("line %04d\n"):format(i)
    sent[#sent + 1] = line
    assert(cat:write_stdin(line))
end
assert(cat:close_stdin())
assert(echoed:read_all() == table.concat(sent))
assert(cat:wait() == 0)

-- Writing after close_stdin is INVALID; closing again is fine.
local _, err = cat:write_stdin("more")
assert(err and err:kind() == errors.INVALID, tostring(err))
assert(cat:close_stdin() == true)

-- close_stdin before start: the child starts with its input at end.
local wc = executor:exec("wc -c")
local count = wc:stdout_stream()
assert(wc:close_stdin())
assert(wc:start())
assert(tonumber(count:read_all()) == 0)
assert(wc:wait() == 0)
