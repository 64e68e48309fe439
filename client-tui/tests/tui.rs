//! The real `cairn` TUI in real terminals (tmux, 80×24), two profiles on
//! loopback with a real relay process: found a group, invite, join with the
//! code compared on both screens, chat both ways, a task created, assigned,
//! commented on and closed, the member removed — who then sees nothing new
//! — and both leave with their terminals restored.

// A test shell: clocks belong here (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cairn_tests::relay_proc::RelayProc;
use cairn_tests::tmux::Tmux;

const BIN: &str = env!("CARGO_BIN_EXE_cairn");
const WAIT: Duration = Duration::from_secs(30);

fn init(dir: &Path, name: &str) {
    let out = Command::new(BIN)
        .arg("--profile")
        .arg(dir.join(name))
        .arg("--passphrase-file")
        .arg(dir.join("pass"))
        .arg("init")
        .output()
        .expect("cairn init");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Where the profiles' nodes run.
struct Net {
    /// The `cairn` option that selects it.
    option: String,
    /// The relay's address on it.
    relay: String,
    /// How long one step may take on it.
    wait: Duration,
}

fn tui(dir: &Path, name: &str, net: &Net) -> Tmux {
    let command = format!(
        "{BIN} --profile {} --passphrase-file {} {} tui 2>{}",
        dir.join(name).display(),
        dir.join("pass").display(),
        net.option,
        dir.join(format!("{name}.stderr")).display(),
    );
    let t = Tmux::start(name, &command, 80, 24).expect("tmux");
    t.wait_text(&format!("● {name}"), net.wait).expect("the TUI is up");
    t
}

/// The invite string shown in the popup, rejoined from its lines.
fn invite_from(screen: &str) -> String {
    let lines: Vec<&str> = screen.lines().collect();
    let start = lines.iter().position(|l| l.contains("cairn-invite1-")).expect("invite shown");
    lines[start..]
        .iter()
        .map(|l| l.trim_matches(|c: char| c == '│' || c == ' '))
        .take_while(|l| !l.is_empty())
        .collect()
}

/// The short code ("code ddd-ddd") on a screen.
fn code_on(screen: &str) -> Option<String> {
    let at = screen.find("code ")?;
    let code: String = screen[at + 5..].chars().take(7).collect();
    let ok = code.len() == 7
        && code.chars().enumerate().all(
            |(i, c)| {
                if i == 3 { c == '-' } else { c.is_ascii_digit() }
            },
        );
    ok.then_some(code)
}

#[test]
fn two_people_found_invite_join_chat_work_a_task_and_remove_in_the_tui() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    let relay = RelayProc::start(&dir.join("relay"), true, false, "").expect("relay");
    let option = format!("--insecure-loopback {}", dir.join("loopback").display());
    let net = Net { option, relay: relay.tcp.clone().expect("tcp"), wait: WAIT };
    let (alice, _) = scenario(dir, &net);
    assert!(alice.contains("NO TOR"), "insecure mode is announced: {alice}");
}

/// The same on the private Tor network: every profile's node and the relay
/// on onion services of their own.
#[test]
fn the_same_in_the_tui_over_onion_services_on_a_private_tor_network() {
    let tor = cairn_tests::tornet::TorNet::shared().expect("tor network");
    let dir = tor.scratch_dir("tui").expect("scratch");
    let config = tor.arti_config_path();
    let extra = format!("[tor]\nnetwork_config = {config:?}\n");
    let relay = RelayProc::start(&dir.join("relay"), false, true, &extra).expect("relay");
    let option = format!("--tor-network {}", config.display());
    let relay_addr = relay.onion.clone().expect("relay onion address");
    let net = Net { option, relay: relay_addr, wait: Duration::from_secs(120) };
    let (alice, bob) = scenario(&dir, &net);
    for screen in [alice, bob] {
        assert!(screen.contains("tor ok") && !screen.contains("NO TOR"), "{screen}");
    }
}

