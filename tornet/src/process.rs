//! Starting tor daemons and stopping them by the PIDs in their pid files.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Starts `tor -f <torrc>` for every data directory at once and waits until
/// each has daemonized (with `RunAsDaemon 1` the command returns once its
/// ports are open, or fails with the reason in the node's `notice.log`).
pub(crate) fn start_all(data_dirs: &[&Path]) -> Result<()> {
    let children: Vec<(&Path, Result<Child>)> = data_dirs
        .iter()
        .map(|dir| {
            let child = Command::new("tor")
                .arg("-f")
                .arg(dir.join("torrc"))
                .args(["--quiet"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .context("running `tor` (is Debian's `tor` installed?)");
            (*dir, child)
        })
        .collect();
    let mut failures = Vec::new();
    for (dir, child) in children {
        let status = child.and_then(|mut c| c.wait().context("waiting for tor to daemonize"));
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => {
                failures.push(format!("{}: tor exited with {s}{}", dir.display(), log_tail(dir)))
            }
            Err(e) => failures.push(format!("{}: {e:#}", dir.display())),
        }
    }
    if !failures.is_empty() {
        bail!("tor failed to start:\n{}", failures.join("\n"));
    }
    Ok(())
}

/// The last lines of a node's log, for error messages.
pub(crate) fn log_tail(dir: &Path) -> String {
    let text = fs::read_to_string(dir.join("notice.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join("\n    ");
    if tail.is_empty() { String::new() } else { format!("\n    {tail}") }
}

/// Stops the tor whose data directory is `dir`: SIGTERM to the PID in its
/// pid file, SIGKILL if it is still there after two seconds. The PID is used
/// only if `/proc/<pid>/comm` says `tor` (a stale pid file must not kill an
/// unrelated process that reused the number).
pub(crate) fn stop(dir: &Path) {
    let Some(pid) =
        fs::read_to_string(dir.join("pid")).ok().and_then(|s| s.trim().parse::<u32>().ok())
    else {
        return;
    };
    if !is_tor(pid) {
        return;
    }
    signal(pid, "TERM");
    let deadline = Instant::now() + Duration::from_secs(2);
    while is_tor(pid) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    if is_tor(pid) {
        signal(pid, "KILL");
    }
}

fn is_tor(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "tor")
        && !is_zombie(pid)
}

fn is_zombie(pid: u32) -> bool {
    // Field 3 of /proc/<pid>/stat (after the parenthesised name) is the state.
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}
