-- stream:scanner(split): lines (the default), words, bytes, runes, with
-- scan(), text() and err(); a token over the limit is an error value.
local exec = require("exec")
local shell = assert(exec.get("app:shell"))

local function tokens(command, split)
    local proc = assert(shell:exec(command))
    local out = proc:stdout_stream()
    local scanner = assert(out:scanner(split))
    assert(scanner:text() == "", "text() before scan()")
    assert(proc:start())
    local found = {}
    -- The loop of Wippy's stream spec (runtime/lua/modules/stream/spec.md,
    -- "Scanner example"), over a process's output instead of a file.
    while true do
        local has_token, err = scanner:scan()
        if err then error(err) end
        if not has_token then break end  -- EOF

        local line = scanner:text()
        found[#found + 1] = line
    end
    assert(scanner:err() == nil)
    assert(scanner:text() == "", "text() after the end")
    assert(scanner:scan() == false, "scan() after the end")
    assert(proc:wait() == 0)
    return found
end

local function same(got, want)
    assert(#got == #want, #got .. " tokens: " .. table.concat(got, "|"))
    for i = 1, #want do assert(got[i] == want[i], i .. ": " .. got[i]) end
end

same(tokens([[printf 'one\r\ntwo\n\nlast']]), { "one", "two", "", "last" })
same(tokens([[printf 'one\ntwo\n']], "lines"), { "one", "two" })
same(tokens([[printf '  hello \t world\n  foo ']], "words"), { "hello", "world", "foo" })
same(tokens([[printf 'ab']], "bytes"), { "a", "b" })
same(tokens([[printf 'a\303\251\342\202\254\377']], "runes"), { "a", "é", "€", "\u{FFFD}" })
same(tokens("true"), {})

-- Many lines, arriving in many pieces.
local lines = tokens("seq 1 100000")
assert(#lines == 100000 and lines[1] == "1" and lines[100000] == "100000")

-- A line longer than the limit (1 MiB) ends the scan as Go's bufio.Scanner
-- ends it (and so Wippy's): scan() is false, as at the end, and err() says
-- why, the same on every later scan(); what came before was scanned whole.
local proc = assert(shell:exec("sh -c 'echo first; head -c 1100000 /dev/zero | tr \"\\0\" x; echo; echo after'"))
local scanner = assert(proc:stdout_stream():scanner())
assert(proc:start())
assert(scanner:scan() == true and scanner:text() == "first")
local found, err = scanner:scan()
assert(found == false and err == nil, tostring(err))
local reason = scanner:err()
assert(reason and reason:find("token too long", 1, true), tostring(reason))
assert(reason:find("line longer than 1048576 bytes", 1, true), reason)
assert(scanner:text() == "")
local again, again_err = scanner:scan()
assert(again == false and again_err == nil and scanner:err() == reason)
assert(proc:close())

-- A line of exactly the limit scans.
proc = assert(shell:exec("sh -c 'head -c 1048576 /dev/zero | tr \"\\0\" y; echo'"))
scanner = assert(proc:stdout_stream():scanner("lines"))
assert(proc:start())
assert(scanner:scan() == true and #scanner:text() == 1048576)
assert(scanner:scan() == false)
assert(proc:wait() == 0)

-- Two scanners, one per stream, in spawned coroutines.
proc = assert(shell:exec("sh -c 'for i in 1 2 3; do echo out$i; echo err$i >&2; done'"))
local results = channel.new(2)
assert(proc:start())
for _, name in ipairs({ "stdout", "stderr" }) do
    local s = assert(proc[name .. "_stream"](proc):scanner())
    coroutine.spawn(function()
        local n = 0
        while s:scan() do n = n + 1 end
        results:send(name .. "=" .. n)
    end)
end
local a, b = results:receive(), results:receive()
assert((a == "stdout=3" and b == "stderr=3") or (a == "stderr=3" and b == "stdout=3"), a .. " " .. b)
assert(proc:wait() == 0)