/// Alice founds a group, invites Bob, they chat and work a task, she
/// removes him, both leave the group; returns each one's last screen
/// before leaving.
fn scenario(dir: &Path, net: &Net) -> (String, String) {
    let wait = net.wait;
    std::fs::write(dir.join("pass"), "a long enough passphrase\n").expect("pass");
    init(dir, "alice");
    init(dir, "bob");
    let alice = tui(dir, "alice", net);
    let bob = tui(dir, "bob", net);
    let relay_addr = &net.relay;

    // Found a group and invite bob.
    alice.line(&format!("/group new bastion {relay_addr}")).expect("keys");
    alice.wait_text("group bastion founded", wait).expect("founded");
    // Only a role's holders hold its key: the organizer also takes
    // "member" so that the tasks she writes for members are hers to read.
    alice.line("/role assign me member").expect("keys");
    alice.wait_text("role member given", wait).expect("role taken");
    admit(&alice, &bob, wait);

    // Chat both ways.
    alice.line("hello bob, welcome").expect("keys");
    bob.wait_text("hello bob, welcome", wait).expect("bob reads alice");
    bob.line("hi alice, glad to be here").expect("keys");
    alice.wait_text("bob: hi alice, glad to be here", wait).expect("alice reads bob");

    // A task: created, assigned, commented on, closed.
    alice.line("/task new buy a shovel").expect("keys");
    alice.keys(&["F3"]).expect("keys");
    alice.wait_text("#1 buy a shovel", wait).expect("task on alice's board");
    alice.line("/assign #1 bob").expect("keys");
    alice.wait_text("assigned: bob", wait).expect("assigned");
    bob.keys(&["F3"]).expect("keys");
    bob.wait_for("the task assigned on bob's board", wait, |s| {
        s.contains("assigned (1)") && s.contains("#1 buy a shovel")
    })
    .expect("bob sees it");
    bob.line("/comment #1 on it, back by noon").expect("keys");
    alice.wait_text("bob: on it, back by noon", wait).expect("alice reads the comment");
    alice.line("/close #1").expect("keys");
    alice.wait_text("closed (1)", wait).expect("closed");
    bob.wait_text("closed (1)", wait).expect("bob sees it closed");

    // Remove bob: he sees nothing written after.
    alice.keys(&["F4"]).expect("keys");
    alice.line("/remove bob").expect("keys");
    alice.wait_text("removed", wait).expect("removed");
    alice.keys(&["F2"]).expect("keys");
    alice.line("after bob left").expect("keys");
    alice.wait_text("you: after bob left", wait).expect("alice wrote");
    bob.keys(&["F2"]).expect("keys");
    // Bob's node keeps running; give the relay time to push to him.
    std::thread::sleep(Duration::from_secs(5));
    let bob_screen = bob.screen().expect("screen");
    assert!(!bob_screen.contains("after bob left"), "{bob_screen}");
    assert!(bob_screen.contains("hello bob, welcome"), "what he had stays: {bob_screen}");

    let screens = (alice.screen().expect("screen"), bob.screen().expect("screen"));

    // Leaving asks first. Bob, removed, deletes what he kept; Alice, the
    // last member, leaves keeping the history, which then refuses writing.
    bob.line("/leave").expect("keys");
    bob.wait_text("leave bastion? add yes", wait).expect("asked");
    assert!(bob.screen().expect("screen").contains("hello bob, welcome"), "nothing happened yet");
    bob.line(" yes delete").expect("keys");
    bob.wait_text("keys and history deleted", wait).expect("bob left");
    bob.wait_for("bastion gone from bob's profile", wait, |s| !s.contains("hello bob, welcome"))
        .expect("history deleted");
    alice.line("/leave yes").expect("keys");
    alice.wait_text("the history stays read-only", wait).expect("alice left");
    alice.wait_text("bastion (left)", wait).expect("marked left");
    alice.line("still here?").expect("keys");
    alice.wait_text("you left this group", wait).expect("writing refused");
    assert!(alice.screen().expect("screen").contains("after bob left"), "the history is kept");
    alice.keys(&["C-u"]).expect("keys");

    // Leave: the programs exit cleanly and give the terminal back.
    for (t, name) in [(&alice, "alice"), (&bob, "bob")] {
        t.keys(&["C-c"]).expect("keys");
        let exited = t.wait_for("exit", wait, |_| t.exit_status().ok().flatten().is_some());
        let stderr = std::fs::read_to_string(dir.join(format!("{name}.stderr")));
        let status = t.exit_status();
        exited.unwrap_or_else(|e| {
            panic!("{name} did not exit: {e}\nstderr: {stderr:?}\nstatus: {status:?}")
        });
        assert_eq!(t.exit_status().expect("status"), Some(0));
        assert!(!t.alternate_screen().expect("alternate"), "the terminal is restored");
    }
    screens
}

