//! Processes and descriptors as Linux's `/proc` shows them.

use std::time::{Duration, Instant};

/// The fields of `/proc/<pid>/stat` the tests need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// The process id.
    pub pid: i32,
    /// The state letter: `R`, `S`, `D`, `Z` (zombie), `X` (dead), …
    pub state: char,
    /// The parent's pid.
    pub ppid: i32,
}

impl Stat {
    /// Whether the process has ended (a zombie waiting to be reaped, or dead).
    pub fn ended(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// Parses the text of a `/proc/<pid>/stat` file.
///
/// ```
/// use exec_test_support::procfs::parse_stat;
///
/// let stat = parse_stat("42 (sh) with) Z 7 42 42 0").unwrap();
/// assert_eq!((stat.pid, stat.state, stat.ppid), (42, 'Z', 7));
/// ```
pub fn parse_stat(text: &str) -> Option<Stat> {
    let (pid, rest) = text.split_once(" (")?;
    // The command name may itself hold ") ": the fields follow the last one.
    let (_, fields) = rest.rsplit_once(')')?;
    let mut fields = fields.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some(Stat {
        pid: pid.trim().parse().ok()?,
        state,
        ppid,
    })
}

/// The stat of process `pid`, if it exists.
pub fn stat(pid: i32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Whether `pid` is a live process (it exists and is neither a zombie nor dead).
pub fn is_alive(pid: i32) -> bool {
    stat(pid).is_some_and(|s| !s.ended())
}

/// Waits up to `limit` for `pid` to end (gone, or a zombie); whether it did.
pub fn ends_within(pid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while is_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(POLL);
    }
    !is_alive(pid)
}

/// [`ends_within`] for async tests: waits without blocking the runtime.
pub async fn ends_within_async(pid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while is_alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
    }
    !is_alive(pid)
}

/// How often the waits look again.
const POLL: Duration = Duration::from_millis(20);

/// Every process on the system, as far as `/proc` can be read.
pub fn processes() -> Vec<Stat> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(stat)
        .collect()
}

/// The pids of this process's children that exited and were not reaped.
pub fn zombie_children() -> Vec<i32> {
    let me = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
    processes()
        .into_iter()
        .filter(|s| s.ppid == me && s.state == 'Z')
        .map(|s| s.pid)
        .collect()
}

/// How many file descriptors this process has open.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

/// This process's peak resident memory in bytes (`VmHWM`), since it started
/// or since the last [`reset_peak_rss`].
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// This process's resident memory now in bytes (`VmRSS`).
pub fn rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The live processes whose command line (`/proc/<pid>/cmdline`, its
/// words joined by spaces) contains `text`.
pub fn processes_running(text: &str) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|s| !s.ended())
        .filter(|s| {
            std::fs::read(format!("/proc/{}/cmdline", s.pid)).is_ok_and(|line| {
                let line: Vec<u8> = line
                    .into_iter()
                    .map(|b| if b == 0 { b' ' } else { b })
                    .collect();
                String::from_utf8_lossy(&line).contains(text)
            })
        })
        .map(|s| s.pid)
        .collect()
}

/// Resets [`peak_rss`] to the current resident size (Linux ≥ 4.0); whether
/// the kernel took it.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = stat(i32::try_from(std::process::id()).unwrap()).unwrap();
        assert!(matches!(me.state, 'R' | 'S'));
        assert!(open_fds() >= 3);
        assert!(peak_rss().unwrap() > 0);
        assert!(rss().unwrap() > 0);
        let me = i32::try_from(std::process::id()).unwrap();
        let name = std::env::args().next().unwrap();
        assert!(processes_running(&name).contains(&me));
        assert!(zombie_children().is_empty());
    }

    #[test]
    fn odd_command_names_parse() {
        let s = parse_stat("9 (a) b) (c) S 1 9 9").unwrap();
        assert_eq!((s.pid, s.state, s.ppid), (9, 'S', 1));
        assert!(parse_stat("garbage").is_none());
    }
}
