//! `cairn-demo --headless`, the README's main command, as a user runs it:
//! the real binary, on the private Tor network when Debian's `tor` is
//! installed (as in CI), else on loopback. Exit 0 only if every step
//! verified; the summary must list both parts and no failed step.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_cairn-demo");

#[test]
fn the_headless_demo_verifies_every_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args(["--headless", "--dir"])
        .arg(dir.path().join("demo"))
        .output()
        .expect("run cairn-demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{stdout}\n{stderr}", out.status.code());
    // The live progress goes to stderr, the summary to stdout.
    for part in ["part 1: on the network", "part 2: the protocol's defences"] {
        assert!(stderr.contains(part), "{part} missing:\n{stderr}");
    }
    for step in
        ["invite, compare, approve", "removed reads nothing new", "offline member catches up"]
    {
        assert!(stdout.contains(&format!("ok   {step} — ")), "{step} not verified:\n{stdout}");
    }
    assert!(stdout.contains(" 0 failed") && !stdout.contains("FAIL"), "{stdout}");
}

/// The demo's failure path: a step that cannot run is reported and the
/// exit code says so (here: the profiles directory cannot be created).
#[test]
fn the_demo_fails_loudly_when_it_cannot_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "not a directory").expect("write");
    let out = Command::new(BIN)
        .args(["--headless", "--loopback", "--dir"])
        .arg(blocker.join("demo"))
        .output()
        .expect("run cairn-demo");
    assert!(!out.status.success(), "a demo that could not run must not exit 0");
    let all =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(all.contains("FAIL") || all.contains("cannot"), "{all}");
}
