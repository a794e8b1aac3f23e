//! The probe's own process: memory, file descriptors, CPU time, threads and
//! start time, read from `/proc/self` on Linux at scrape time (absent
//! elsewhere), under the Prometheus process collector's standard names, so the
//! usual "process" dashboards and alerts work unchanged.
//!
//! Reading is cheap (three small files and one directory listing, no
//! allocation beyond the file contents) and never fails a scrape: a file that
//! cannot be read or parsed leaves its values out (`None`), nothing panics.
//!
//! Why these sources: `/proc/self/status` gives memory in kB (no page-size
//! lookup), `/proc/self/stat` gives CPU time and the start time in clock ticks
//! of `USER_HZ`, which the kernel fixes at 100 for every mainstream
//! architecture's user ABI (the Prometheus `procfs` library assumes the same;
//! asking `sysconf` would take `unsafe` and a `libc` dependency for a constant).

/// What one reading of `/proc/self` found; `None` where it could not be read.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ProcessSample {
    pub resident_bytes: Option<f64>,
    pub virtual_bytes: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
    pub cpu_seconds: Option<f64>,
    pub start_time_seconds: Option<f64>,
    pub threads: Option<f64>,
}

/// Clock ticks per second in `/proc` (`USER_HZ`).
const USER_HZ: f64 = 100.0;

impl ProcessSample {
    /// Reads `/proc/self` (Linux); everything `None` on other systems.
    pub fn read() -> ProcessSample {
        #[cfg(target_os = "linux")]
        {
            read_linux()
        }
        #[cfg(not(target_os = "linux"))]
        {
            ProcessSample::default()
        }
    }
}

#[cfg(target_os = "linux")]
fn read_linux() -> ProcessSample {
    let mut s = ProcessSample::default();
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let st = parse_status(&status);
        s.resident_bytes = st.resident_bytes;
        s.virtual_bytes = st.virtual_bytes;
        s.threads = st.threads;
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        let st = parse_stat(&stat);
        s.cpu_seconds = st.cpu_seconds;
        s.threads = s.threads.or(st.threads);
        s.start_time_seconds = st
            .start_ticks
            .zip(boot_time())
            .map(|(ticks, boot)| boot + ticks / USER_HZ);
    }
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
        s.max_fds = parse_max_open_files(&limits);
    }
    // The listing's own descriptor is counted too, as the Prometheus
    // collectors do.
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        s.open_fds = Some(dir.filter(Result::is_ok).count() as f64);
    }
    s
}

/// Boot time (unix seconds) from `/proc/stat`'s `btime`, read once: it does
/// not change while the process lives.
#[cfg(target_os = "linux")]
fn boot_time() -> Option<f64> {
    static BTIME: std::sync::OnceLock<Option<f64>> = std::sync::OnceLock::new();
    *BTIME.get_or_init(|| {
        std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|t| parse_btime(&t))
    })
}

/// The `/proc/self/status` fields used here.
#[derive(Debug, Default, PartialEq)]
pub struct Status {
    pub resident_bytes: Option<f64>,
    pub virtual_bytes: Option<f64>,
    pub threads: Option<f64>,
}

/// `VmRSS:`, `VmSize:` (kB) and `Threads:` of `/proc/<pid>/status`.
pub fn parse_status(text: &str) -> Status {
    let kb = |v: &str| {
        let mut it = v.split_whitespace();
        let n: f64 = it.next()?.parse().ok()?;
        match it.next() {
            Some("kB") | None => Some(n * 1024.0),
            Some(_) => None,
        }
    };
    let mut s = Status::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key {
            "VmRSS" => s.resident_bytes = kb(value),
            "VmSize" => s.virtual_bytes = kb(value),
            "Threads" => s.threads = value.trim().parse().ok(),
            _ => {}
        }
    }
    s
}