/// Alice invites Bob, he joins, both screens show the same code, she
/// admits him.
fn admit(alice: &Tmux, bob: &Tmux, wait: Duration) {
    alice.line("/invite").expect("keys");
    let screen = alice.wait_text("cairn-invite1-", wait).expect("invite popup");
    let invite = invite_from(&screen);
    alice.keys(&["Escape"]).expect("keys");
    bob.line(&format!("/join {invite} bob")).expect("keys");
    let bob_screen = bob.wait_for("bob's code", wait, |s| code_on(s).is_some()).expect("joining");
    let alice_screen =
        alice.wait_for("alice's code", wait, |s| code_on(s).is_some()).expect("join request");
    assert!(alice_screen.contains("\"bob\" wants to join"), "{alice_screen}");
    assert_eq!(code_on(&bob_screen), code_on(&alice_screen), "both see one code");
    alice.keys(&["y"]).expect("keys");
    alice.wait_text("bob joined", wait).expect("admitted");
    bob.wait_text("joined", wait).expect("bob joined");
    bob.keys(&["Escape"]).expect("keys");
    bob.wait_text("bastion", wait).expect("bob has the group");
}

/// A panic in the TUI gives the terminal back: the alternate screen is off
/// and the panic message is readable (debug builds panic on F12 when
/// `CAIRN_TEST_PANIC` is set).
#[test]
fn a_panic_restores_the_terminal() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    std::fs::write(dir.join("pass"), "a long enough passphrase\n").expect("pass");
    init(dir, "alice");
    let command = format!(
        "CAIRN_TEST_PANIC=1 {BIN} --profile {} --passphrase-file {} --insecure-loopback {} tui 2>{}",
        dir.join("alice").display(),
        dir.join("pass").display(),
        dir.join("loopback").display(),
        dir.join("alice.stderr").display(),
    );
    let t = Tmux::start("panic", &command, 80, 24).expect("tmux");
    t.wait_text("● alice", WAIT).expect("the TUI is up");
    assert!(t.alternate_screen().expect("alternate"), "the TUI uses the alternate screen");
    t.keys(&["F12"]).expect("keys");
    t.wait_for("exit", WAIT, |_| t.exit_status().ok().flatten().is_some()).expect("exits");
    assert_eq!(t.exit_status().expect("status"), Some(101), "a panic exits with 101");
    assert!(!t.alternate_screen().expect("alternate"), "the terminal is restored");
    let stderr = std::fs::read_to_string(dir.join("alice.stderr")).expect("stderr");
    assert!(stderr.contains("a panic on purpose"), "{stderr}");
}

