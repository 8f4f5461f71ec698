-- Executors from a config file:
--
--   cargo run -p exec-lua -- --config examples/executors.yaml examples/config.lua
--
-- app:git may run only `git status` and `git log --oneline -n 10`;
-- app:legacy decodes its commands' output from cp949 (Korean) into UTF-8.
local exec = require("exec")

-- A whitelist compares words, so quoting and spacing do not matter...
local git = assert(exec.get("app:git"))
local status, err = git:exec("git   'status'")
print("git status:", status and "allowed" or err:message())

-- ...and anything else is refused before it runs.
local push, denial = git:exec("git push --force")
assert(push == nil and denial:kind() == errors.PERMISSION_DENIED)
print("git push:", denial:kind(), "-", denial:message())
git:release()

-- 한글 ("Hangul") in cp949 is the bytes C7 D1 B1 DB; the script reads UTF-8.
local legacy = assert(exec.get("app:legacy"))
local proc = assert(legacy:exec("printf '\\307\\321\\261\\333\\n'"))
local out = proc:stdout_stream()
assert(proc:start())
local text = out:read_all()
assert(proc:wait() == 0)
assert(text == "한글\n", "decoded: " .. text)
io.write("app:legacy printed: ", text)
legacy:release()
