//! Wippy's `time` module (its runtime spec, `runtime/lua/modules/time/spec.md`):
//! `Time`, `Duration` and `Location` values, Go layouts for `format` and
//! `parse`, Go duration strings, and the timers — `after`, `timer`, `ticker`
//! — whose channels deliver `Time` values. Timers run in paused time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_lua::Registry;
use exec_lua::mlua::Lua;
use std::sync::Arc;
use std::time::Duration;

fn state() -> Lua {
    exec_lua::new_state(Arc::new(Registry::new())).unwrap()
}

/// Runs `script` (no waits) on a fresh state; a Lua error fails the test.
fn run(script: &str) {
    if let Err(e) = state().load(script).set_name("=test").exec() {
        panic!("{e}");
    }
}

/// Runs `script`, which may wait, on a fresh state in paused time; returns
/// how much (paused) time it took.
async fn run_paused(script: &str) -> Duration {
    let lua = state();
    let started = tokio::time::Instant::now();
    let ran = tokio::time::timeout(
        Duration::from_secs(3600),
        lua.load(script).set_name("=test").exec_async(),
    )
    .await
    .expect("the script did not end");
    if let Err(e) = ran {
        panic!("{e}");
    }
    exec_lua::stop_spawned(&lua).unwrap();
    started.elapsed()
}

