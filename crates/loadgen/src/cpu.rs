//! Process CPU time from Linux `/proc/<pid>/stat` (user + system, every thread, dead ones
//! included), for the server under test and for the load generator itself.

use std::time::Duration;

/// Which process.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Process {
    This,
    Pid(u32),
}

/// The process's CPU time so far, or `None` where `/proc` cannot tell (not Linux, gone).
pub(crate) fn cpu_time(process: Process, clk_tck: u64) -> Option<Duration> {
    let path = match process {
        Process::This => "/proc/self/stat".to_owned(),
        Process::Pid(pid) => format!("/proc/{pid}/stat"),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    parse_stat(&stat, clk_tck)
}

/// `utime + stime` from a `stat` line. The command name (field 2) may hold spaces and
/// parentheses, so the fields are counted from its closing parenthesis: `state` is field 3,
/// `utime` field 14 and `stime` field 15.
fn parse_stat(stat: &str, clk_tck: u64) -> Option<Duration> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    if clk_tck == 0 {
        return None;
    }
    let ticks = utime + stime;
    Some(
        Duration::from_secs(ticks / clk_tck)
            + Duration::from_nanos(ticks % clk_tck * 1_000_000_000 / clk_tck),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utime_and_stime() {
        let line = "4242 (pass (key) d) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 37 0 0 20 0 \
                    9 0 12345 1000000 500 18446744073709551615";
        assert_eq!(parse_stat(line, 100), Some(Duration::from_millis(2870)));
    }

    #[test]
    fn reads_this_process() {
        if cfg!(target_os = "linux") {
            assert!(cpu_time(Process::This, 100).is_some());
        }
    }
}
