-- The pty option and proc:resize (Wippy's API): the command runs in a
-- terminal of the size asked for, with its TERM; its output (stdout and
-- stderr alike) comes on stdout; a resize reaches it as SIGWINCH; ^C and ^D
-- typed into it act as a terminal makes them; a pipe process has no
-- terminal to resize.
local exec = require("exec")
local shell = assert(exec.get("app:shell"))

-- Reads `stream` until what came contains `needle`; all of it.
local function read_until(stream, needle)
    local seen = ""
    while not seen:find(needle, 1, true) do
        local chunk, err = stream:read()
        assert(not err, tostring(err))
        assert(chunk, "the terminal ended before " .. needle .. " came; it said " .. seen)
        seen = seen .. chunk
    end
    return seen
end

-- Size, TERM, and one output stream. (A moment first: Docker before 23.0
-- sizes the terminal only once the container runs.)
local proc = assert(shell:exec("sh -c 'sleep 0.5; stty size; echo term=$TERM; echo oops >&2'",
    { pty = { width = 100, height = 30, term = "vt100" } }))
local out, err_stream = proc:stdout_stream(), proc:stderr_stream()
assert(proc:start())
local all = out:read_all()
assert(all:find("30 100", 1, true), all)
assert(all:find("term=vt100", 1, true), all)
assert(all:find("oops", 1, true), all)
assert(all:find("\r\n", 1, true), "a terminal ends lines with CR LF: " .. all)
assert(err_stream:read_all() == "", "stderr of a terminal is empty")
assert(proc:wait() == 0)

-- `pty = true`: 80 by 24 and the default TERM.
proc = assert(shell:exec("sh -c 'sleep 0.5; stty size; echo term=$TERM'", { pty = true }))
out = proc:stdout_stream()
assert(proc:start())
all = out:read_all()
assert(all:find("24 80", 1, true) and all:find("term=xterm-256color", 1, true), all)
assert(proc:wait() == 0)

-- A resize reaches the command.
proc = assert(shell:exec({ "sh", "-c",
    "trap 'echo winch; stty size' WINCH; echo ready; while :; do sleep 0.1; done" },
    { pty = { width = 80, height = 24 } }))
out = proc:stdout_stream()
assert(proc:start())
read_until(out, "ready")
assert(proc:resize(50, 20) == true)
all = read_until(out, "20 50")
assert(all:find("winch", 1, true), all)
local none, bad = proc:resize(0, 20)
assert(none == nil and bad:kind() == errors.INVALID, tostring(bad))
none, bad = proc:resize("wide", 20)
assert(none == nil and bad:kind() == errors.INVALID, tostring(bad))
assert(proc:close(true))

-- ^C interrupts (130), ^D ends the input.
proc = assert(shell:exec("sh -c 'echo ready; exec sleep 30'", { pty = true }))
out = proc:stdout_stream()
assert(proc:start())
read_until(out, "ready")
time.sleep("200ms")
assert(proc:write_stdin("\3"))
assert(proc:wait() == 130)

proc = assert(shell:exec("cat", { pty = true }))
out = proc:stdout_stream()
assert(proc:start())
assert(proc:write_stdin("hello\n"))
read_until(out, "hello")
assert(proc:write_stdin("\4"))
assert(proc:wait() == 0)

-- A pipe process has no terminal: resize is an error value.
proc = assert(shell:exec("sleep 30"))
assert(proc:start())
none, bad = proc:resize(100, 30)
assert(none == nil and bad:kind() == errors.INVALID, tostring(bad))
assert(bad:message():find("no terminal", 1, true), bad:message())
assert(proc:close(true))