#[test]
fn now_is_a_time_value_near_the_clock() {
    run(r#"
        local time = require("time")
        local t = time.now()
        assert(type(t) == "userdata")
        assert(math.abs(t:unix() - os.time()) <= 2, t:unix())
        assert(tostring(t):match("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d"), tostring(t))
        assert(t:location():string() == "Local" and tostring(time.localtz) == "Local")
        assert(not t:is_zero())
        assert(time.now():sub(t):nanoseconds() >= 0)
    "#);
}

#[test]
fn date_builds_times_and_normalises_overflow_as_go_does() {
    run(r#"
        local time = require("time")
        local t = time.date(2024, time.DECEMBER, 29, 15, 4, 5, 123456789, time.utc)
        assert(t:unix() == 1735484645 and t:unix_nano() == 1735484645123456789)
        local y, m, d = t:date()
        local h, mi, s = t:clock()
        assert(y == 2024 and m == 12 and d == 29 and h == 15 and mi == 4 and s == 5)
        assert(t:year() == 2024 and t:month() == 12 and t:day() == 29 and t:hour() == 15)
        assert(t:minute() == 4 and t:second() == 5 and t:nanosecond() == 123456789)
        assert(t:weekday() == time.SUNDAY and t:year_day() == 364)
        assert(math.type(t:year()) == "integer" and math.type(t:unix()) == "integer")
        -- Month 13, day 32 and hour 25 carry over, as Go's time.Date does.
        local over = time.date(2024, 13, 32, 25, 0, 0, 0, time.utc)
        assert(over:format(time.DATE_TIME) == "2025-02-02 01:00:00", over:format(time.DATE_TIME))
        local under = time.date(2024, 3, 0, 0, -1, 0, 0, time.utc)
        assert(under:format(time.DATE_TIME) == "2024-02-28 23:59:00", under:format(time.DATE_TIME))
        -- Without a location: the local one.
        assert(time.date(2024, 1, 1, 0, 0, 0, 0):location():string() == "Local")
        -- Go's zero time.
        assert(time.unix(-62135596800, 0):is_zero() and not time.unix(0, 0):is_zero())
        assert(not pcall(time.date, 2024, "Dec", 1, 0, 0, 0, 0))
        assert(not pcall(time.date, 2024, 1, 1, 0, 0, 0, 0, "UTC"))
    "#);
}

/// Whatever numbers a script passes, a time is made (past a trillion years
/// the calendar stops) and nothing overflows.
#[test]
fn extreme_numbers_make_times_without_overflowing() {
    run(r#"
        local time = require("time")
        local max, min = math.maxinteger, math.mininteger
        for _, t in ipairs({
            time.date(max, max, max, max, max, max, max, time.utc),
            time.date(min, min, min, min, min, min, min, time.fixed_zone("far", 2147483647)),
            time.unix(max, max), time.unix(min, min),
            time.date(2024, 1, 1, 0, 0, 0, 0, time.utc):add_date(max, max, max),
            time.date(2024, 1, 1, 0, 0, 0, 0, time.utc):add(max):add(max),
            time.date(9999, 12, 31, 0, 0, 0, 0, time.load_location("America/New_York")):add_date(5000, 0, 0),
        }) do
            assert(type(t:format(time.RFC3339NANO)) == "string" and type(tostring(t)) == "string")
            assert(type(t:year_day()) == "number" and type(t:weekday()) == "number")
            assert(type(t:unix_nano()) == "number" and type(t:sub(time.unix(0, 0)):hours()) == "number")
            assert(t:round(time.parse_duration("1h")) and t:truncate(time.parse_duration("-1h")))
        end
        assert(tostring(time.parse_duration(max)) == "2562047h47m16.854775807s")
        assert(tostring(time.parse_duration(min)) == "-2562047h47m16.854775808s")
    "#);
}

#[test]
fn unix_times_round_trip() {
    run(r#"
        local time = require("time")
        local t = time.unix(1703862245, 500000000)
        assert(t:utc():format_rfc3339() == "2023-12-29T15:04:05Z", t:utc():format_rfc3339())
        assert(t:unix() == 1703862245 and t:nanosecond() == 500000000)
        assert(t:unix_nano() == 1703862245500000000)
        local js = 1703862245123
        assert(time.unix(js // 1000, (js % 1000) * 1000000):utc():format("15:04:05.000") == "15:04:05.123")
        -- Nanoseconds past a second carry into the seconds.
        assert(time.unix(0, 1500000000):unix() == 1)
    "#);
}

#[test]
fn format_follows_go_layouts() {
    run(r#"
        local time = require("time")
        local t = time.date(2024, 12, 29, 15, 4, 5, 123456789, time.utc)
        local function is(layout, want)
            local got = t:format(layout)
            assert(got == want, layout .. " gave " .. got .. ", not " .. want)
        end
        is("Mon Jan _2 15:04:05 MST 2006", "Sun Dec 29 15:04:05 UTC 2024")
        is(time.RFC3339, "2024-12-29T15:04:05Z")
        is(time.RFC3339NANO, "2024-12-29T15:04:05.123456789Z")
        is(time.RFC1123Z, "Sun, 29 Dec 2024 15:04:05 +0000")
        is(time.KITCHEN, "3:04PM")
        is(time.STAMP_MILLI, "Dec 29 15:04:05.123")
        is("Monday, January 2 2006 3pm", "Sunday, December 29 2024 3pm")
        is("06 01 02 002 __2 1 2", "24 12 29 364 364 12 29")
        is("05.000 05,000000 05.999 .9", "05.123 05,123456 05.123 .1")
        is("2006-01-02 literal text", "2024-12-29 literal text")
        assert(t:format_rfc3339() == "2024-12-29T15:04:05Z")
        assert(tostring(t) == "2024-12-29 15:04:05.123456789 +0000 UTC", tostring(t))
        -- Trailing zeros of .999 go, and with them an empty fraction.
        assert(time.date(2024, 1, 2, 3, 4, 5, 500000000, time.utc):format("05.999") == "05.5")
        assert(time.date(2024, 1, 2, 3, 4, 5, 0, time.utc):format("05.999") == "05")
        -- Zones: a fixed zone's name and offset; Z for UTC in the ISO forms.
        local est = t:in_location(time.fixed_zone("EST", -5 * 3600))
        assert(est:format("2006-01-02 15:04:05 -0700 MST Z07:00 -07") == "2024-12-29 10:04:05 -0500 EST -05:00 -05")
        local ist = t:in_location(time.fixed_zone("IST", 5 * 3600 + 30 * 60))
        assert(ist:format("15:04 Z0700 -07:00:00") == "20:34 +0530 +05:30:00")
        assert(tostring(ist) == "2024-12-29 20:34:05.123456789 +0530 IST")
    "#);
}

#[test]
fn parse_reads_go_layouts_and_reports_errors_as_go_does() {
    run(r#"
        local time = require("time")
        local t = assert(time.parse(time.RFC3339, "2024-12-29T15:04:05Z"))
        assert(t:unix() == 1735484645 and t:location():string() == "UTC")
        local off = assert(time.parse("2006-01-02T15:04:05-07:00", "2024-12-29T08:04:05-07:00"))
        assert(off:unix() == 1735484645 and off:hour() == 8 and off:format("-0700") == "-0700")
        local nano = assert(time.parse(time.RFC3339NANO, "2024-01-01T12:34:56.789Z"))
        assert(nano:nanosecond() == 789000000)
        -- A fraction the layout does not name is read after the seconds.
        assert(time.parse("15:04:05", "14:30:00.25", time.utc):nanosecond() == 250000000)
        -- Fields the layout leaves out: January 1st of year 0.
        local clock = assert(time.parse("15:04:05", "14:30:00", time.utc))
        assert(clock:year() == 0 and clock:month() == 1 and clock:day() == 1 and clock:hour() == 14)
        -- Names in any case; 12-hour clocks; two-digit years.
        local named = assert(time.parse("Jan 2 2006 3:04PM", "dec 29 2024 3:04PM", time.utc))
        assert(named:format(time.DATE_TIME) == "2024-12-29 15:04:00")
        assert(time.parse("02/01/06", "29/12/24", time.utc):year() == 2024)
        assert(time.parse("02/01/06", "29/12/69", time.utc):year() == 1969)
        -- A zone abbreviation the location knows takes its offset there.
        local ny = assert(time.load_location("America/New_York"))
        local est = assert(time.parse("2006-01-02 15:04 MST", "2024-12-29 14:30 EST", ny))
        assert(est:utc():hour() == 19 and est:location():string() == "America/New_York")
        -- In a location without a zone in the text: that location's time.
        local local_ny = assert(time.parse(time.DATE_TIME, "2024-07-01 12:00:00", ny))
        assert(local_ny:utc():hour() == 16, local_ny:utc():hour())
        -- Errors: nil and an INVALID error value with Go's message.
        local bad, err = time.parse("2006-01-02", "x")
        assert(bad == nil and err:kind() == errors.INVALID and err:retryable() == false)
        assert(err:message() == 'parsing time "x" as "2006-01-02": cannot parse "x" as "2006"', err:message())
        local _, range = time.parse("2006-01-02", "2024-02-30")
        assert(range:message() == 'parsing time "2024-02-30": day out of range', range:message())
        local _, month = time.parse("2006-01-02", "2024-13-01")
        assert(month:message() == 'parsing time "2024-13-01": month out of range', month:message())
        local _, extra = time.parse("2006", "2024x")
        assert(extra:message() == 'parsing time "2024x": extra text: "x"', extra:message())
        assert(not pcall(time.parse, "2006", "2024", "UTC"))
    "#);
}

#[test]
fn durations_parse_and_print_as_go_does() {
    run(r#"
        local time = require("time")
        local d = assert(time.parse_duration("1h30m45s500ms"))
        assert(d:nanoseconds() == 5445500000000 and d:microseconds() == 5445500000)
        assert(d:milliseconds() == 5445500 and d:seconds() == 5445.5)
        assert(math.abs(d:minutes() - 90.758333333) < 1e-6 and math.abs(d:hours() - 1.512638888) < 1e-6)
        assert(tostring(d) == "1h30m45.5s", tostring(d))
        assert(tostring(assert(time.parse_duration(time.SECOND))) == "1s")
        assert(rawequal(d, d) and tostring(time.parse_duration(d)) == "1h30m45.5s")
        for _, case in ipairs({ { 0, "0s" }, { 1500, "1.5µs" }, { 999, "999ns" },
                { -90 * time.SECOND, "-1m30s" }, { 2 * time.MILLISECOND, "2ms" },
                { 100 * time.HOUR, "100h0m0s" } }) do
            local got = tostring(time.parse_duration(case[1]))
            assert(got == case[2], case[1] .. " printed " .. got)
        end
        local none, err = time.parse_duration("")
        assert(none == nil and err:kind() == errors.INVALID and err:message() == 'time: invalid duration ""', err:message())
        assert(select(2, time.parse_duration("5")):message() == 'time: missing unit in duration "5"')
        assert(select(2, time.parse_duration("5y")):message() == 'time: unknown unit "y" in duration "5y"')
        assert(select(2, time.parse_duration({})):kind() == errors.INVALID)
    "#);
}

#[test]
fn times_add_subtract_and_compare() {
    run(r#"
        local time = require("time")
        local t = time.date(2024, 1, 31, 10, 0, 0, 0, time.utc)
        assert(t:add("24h"):day() == 1 and t:add("24h"):month() == 2)
        assert(t:add(5 * time.MINUTE):minute() == 5)
        assert(t:add(time.parse_duration("1h30m")):format("15:04") == "11:30")
        local diff = t:add("24h"):sub(t)
        assert(diff:hours() == 24 and tostring(diff) == "24h0m0s")
        -- add_date carries over as Go does: January 31st plus a month is March 2nd (2024).
        assert(t:add_date(0, 1, 0):format(time.DATE_ONLY) == "2024-03-02")
        assert(t:add_date(1, 0, -31):format(time.DATE_ONLY) == "2024-12-31")
        local later = t:add("1s")
        assert(t:before(later) and later:after(t) and not t:after(later))
        assert(t:equal(t:in_location(time.fixed_zone("X", 3600))), "equal ignores the location")
        assert(not t:equal(later))
        for _, bad in ipairs({ function() return t:add({}) end, function() return t:sub(123) end,
                function() return t:before(1) end, function() return t:equal("now") end,
                function() return t:in_location(1) end }) do
            assert(not pcall(bad))
        end
    "#);
}

#[test]
fn round_and_truncate_take_duration_values() {
    run(r#"
        local time = require("time")
        local t = assert(time.parse(time.RFC3339NANO, "2024-01-01T12:34:56.789Z"))
        assert(t:round(time.parse_duration("1s")):format(time.TIME_ONLY) == "12:34:57")
        assert(t:truncate(time.parse_duration("1m")):format(time.TIME_ONLY) == "12:34:00")
        assert(t:round(time.parse_duration("1h")):format(time.TIME_ONLY) == "13:00:00")
        assert(t:truncate(time.parse_duration("15m")):format(time.TIME_ONLY) == "12:30:00")
        assert(not pcall(t.round, t, "1s"), "a duration string is not a Duration")
        assert(not pcall(t.truncate, t, time.SECOND))
    "#);
}

#[test]
fn locations_are_utc_local_named_or_fixed() {
    run(r#"
        local time = require("time")
        assert(time.utc:string() == "UTC" and tostring(time.utc) == "UTC")
        assert(time.localtz:string() == "Local")
        local ny = assert(time.load_location("America/New_York"))
        assert(ny:string() == "America/New_York")
        local t = time.date(2024, 1, 1, 0, 0, 0, 0, time.utc)
        assert(t:in_location(ny):format("2006-01-02 15:04 MST") == "2023-12-31 19:00 EST")
        assert(time.date(2024, 7, 1, 0, 0, 0, 0, time.utc):in_location(ny):format("15:04 MST -0700") == "20:00 EDT -0400")
        assert(time.date(2024, 1, 1, 0, 0, 0, 0, ny):utc():format("15:04 MST") == "05:00 UTC")
        assert(t:location():string() == "UTC" and t:in_location(ny):location():string() == "America/New_York")
        assert(t:in_local():location():string() == "Local" and t:in_local():equal(t))
        assert(time.load_location("UTC"):string() == "UTC")
        local ist = time.fixed_zone("IST", 19800)
        assert(ist:string() == "IST" and time.date(2024, 1, 15, 12, 0, 0, 0, ist):utc():hour() == 6)
        local missing, err = time.load_location("Nowhere/Atlantis")
        assert(missing == nil and err:kind() == errors.NOT_FOUND, tostring(err))
        local empty, empty_err = time.load_location("")
        assert(empty == nil and empty_err:kind() == errors.INVALID)
        local _, sneaky = time.load_location("../../../etc/passwd")
        assert(sneaky:kind() == errors.NOT_FOUND or sneaky:kind() == errors.INVALID)
    "#);
}

#[test]
fn constants_are_wippys() {
    run(r#"
        local time = require("time")
        assert(time.RFC3339 == "2006-01-02T15:04:05Z07:00" and time.RFC3339NANO == "2006-01-02T15:04:05.999999999Z07:00")
        assert(time.RFC822 == "02 Jan 06 15:04 MST" and time.RFC822Z == "02 Jan 06 15:04 -0700")
        assert(time.RFC850 == "Monday, 02-Jan-06 15:04:05 MST" and time.RFC1123 == "Mon, 02 Jan 2006 15:04:05 MST")
        assert(time.KITCHEN == "3:04PM" and time.STAMP == "Jan _2 15:04:05" and time.STAMP_NANO == "Jan _2 15:04:05.000000000")
        assert(time.DATE_TIME == "2006-01-02 15:04:05" and time.DATE_ONLY == "2006-01-02" and time.TIME_ONLY == "15:04:05")
        assert(time.JANUARY == 1 and time.JUNE == 6 and time.DECEMBER == 12)
        assert(time.SUNDAY == 0 and time.WEDNESDAY == 3 and time.SATURDAY == 6)
        assert(time.NANOSECOND == 1 and time.SECOND == 1000000000 and time.HOUR == 3600000000000)
    "#);
}

#[tokio::test(start_paused = true)]
async fn after_delivers_a_time_value() {
    let took = run_paused(
        r#"
        local time = require("time")
        local before = time.now()
        local ch = assert(time.after("10ms"))
        local fired = ch:receive()
        assert(type(fired) == "userdata" and fired:format_rfc3339():match("^%d%d%d%d%-"))
        assert(not fired:before(before))
        -- In a select, the time is the value of the case.
        local r = channel.select{ time.after(time.parse_duration("5ms")):case_receive(), channel.new():case_receive() }
        assert(r.ok and r.value:unix() > 0)
        "#,
    )
    .await;
    assert!(took >= Duration::from_millis(15), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_timer_fires_once_and_stops_or_resets_as_wippys_does() {
    let took = run_paused(
        r#"
        local time = require("time")
        local timer = assert(time.timer("1s"))
        local ch = timer:response()
        assert(rawequal(timer:channel(), ch) and rawequal(timer:response(), ch))
        assert(ch:receive():unix() > 0)
        assert(timer:stop() == false, "a timer that fired cannot be stopped")
        assert(timer:reset("1s") == false, "nor reset")

        -- Stopped before it fires: true, and it never fires.
        local stopped = assert(time.timer("10s"))
        assert(stopped:stop() == true)
        local r = channel.select{ stopped:response():case_receive(), time.after("20s"):case_receive() }
        assert(r.channel ~= stopped:response(), "a stopped timer fired")
        assert(stopped:reset("1s") == false)

        -- Reset while pending: true, and it fires after the new duration.
        local moved = assert(time.timer("10s"))
        assert(moved:reset("2s") == true)
        local r2 = channel.select{ moved:response():case_receive(), time.after("5s"):case_receive() }
        assert(r2.channel == moved:response(), "the reset timer did not fire first")

        -- Bad durations: timer() returns an error value, reset() raises.
        local none, err = time.timer(0)
        assert(none == nil and err:kind() == errors.INVALID)
        assert(select(2, time.timer("soon")):kind() == errors.INVALID)
        assert(not pcall(moved.reset, moved, 0))
        assert(not pcall(moved.reset, moved, "soon"))
        "#,
    )
    .await;
    // 1 s, then 20 s (the stopped timer), then 2 s.
    assert!(
        took >= Duration::from_secs(23) && took < Duration::from_secs(25),
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_ticker_ticks_until_stopped() {
    let took = run_paused(
        r#"
        local time = require("time")
        local ticker = assert(time.ticker("1s"))
        local ticks = ticker:response()
        assert(rawequal(ticker:channel(), ticks))
        local last
        for _ = 1, 3 do
            local tick = ticks:receive()
            assert(type(tick) == "userdata" and tick:unix() > 0)
            assert(last == nil or not tick:before(last))
            last = tick
        end
        assert(ticker:stop() == true)
        local r = channel.select{ ticks:case_receive(), time.after("5s"):case_receive() }
        assert(r.channel ~= ticks, "a stopped ticker ticked")
        assert(ticker:stop() == true, "stopping twice is fine")
        local none, err = time.ticker("0s")
        assert(none == nil and err:kind() == errors.INVALID)
        "#,
    )
    .await;
    assert!(
        took >= Duration::from_secs(8) && took < Duration::from_secs(9),
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn sleep_takes_numbers_strings_and_durations() {
    let took = run_paused(
        r#"
        local time = require("time")
        time.sleep(time.parse_duration("1s"))
        time.sleep("1s")
        time.sleep(time.SECOND)
        local _, err = time.sleep(true)
        assert(err:kind() == errors.INVALID)
        "#,
    )
    .await;
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(4),
        "{took:?}"
    );
}