/// A full disk in the middle of a session: the line that could not be
/// stored comes back to the input line and is neither shown as sent nor
/// queued, and a line Bob sends meanwhile is not lost; once there is room
/// the same running TUI sends the line (no restart) and shows Bob's, each
/// stored and posted exactly once.
///
/// The disk fills by lowering the running process's file-size limit
/// (`prlimit`; SIGXFSZ is ignored, so a write past it fails with EFBIG as
/// a write to a full disk fails with ENOSPC).
#[test]
fn a_full_disk_keeps_the_line_and_the_same_session_sends_it_once_there_is_room() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    let relay = RelayProc::start(&dir.join("relay"), true, false, "").expect("relay");
    let relay_addr = relay.tcp.clone().expect("tcp");
    std::fs::write(dir.join("pass"), "a long enough passphrase\n").expect("pass");
    init(dir, "alice");
    init(dir, "bob");
    let option = format!("--insecure-loopback {}", dir.join("loopback").display());
    let net = Net { option, relay: relay_addr.clone(), wait: WAIT };
    let profile = |cmd: &str| {
        format!(
            "{BIN} --profile {} --passphrase-file {} --insecure-loopback {} {cmd}",
            dir.join("alice").display(),
            dir.join("pass").display(),
            dir.join("loopback").display(),
        )
    };
    let pid_file = dir.join("alice.pid");
    let command = format!(
        "sh -c 'echo $$ > {}; trap \"\" XFSZ; exec {} 2>{}'",
        pid_file.display(),
        profile("tui"),
        dir.join("alice.stderr").display(),
    );
    let alice = Tmux::start("fulldisk", &command, 80, 24).expect("tmux");
    alice.wait_text("● alice", WAIT).expect("the TUI is up");
    let bob = tui(dir, "bob", &net);
    alice.line(&format!("/group new bastion {relay_addr}")).expect("keys");
    alice.wait_text("group bastion founded", WAIT).expect("founded");
    admit(&alice, &bob, WAIT);
    alice.line("before the disk filled").expect("keys");
    alice.wait_text("you: before the disk filled", WAIT).expect("sent");
    bob.wait_text("before the disk filled", WAIT).expect("bob reads it");
    let pid = std::fs::read_to_string(&pid_file).expect("pid");

    file_size_limit(pid.trim(), "4096");
    bob.line("sent while alice's disk was full").expect("keys");
    bob.wait_text("you: sent while alice's disk was full", WAIT).expect("bob sent it");
    alice.line("written on a full disk").expect("keys");
    // The error names the store; the line is back at the prompt.
    let screen = alice
        .wait_for("the error and the line back", WAIT, |s| {
            s.contains("store.redb") && s.lines().any(|l| l == "> written on a full disk")
        })
        .expect("refused");
    assert!(!screen.contains("you: written on a full disk"), "not shown as sent: {screen}");

    file_size_limit(pid.trim(), "unlimited");
    alice.keys(&["Enter"]).expect("keys");
    alice.wait_text("you: written on a full disk", WAIT).expect("sent once there is room");
    alice.wait_text("bob: sent while alice's disk was full", WAIT).expect("bob's line came");
    bob.wait_text("written on a full disk", WAIT).expect("bob reads it");
    alice.line("and the session goes on").expect("keys");
    alice.wait_text("you: and the session goes on", WAIT).expect("sent");
    alice.keys(&["C-c"]).expect("keys");
    alice.wait_for("exit", WAIT, |_| alice.exit_status().ok().flatten().is_some()).expect("exit");
    assert_eq!(alice.exit_status().expect("status"), Some(0));

    // Stored once each, in order; nothing left waiting for the relay.
    let read = run_shell(&profile("chat read bastion"));
    let lines: Vec<&str> = read.lines().collect();
    let count = |text: &str| lines.iter().filter(|l| l.contains(text)).count();
    assert_eq!(count("written on a full disk"), 1, "{read}");
    assert_eq!(count("before the disk filled"), 1, "{read}");
    assert_eq!(count("sent while alice's disk was full"), 1, "{read}");
    let full = lines.iter().position(|l| l.contains("written on a full disk"));
    let after = lines.iter().position(|l| l.contains("and the session goes on"));
    assert!(full < after, "in order: {read}");
    let status = run_shell(&profile("status"));
    assert!(status.contains("outbox   0 waiting"), "{status}");
}

/// Sets the soft file-size limit (bytes, or "unlimited") of process `pid`.
fn file_size_limit(pid: &str, bytes: &str) {
    let out = Command::new("prlimit")
        .args(["--pid", pid, &format!("--fsize={bytes}:")])
        .output()
        .expect("prlimit (util-linux)");
    assert!(out.status.success(), "prlimit: {}", String::from_utf8_lossy(&out.stderr));
}

/// Runs a shell command line; its standard output.
fn run_shell(command: &str) -> String {
    let out = Command::new("sh").args(["-c", command]).output().expect("sh");
    assert!(out.status.success(), "{command}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
