-- The exec options reach the child, and nothing else does.
local exec = require("exec")
local shell = assert(exec.get("app:shell"))

local function run(cmd, opts)
    local proc = assert(shell:exec(cmd, opts))
    local out = proc:stdout_stream()
    assert(proc:start())
    local text = out:read_all()
    return text, proc:wait()
end

-- A clean environment: the entry's default_env, then the call's env.
local env = run("env", { env = { GREETING = "hello", COUNT = 3, LANG = "C" } })
local vars = {}
for line in env:gmatch("[^\n]+") do
    local name, value = line:match("^([^=]+)=(.*)$")
    vars[name] = value
end
assert(vars.GREETING == "hello", env)
assert(vars.COUNT == "3", env)
assert(vars.LANG == "C", "the call's env wins: " .. env)
assert(vars.PATH == "/usr/local/bin:/usr/bin:/bin", env)
-- A backend that runs commands elsewhere may set HOME itself (Incus gives
-- root HOME=/root), as the conformance kit allows; on the host nothing does.
assert(vars.HOME == nil or not HOST_PID, "nothing of the host leaks in: " .. env)

-- work_dir
assert(run("pwd", { work_dir = "/" }) == "/\n")

-- A missing work dir is NOT_FOUND at start, naming it (docker run creates it).
local proc = assert(shell:exec("pwd", { work_dir = "/no/such/dir" }))
if TEST_BACKEND == "docker" then
    assert(run("pwd", { work_dir = "/no/such/dir" }) == "/no/such/dir\n")
    proc:close()
else
    local ok, err = proc:start()
    assert(ok == nil and err:kind() == errors.NOT_FOUND and err:message():find("/no/such/dir", 1, true), tostring(err))
end

-- timeout: the process is killed and wait() says TIMEOUT.
local started = os.time()
local slow = assert(shell:exec("sleep 30", { timeout = 0.3 }))
assert(slow:start())
local code, err = slow:wait()
assert(code == nil and err:kind() == errors.TIMEOUT, tostring(err))
assert(err:message():find("sleep 30", 1, true), err:message())
assert(err:retryable() == false, "an exec error says whether to retry")
assert(os.time() - started < 10, "the timeout did not stop it")
-- A fast command under a timeout is untouched.
assert(select(2, run("true", { timeout = 5 })) == 0)

-- The whitelist: PERMISSION_DENIED (Wippy says INVALID), words compared.
local restricted = assert(exec.get("app:restricted"))
local allowed = assert(restricted:exec("echo   'hello'"))
local out = allowed:stdout_stream()
assert(allowed:start())
assert(out:read_all() == "hello\n")
local denied, err = restricted:exec("echo hello world")
assert(denied == nil and err:kind() == errors.PERMISSION_DENIED, tostring(err))
assert(err:message():find('"echo hello world"', 1, true), err:message())
assert(err:message():find("app:restricted", 1, true), err:message())
assert(err:retryable() == false)
local _, err = restricted:exec("/bin/sh -c 'echo hello'")
assert(err:kind() == errors.PERMISSION_DENIED)

-- Keys Wippy does not know (a script written for a newer or older Wippy) are
-- ignored, each with an audit warning; a known key of the wrong type is
-- still INVALID.
local text, code = run("echo ignored", { workdir = "/nowhere", future_option = { a = 1 }, [1] = "x" })
assert(text == "ignored\n" and code == 0, text)
local _, wrong = shell:exec("true", { work_dir = 42, future_option = true })
assert(wrong:kind() == errors.INVALID and wrong:message():find("work_dir", 1, true), tostring(wrong))
-- The same inside a mount: an unknown field is ignored, the mount is judged
-- as it is (no backend here takes this one).
local _, mount_err = shell:exec("true", { mounts = { { source = "/tmp", target = "/d", readonly = true } } })
assert(mount_err:message():find("mount", 1, true) and not mount_err:message():find("readonly", 1, true), tostring(mount_err))