/// The `/proc/self/stat` fields used here.
#[derive(Debug, Default, PartialEq)]
pub struct Stat {
    /// utime + stime, in seconds.
    pub cpu_seconds: Option<f64>,
    pub threads: Option<f64>,
    /// Start time in clock ticks after boot.
    pub start_ticks: Option<f64>,
}

/// Fields 14 (utime), 15 (stime), 20 (num_threads) and 22 (starttime) of
/// `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may
/// itself contain spaces and parentheses, so fields are counted from the last
/// `)`.
pub fn parse_stat(text: &str) -> Stat {
    let Some((_, rest)) = text.rsplit_once(')') else {
        return Stat::default();
    };
    // rest starts with field 3 (state).
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> Option<f64> { fields.get(n.checked_sub(3)?)?.parse().ok() };
    Stat {
        cpu_seconds: field(14).zip(field(15)).map(|(u, s)| (u + s) / USER_HZ),
        threads: field(20),
        start_ticks: field(22),
    }
}

/// The soft limit of `Max open files` in `/proc/<pid>/limits`; `unlimited`
/// is reported as 2^64 − 1, as the Prometheus Go client does.
pub fn parse_max_open_files(text: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    if soft == "unlimited" {
        return Some(u64::MAX as f64);
    }
    soft.parse().ok()
}

/// `btime` of `/proc/stat`: boot time in unix seconds.
pub fn parse_btime(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_memory_and_threads() {
        let text = "Name:\tsmokeprobe\nVmPeak:\t  300000 kB\nVmSize:\t  234380 kB\nVmRSS:\t   25504 kB\nThreads:\t4\n";
        assert_eq!(
            parse_status(text),
            Status {
                resident_bytes: Some(25504.0 * 1024.0),
                virtual_bytes: Some(234380.0 * 1024.0),
                threads: Some(4.0),
            }
        );
        assert_eq!(parse_status(""), Status::default());
        assert_eq!(parse_status("VmRSS: lots\n").resident_bytes, None);
    }

    #[test]
    fn stat_counts_fields_after_the_command_name() {
        // A command name with spaces and a parenthesis must not shift the fields.
        let text = "1234 (smoke (probe) x) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 7 0 123456 240005120 6376 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let s = parse_stat(text);
        assert_eq!(s.cpu_seconds, Some(3.0));
        assert_eq!(s.threads, Some(7.0));
        assert_eq!(s.start_ticks, Some(123456.0));
        assert_eq!(parse_stat("garbage"), Stat::default());
        assert_eq!(parse_stat("1 (x) S 1"), Stat::default());
    }

    #[test]
    fn limits_soft_open_files() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \nMax cpu time              unlimited            unlimited            seconds   \nMax open files            1024                 1048576              files     \n";
        assert_eq!(parse_max_open_files(text), Some(1024.0));
        let unl =
            "Max open files            unlimited            unlimited            files     \n";
        assert_eq!(parse_max_open_files(unl), Some(u64::MAX as f64));
        assert_eq!(parse_max_open_files(""), None);
    }

    #[test]
    fn btime() {
        assert_eq!(
            parse_btime("cpu  1 2 3\nbtime 1795650000\nprocesses 10\n"),
            Some(1_795_650_000.0)
        );
        assert_eq!(parse_btime("cpu 1\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let s = ProcessSample::read();
        assert!(s.resident_bytes.unwrap() > 0.0);
        assert!(s.virtual_bytes.unwrap() >= s.resident_bytes.unwrap());
        assert!(s.open_fds.unwrap() >= 3.0);
        assert!(s.max_fds.unwrap() >= s.open_fds.unwrap());
        assert!(s.cpu_seconds.unwrap() >= 0.0);
        assert!(s.threads.unwrap() >= 1.0);
        let now = crate::builtins::unix_now();
        let start = s.start_time_seconds.unwrap();
        assert!(
            start <= now + 1.0 && start > now - 86_400.0,
            "{start} vs {now}"
        );
    }
}
