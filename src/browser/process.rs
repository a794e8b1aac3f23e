//! One Chromium process: finding the executable, starting it headless on
//! loopback with the DevTools protocol on `--remote-debugging-pipe`, and
//! ending it with everything it started.
//!
//! The protocol's file descriptors 3 (commands in) and 4 (messages out) are
//! the child's stdin and stdout pipes, moved there by a `sh -c` that then
//! becomes Chromium (`exec`), so the child's PID is Chromium's. Chromium runs
//! in its own process group with its own temporary directory as profile and
//! as `XDG_CONFIG_HOME`/`XDG_CACHE_HOME` (its crash handler, which leaves the
//! group with `setsid`, keeps its database there and names it on its command
//! line): [`Process::kill`] kills the group and every process whose command
//! line names that directory, then reaps the child.

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::BrowserError;

/// The executable names looked up on `PATH`, in order.
pub const NAMES: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

/// The flags every Chromium gets: headless and quiet (no background traffic,
/// no first-run UI, no crash uploads).
pub const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-proxy-server",
    "--mute-audio",
    "--hide-scrollbars",
    "--window-size=1280,800",
    "--remote-debugging-pipe",
];

/// With [`BrowserOptions::loopback_only`](super::BrowserOptions::loopback_only)
/// (tests): every host name fails to resolve, so the page can reach nothing but
/// IP literals such as 127.0.0.1 and ::1. Never for a real target, whose
/// page must resolve its own host and its API's.
pub const LOOPBACK_ONLY: &str = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1";

/// The Chromium executable: `explicit` (`--chromium PATH`), else `env`
/// (`SMOKEPROBE_CHROMIUM`), else the first of [`NAMES`] in `path` (`PATH`).
pub fn locate(
    explicit: Option<&Path>,
    env: Option<&OsStr>,
    path: Option<&OsStr>,
) -> Result<PathBuf, BrowserError> {
    if let Some(p) = explicit {
        return executable(p).ok_or_else(|| BrowserError::NotExecutable {
            path: p.to_path_buf(),
            from: "--chromium",
        });
    }
    if let Some(p) = env.filter(|p| !p.is_empty()) {
        let p = Path::new(p);
        return executable(p).ok_or_else(|| BrowserError::NotExecutable {
            path: p.to_path_buf(),
            from: "SMOKEPROBE_CHROMIUM",
        });
    }
    let dirs: Vec<PathBuf> = path
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    NAMES
        .iter()
        .flat_map(|n| dirs.iter().map(move |d| d.join(n)))
        .find_map(|p| executable(&p))
        .ok_or(BrowserError::NotFound)
}

/// `p` if it is a file someone may execute (a bare name is looked up on
/// nothing: it must be a path).
fn executable(p: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let m = std::fs::metadata(p).ok()?;
    (m.is_file() && m.permissions().mode() & 0o111 != 0).then(|| p.to_path_buf())
}

/// A running Chromium and the directory it owns.
pub struct Process {
    child: Child,
    dir: PathBuf,
    killed: bool,
}

/// The pipes of a started Chromium: commands to it, messages from it.
pub struct Pipes {
    pub to: tokio::net::unix::pipe::Sender,
    pub from: tokio::net::unix::pipe::Receiver,
}

impl Process {
    /// Starts `exe` headless with a fresh temporary profile.
    pub fn start(exe: &Path, loopback_only: bool) -> Result<(Process, Pipes), BrowserError> {
        let dir = temp_dir().map_err(|e| BrowserError::Start(e.to_string()))?;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>/dev/null"#)
            .arg(exe)
            .args(FLAGS)
            .args(loopback_only.then_some(LOOPBACK_ONLY))
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("XDG_CACHE_HOME", dir.join("cache"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(BrowserError::Start(format!("{}: {e}", exe.display())));
            }
        };
        let pipes = (|| {
            let to = child.stdin.take().expect("piped stdin");
            let from = child.stdout.take().expect("piped stdout");
            Ok::<_, std::io::Error>(Pipes {
                to: tokio::net::unix::pipe::Sender::from_owned_fd(to.into())?,
                from: tokio::net::unix::pipe::Receiver::from_owned_fd(from.into())?,
            })
        })();
        let mut p = Process {
            child,
            dir,
            killed: false,
        };
        match pipes {
            Ok(pipes) => Ok((p, pipes)),
            Err(e) => {
                p.kill();
                Err(BrowserError::Start(e.to_string()))
            }
        }
    }

    /// Chromium's PID (also its process group's id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has ended on its own: polls without blocking.
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills Chromium's process group and the processes that left it but
    /// name its directory, reaps Chromium, and waits (up to a second) until
    /// none of them runs; removes the directory. Idempotent.
    pub fn kill(&mut self) {
        if std::mem::replace(&mut self.killed, true) {
            return;
        }
        let pgid = self.child.id() as i32;
        signal_kill(-pgid);
        for pid in processes_naming(&self.dir) {
            signal_kill(pid);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // SIGKILL is delivered at once but a process takes a moment to end.
        let end = std::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            let left: Vec<i32> = group_members(pgid)
                .into_iter()
                .chain(processes_naming(&self.dir))
                .collect();
            if left.is_empty() || std::time::Instant::now() > end {
                break;
            }
            left.into_iter().for_each(signal_kill);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A new empty directory under the system's temporary directory.
fn temp_dir() -> std::io::Result<PathBuf> {
    let base = std::env::temp_dir();
    loop {
        let d = base.join(format!(
            "smokeprobe-chromium-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        match std::fs::create_dir(&d) {
            Ok(()) => return Ok(d),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The PIDs under `/proc`, each with its `stat` line after the command
/// name: `state ppid pgrp …`.
fn processes() -> Vec<(i32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<i32>().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name is in parentheses and may hold anything.
            let rest = stat.get(stat.rfind(')')? + 2..)?.to_string();
            Some((pid, rest))
        })
        .collect()
}

/// The live (not yet ended) members of process group `pgid`.
fn group_members(pgid: i32) -> Vec<i32> {
    let pgid = pgid.to_string();
    processes()
        .into_iter()
        .filter(|(_, rest)| {
            let f: Vec<&str> = rest.split(' ').take(3).collect();
            f.len() == 3 && f[0] != "Z" && f[2] == pgid
        })
        .map(|(pid, _)| pid)
        .collect()
}

/// The PIDs of the live processes whose command line names `dir` (an ended
/// process's command line is empty).
fn processes_naming(dir: &Path) -> Vec<i32> {
    let needle = OsString::from(dir).into_encoded_bytes();
    processes()
        .into_iter()
        .map(|(pid, _)| pid)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| memchr::memmem::find(&c, &needle).is_some())
        })
        .collect()
}

/// `kill(pid, SIGKILL)`; a negative `pid` is a process group.
fn signal_kill(pid: i32) {
    const SIGKILL: i32 = 9;
    unsafe extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    // SAFETY: kill(2) takes two integers and touches no memory of ours; an
    // ended process or group is an error it reports, which we ignore. std
    // kills only its direct child, and the repository adds no `libc` crate
    // for one function that std's own libc already exports.
    unsafe {
        kill(pid, SIGKILL);
    }
}
