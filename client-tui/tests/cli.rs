//! The real `cairn` binary: bad input gets a clear message and a non-zero
//! exit code, and changes nothing; a second process on a profile is refused.

// A test shell: clocks belong here (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cairn");

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let env = Self { dir: tempfile::tempdir().expect("tempdir") };
        std::fs::write(env.path("pass"), "a long enough passphrase\n").expect("pass");
        std::fs::write(env.path("wrong"), "not the passphrase\n").expect("wrong");
        env
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self, profile: &str, pass: &str) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--profile").arg(self.path(profile)).arg("--passphrase-file").arg(self.path(pass));
        c.arg("--insecure-loopback").arg(self.path("loopback"));
        c
    }

    fn run(&self, profile: &str, pass: &str, args: &[&str]) -> Output {
        self.cmd(profile, pass).args(args).output().expect("run cairn")
    }

    /// Starts `cairn invite GROUP --role member --auto-approve` on
    /// `profile`; returns the process, its further output lines and the
    /// invite it printed first.
    fn auto_invite(&self, profile: &str, group: &str) -> (Child, InviterLines, String) {
        self.invite(profile, group, true)
    }

    /// Starts `cairn invite GROUP` (no terminal: it waits for `cairn
    /// approve` unless `auto`); the process, its further lines, the invite.
    fn invite(&self, profile: &str, group: &str, auto: bool) -> (Child, InviterLines, String) {
        use std::io::{BufRead as _, BufReader};
        let mut args = vec!["invite", group];
        if auto {
            args.extend(["--role", "member", "--auto-approve"]);
        }
        let mut inviter = self
            .cmd(profile, "pass")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("invite");
        let mut lines = BufReader::new(inviter.stdout.take().expect("stdout")).lines();
        let invite = lines.next().expect("a line").expect("utf8");
        (inviter, lines, invite)
    }

    /// Starts `cairn join INVITE --name NAME` on `profile`, output piped.
    fn spawn_join(&self, profile: &str, invite: &str, name: &str) -> Child {
        self.cmd(profile, "pass")
            .args(["join", invite, "--name", name])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("join")
    }

    /// `cairn approve` on `profile` until it lists a request (at most
    /// `tries`, 100 ms apart); what it printed last.
    fn listed(&self, profile: &str, tries: usize) -> String {
        let mut listed = String::new();
        for _ in 0..tries {
            let o = self.run(profile, "pass", &["approve"]);
            assert!(o.status.success(), "{}", stderr(&o));
            listed = stdout(&o);
            if listed.contains("wants to join") {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        listed
    }
}

/// What a running `cairn invite` prints after the invite.
type InviterLines = std::io::Lines<std::io::BufReader<std::process::ChildStdout>>;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every file under `dir` with a hash of its bytes, to show nothing
/// changed. redb rewrites its header when a database is opened, so the
/// store is compared by what it holds instead ([`holdings`]).
fn snapshot(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != "node.lock" && n != "store.redb") {
                let mut h = std::hash::DefaultHasher::new();
                std::hash::Hash::hash(&std::fs::read(&p).unwrap_or_default(), &mut h);
                out.push((p.clone(), std::hash::Hasher::finish(&h)));
            }
        }
    }
    out.sort();
    out
}

/// What the profile's store holds, as the CLI shows it: groups and chat.
fn holdings(env: &Env, profile: &str) -> String {
    let list = env.run(profile, "pass", &["--json", "group", "list"]);
    assert!(list.status.success(), "{}", stderr(&list));
    let mut all = stdout(&list);
    for line in stdout(&env.run(profile, "pass", &["group", "list"])).lines() {
        let id = line.split(' ').next().unwrap_or_default();
        all += &stdout(&env.run(profile, "pass", &["--json", "chat", "read", id]));
    }
    all
}

fn assert_refused(o: &Output, code: i32, words: &str) {
    assert_eq!(o.status.code(), Some(code), "stdout {} stderr {}", stdout(o), stderr(o));
    assert!(stderr(o).contains(words), "{words:?} not in: {}", stderr(o));
}

#[test]
fn a_missing_profile_is_refused_and_nothing_is_created() {
    let env = Env::new();
    let o = env.run("nobody", "pass", &["group", "list"]);
    assert_refused(&o, 3, "no profile here");
    assert!(!env.path("nobody").exists(), "a profile directory was created");
}

#[test]
fn a_wrong_passphrase_is_refused_and_changes_nothing() {
    let env = Env::new();
    assert!(env.run("p", "pass", &["init"]).status.success());
    let o = env.run("p", "pass", &["group", "create", "g"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = (snapshot(&env.path("p")), holdings(&env, "p"));
    let o = env.run("p", "wrong", &["chat", "send", "g", "hello"]);
    assert_refused(&o, 3, "wrong passphrase");
    assert_eq!((snapshot(&env.path("p")), holdings(&env, "p")), before);
}

#[test]
fn an_unknown_group_and_bad_arguments_are_refused_and_change_nothing() {
    let env = Env::new();
    assert!(env.run("p", "pass", &["init"]).status.success());
    assert!(env.run("p", "pass", &["group", "create", "g"]).status.success());
    let before = (snapshot(&env.path("p")), holdings(&env, "p"));
    assert_refused(&env.run("p", "pass", &["chat", "send", "nope", "x"]), 5, "no group");
    assert_refused(
        &env.run("p", "pass", &["group", "create", "g", "--template", "x"]),
        5,
        "unknown template",
    );
    assert_refused(
        &env.run("p", "pass", &["group", "create", "g", "--relay", "example.com:80"]),
        5,
        "relay",
    );
    assert_refused(&env.run("p", "pass", &["tui", "--color", "plaid"]), 5, "no colour");
    assert_refused(&env.run("nobody", "pass", &["tui", "--color", "cyan"]), 5, "no profile");
    assert!(!env.path("nobody").exists(), "a profile directory was created");
    assert_eq!((snapshot(&env.path("p")), holdings(&env, "p")), before);
    assert_eq!(env.run("p", "pass", &["chat", "frobnicate"]).status.code(), Some(2));
}

#[test]
fn a_malformed_recovery_string_is_refused_and_nothing_is_created() {
    let env = Env::new();
    std::fs::write(env.path("paper"), "definitely not a recovery string").expect("write");
    let paper = env.path("paper");
    let o = env.run(
        "r",
        "pass",
        &["identity", "restore", "--recovery-file", paper.to_str().expect("utf8")],
    );
    assert_refused(&o, 5, "not a valid recovery string");
    assert!(!env.path("r").exists());
}

#[test]
fn an_identity_restored_from_its_recovery_string_is_the_same_identity() {
    let env = Env::new();
    let made = env.run("p", "pass", &["init", "--json"]);
    assert!(made.status.success());
    let export = env.run("p", "pass", &["identity", "export"]);
    std::fs::write(env.path("paper"), stdout(&export)).expect("paper");
    let paper = env.path("paper");
    let o = env.run(
        "q",
        "pass",
        &["--json", "identity", "restore", "--recovery-file", paper.to_str().expect("utf8")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let first = stdout(&made);
    let first = first.lines().find(|l| l.starts_with('{')).expect("json line");
    assert_eq!(stdout(&o).lines().find(|l| l.starts_with('{')), Some(first));
}

fn wait_for_line(child: &mut Child, prefix: &str) {
    use std::io::{BufRead as _, BufReader};
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        match lines.next() {
            Some(Ok(l)) if l.starts_with(prefix) => return,
            Some(Ok(_)) => {}
            _ => break,
        }
    }
    panic!("no line starting with {prefix:?}");
}

/// `cairn demo` without the `cairn-demo` program beside it (the client
/// does not contain the demo): exit 1 and a message that says how to get
/// it. A copy of the binary in an empty directory has no such neighbour.
#[test]
fn demo_without_cairn_demo_beside_it_says_how_to_run_the_demo() {
    let env = Env::new();
    let alone = env.path("cairn");
    std::fs::copy(BIN, &alone).expect("copy cairn");
    let o = Command::new(&alone).args(["demo", "--headless"]).output().expect("run cairn demo");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("cargo run -p cairn-demo"), "{}", stderr(&o));
}

#[test]
fn a_second_process_on_the_same_profile_is_refused() {
    let env = Env::new();
    assert!(env.run("p", "pass", &["init"]).status.success());
    let mut first = env.cmd("p", "pass").arg("run").stdout(Stdio::piped()).spawn().expect("run");
    wait_for_line(&mut first, "identity ");
    let o = env.run("p", "pass", &["group", "list"]);
    assert_refused(&o, 4, "in use by another cairn process");
    assert!(stderr(&o).contains(&format!("pid {}", first.id())), "{}", stderr(&o));
    first.kill().expect("kill");
    first.wait().expect("wait");
    // The lock dies with the process, even on SIGKILL.
    assert!(env.run("p", "pass", &["group", "list"]).status.success());
}

#[test]
fn run_keeps_the_node_online_when_its_output_is_closed() {
    let env = Env::new();
    assert!(env.run("p", "pass", &["init"]).status.success());
    // A relay that is down: `run` keeps reporting it, after the reader left.
    let relay = format!("127.0.0.1:{}", free_port());
    assert!(env.run("p", "pass", &["group", "create", "g", "--relay", &relay]).status.success());
    let mut run = env
        .cmd("p", "pass")
        .arg("run")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    wait_for_line(&mut run, "identity "); // drops the reading end
    std::thread::sleep(Duration::from_secs(3));
    assert!(run.try_wait().expect("wait").is_none(), "run stopped when its reader left");
    // Still holding the profile: the node is online.
    assert_refused(&env.run("p", "pass", &["group", "list"]), 4, "in use by another cairn process");
    run.kill().expect("kill");
    let out = run.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
}

/// A free loopback port (bound, then released).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn a_message_written_offline_survives_sigkill_and_is_delivered_after_restart() {
    let env = Env::new();
    assert!(env.run("p", "pass", &["init"]).status.success());
    let relay_addr = format!("127.0.0.1:{}", free_port());
    let o = env.run("p", "pass", &["group", "create", "g", "--relay", &relay_addr]);
    assert!(o.status.success(), "{}", stderr(&o));

    // The relay is down: the message goes to the outbox, then the process
    // is killed while it waits to deliver.
    let mut send =
        env.cmd("p", "pass").args(["chat", "send", "g", "typed offline"]).spawn().expect("send");
    std::thread::sleep(Duration::from_secs(3));
    send.kill().expect("SIGKILL");
    send.wait().expect("reap");
    let read = env.run("p", "pass", &["--json", "chat", "read", "g"]);
    let line = stdout(&read);
    assert!(line.contains("typed offline"), "the message was lost: {line}");
    let id = line.split("\"message\":\"").nth(1).and_then(|s| s.get(..64)).expect("id").to_owned();

    // The relay comes up on that address; the next run delivers it.
    let dir = env.path("relay");
    let port = relay_addr.rsplit(':').next().expect("port");
    std::fs::create_dir_all(&dir).expect("dir");
    let config = format!(
        "data_dir = {:?}\n[listen]\ntcp = [\"127.0.0.1:{port}\"]\nmetrics = \"127.0.0.1:0\"\n[log]\nlevel = \"warn\"\n",
        dir.join("data")
    );
    std::fs::write(dir.join("relay.toml"), config).expect("config");
    let bin = cairn_tests::relay_proc::relay_binary().expect("relay binary");
    let mut relay = Command::new(bin)
        .args(["run", "--config"])
        .arg(dir.join("relay.toml"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("relay");
    wait_for_line(&mut relay, "ready");
    let mut run = env.cmd("p", "pass").arg("run").stdout(Stdio::piped()).spawn().expect("run");
    wait_for_line(&mut run, &format!("delivered {id}"));
    run.kill().expect("kill");
    run.wait().expect("wait");
    relay.kill().expect("kill relay");
    relay.wait().expect("wait relay");
}

#[test]
fn invite_and_join_on_the_command_line_and_a_used_invite_is_refused() {
    let env = Env::new();
    for p in ["a", "b"] {
        assert!(env.run(p, "pass", &["init"]).status.success());
    }
    assert!(env.run("a", "pass", &["group", "create", "g"]).status.success());
    let (mut inviter, mut lines, invite) = env.auto_invite("a", "g");
    assert!(invite.starts_with("cairn-invite1-"), "{invite}");
    let joined = env.run("b", "pass", &["join", &invite, "--name", "bob"]);
    assert!(joined.status.success(), "{}", stderr(&joined));
    assert!(stdout(&joined).starts_with("joined "));
    assert!(stderr(&joined).contains("compare this code"), "{}", stderr(&joined));
    let admitted = lines.next().expect("a line").expect("utf8");
    assert!(admitted.starts_with("admitted "), "{admitted}");
    assert!(inviter.wait().expect("wait").success());
    // A used invite is refused with a clear message, exit code 1.
    let again = env.run("b", "pass", &["join", &invite]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("already"), "{}", stderr(&again));
    let members = env.run("a", "pass", &["member", "list", "g"]);
    assert_eq!(stdout(&members).lines().count(), 2, "{}", stdout(&members));
}

/// Inviting and approving as separate commands: `cairn invite` waits (no
/// terminal, so it does not ask), `cairn approve` lists the request with the
/// code the joiner sees and admits it; with nothing waiting it says so.
#[test]
fn approve_answers_a_waiting_invite_from_another_process() {
    let env = Env::new();
    for p in ["a", "b"] {
        assert!(env.run(p, "pass", &["init"]).status.success());
    }
    assert!(env.run("a", "pass", &["group", "create", "g"]).status.success());
    // Nothing waits here and nobody shared a request: it says so.
    let none = env.run("a", "pass", &["approve"]);
    assert!(none.status.success(), "{}", stderr(&none));
    assert!(stdout(&none).contains("no join request is waiting"), "{}", stdout(&none));
    let (mut inviter, mut lines, invite) = env.invite("a", "g", false);
    let joiner = env.spawn_join("b", &invite, "bob");
    let listed = env.listed("a", 300);
    assert!(listed.contains("\"bob\" wants to join"), "{listed}");
    let code = listed.rsplit("code ").next().expect("code").trim().to_owned();
    assert_refused(&env.run("a", "pass", &["approve", "000-000"]), 5, "no join request");
    let o = env.run("a", "pass", &["approve", &code]);
    assert!(o.status.success(), "{}", stderr(&o));
    let joined = joiner.wait_with_output().expect("join");
    assert!(joined.status.success(), "{}", String::from_utf8_lossy(&joined.stderr));
    // The joiner was shown the same code.
    assert!(String::from_utf8_lossy(&joined.stderr).contains(&code));
    let admitted = lines.next().expect("a line").expect("utf8");
    assert!(admitted.starts_with("admitted "), "{admitted}");
    assert!(inviter.wait().expect("wait").success());
    assert!(!env.path("a").join("approve.sock").exists(), "the socket is removed");
}

/// A join waiting at the inviter's `cairn invite` is shared with the other
/// member who may invite: with no node of its own running, `cairn approve`
/// lists it (`cairn group show` too) and admits it; the inviter welcomes
/// the joiner into that admission, and the joiner is in.
#[test]
fn another_member_lists_and_admits_a_join_waiting_at_the_inviter() {
    let env = Env::new();
    let relay = cairn_tests::relay_proc::RelayProc::start(&env.path("relay"), true, false, "")
        .expect("relay");
    let relay_addr = relay.tcp.clone().expect("tcp");
    for p in ["a", "b", "c"] {
        assert!(env.run(p, "pass", &["init"]).status.success());
    }
    let o = env.run("a", "pass", &["group", "create", "g", "--relay", &relay_addr]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (mut inviter, mut first, invite) = env.auto_invite("a", "g");
    let joined = env.run("b", "pass", &["join", &invite, "--name", "bob"]);
    assert!(joined.status.success(), "{}", stderr(&joined));
    assert!(first.next().expect("a line").expect("utf8").starts_with("admitted "));
    assert!(inviter.wait().expect("wait").success());

    let (mut inviter, mut lines, invite) = env.invite("a", "g", false);
    let joiner = env.spawn_join("c", &invite, "carol");
    // No node runs on b: each `approve` opens it and syncs for a moment.
    let listed = env.listed("b", 20);
    assert!(listed.contains("\"carol\" wants to join"), "{listed}");
    let code = listed.rsplit("code ").next().expect("code").trim().to_owned();
    let shown = env.run("b", "pass", &["group", "show", "g"]);
    assert!(stdout(&shown).contains(&format!("join    code {code}")), "{}", stdout(&shown));
    let o = env.run("b", "pass", &["approve", &code]);
    assert!(o.status.success(), "{}", stderr(&o));
    let joined = joiner.wait_with_output().expect("join");
    assert!(joined.status.success(), "{}", String::from_utf8_lossy(&joined.stderr));
    assert!(String::from_utf8_lossy(&joined.stderr).contains(&code), "the joiner saw the code");
    let admitted = lines.next().expect("a line").expect("utf8");
    assert!(admitted.starts_with("admitted "), "{admitted}");
    assert!(inviter.wait().expect("wait").success());
    let members = env.run("b", "pass", &["member", "list", "g"]);
    assert_eq!(stdout(&members).lines().count(), 3, "{}", stdout(&members));
    drop(relay);
}

/// Every subcommand once, as a script would use it, against a real relay:
/// each exits 0 and says what it did; then bad input to the task, role and
/// member commands is refused with exit 5 and a reason.
#[test]
fn every_subcommand_works_from_a_script_and_refuses_bad_input() {
    let env = Env::new();
    let relay = cairn_tests::relay_proc::RelayProc::start(&env.path("relay"), true, false, "")
        .expect("relay");
    let relay_addr = relay.tcp.clone().expect("tcp");
    let ok = |args: &[&str]| -> String {
        let o = env.run("a", "pass", args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        stdout(&o)
    };
    ok(&["init"]);
    let me: serde_json::Value =
        serde_json::from_str(&ok(&["--json", "identity", "show"])).expect("json");
    let key = me["identity"].as_str().expect("identity key").to_owned();
    assert_eq!(key.len(), 64, "{me}");
    assert!(!ok(&["identity", "export"]).trim().is_empty(), "a recovery string");
    assert!(ok(&["group", "create", "g", "--relay", &relay_addr]).starts_with("group "));
    let groups: serde_json::Value =
        serde_json::from_str(&ok(&["--json", "group", "list"])).expect("json");
    assert!(groups.to_string().contains("\"g\""), "{groups}");
    assert!(ok(&["group", "show", "g"]).contains(&relay_addr));
    let sent = ok(&["chat", "send", "g", "the well is dry"]);
    assert!(!sent.contains("queued"), "the relay took it: {sent}");
    assert!(ok(&["chat", "read", "g"]).contains("the well is dry"));
    let task = ok(&["task", "new", "g", "dig a new well"]);
    let id = task.trim().strip_prefix("task ").expect("task id")[..12].to_owned();
    assert!(ok(&["task", "list", "g"]).contains("dig a new well"));
    ok(&["role", "assign", "g", &key, "member"]);
    ok(&["task", "assign", "g", &id, &key]);
    ok(&["task", "comment", "g", &id, "found water at 6 m"]);
    let shown = ok(&["task", "show", "g", &id]);
    assert!(shown.contains("dig a new well") && shown.contains("found water at 6 m"), "{shown}");
    ok(&["task", "close", "g", &id]);
    let closed: serde_json::Value =
        serde_json::from_str(&ok(&["--json", "task", "list", "g"])).expect("json");
    assert!(closed.to_string().contains("\"state\":\"closed\""), "{closed}");
    ok(&["task", "reopen", "g", &id]);
    ok(&["role", "revoke", "g", &key, "member"]);
    ok(&["rotate", "g"]);
    ok(&["relay", "add", "g", "127.0.0.1:9"]);
    assert!(ok(&["relay", "list", "g"]).contains("127.0.0.1:9"));
    ok(&["relay", "remove", "g", "127.0.0.1:9"]);
    assert!(!ok(&["relay", "list", "g"]).contains("127.0.0.1:9"));
    assert_eq!(ok(&["member", "list", "g"]).lines().count(), 1);
    ok(&["member", "name", "g", "Ana of the well"]);
    assert!(ok(&["member", "list", "g"]).contains("Ana of the well"));
    assert!(ok(&["chat", "read", "g"]).contains("Ana of the well: the well is dry"));
    let founded = ok(&["group", "create", "h", "--as", "ana"]);
    let h = founded.split_whitespace().nth(1).expect("group id").to_owned();
    assert!(ok(&["group", "show", &h]).contains(" ana"), "named at creation");
    let status: serde_json::Value = serde_json::from_str(&ok(&["--json", "status"])).expect("json");
    assert_eq!(status["identity"].as_str(), Some(key.as_str()), "{status}");
    ok(&["resync"]);

    let before = holdings(&env, "a");
    assert_refused(&env.run("a", "pass", &["task", "show", "g", "ffffffff"]), 5, "no task");
    assert_refused(&env.run("a", "pass", &["role", "assign", "g", &key, "wizard"]), 5, "wizard");
    assert_refused(&env.run("a", "pass", &["member", "remove", "g", "00"]), 5, "");
    assert_refused(&env.run("a", "pass", &["task", "assign", "g", &id, "nobody"]), 5, "");
    let long = "n".repeat(65);
    assert_refused(&env.run("a", "pass", &["member", "name", "g", &long]), 5, "too long");
    assert_refused(&env.run("a", "pass", &["group", "create", "x", "--as", &long]), 5, "too long");
    assert_eq!(holdings(&env, "a"), before, "refused commands changed nothing");
}

/// `cairn group leave`: the leave reaches the founder through the relay,
/// the group is marked left and refuses writing, `--delete-history`
/// afterwards removes it from the profile, and deleting the history of a
/// group with no relay at once is refused (the leave would have no way
/// out).
#[test]
fn leaving_on_the_command_line_reaches_the_others_and_deletes_when_asked() {
    let env = Env::new();
    let relay = cairn_tests::relay_proc::RelayProc::start(&env.path("relay"), true, false, "")
        .expect("relay");
    let relay_addr = relay.tcp.clone().expect("tcp");
    for p in ["a", "b"] {
        assert!(env.run(p, "pass", &["init"]).status.success());
    }
    let created = env.run("a", "pass", &["group", "create", "g", "--relay", &relay_addr]);
    assert!(created.status.success(), "{}", stderr(&created));
    // Its output is kept open: it prints the admission before it exits.
    let (mut inviter, _output, invite) = env.auto_invite("a", "g");
    let joined = env.run("b", "pass", &["join", &invite, "--name", "bob"]);
    assert!(joined.status.success(), "{}", stderr(&joined));
    assert!(inviter.wait().expect("wait").success());

    let left = env.run("b", "pass", &["group", "leave", "g"]);
    assert!(left.status.success(), "{}", stderr(&left));
    assert!(stdout(&left).contains("left g: keys erased, history kept"), "{}", stdout(&left));
    assert!(!stdout(&left).contains("queued"), "the relay took the leave: {}", stdout(&left));
    assert!(stdout(&env.run("b", "pass", &["group", "list"])).contains("g (left)"));
    assert!(stdout(&env.run("b", "pass", &["group", "show", "g"])).contains("you left"));
    assert_refused(&env.run("b", "pass", &["chat", "send", "g", "hello?"]), 5, "you left");
    let mut members = String::new();
    for _ in 0..100 {
        members = stdout(&env.run("a", "pass", &["member", "list", "g"]));
        if members.lines().count() == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(members.lines().count(), 1, "the founder still lists bob: {members}");

    let deleted = env.run("b", "pass", &["group", "leave", "g", "--delete-history"]);
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    assert!(stdout(&deleted).contains("history deleted"), "{}", stdout(&deleted));
    assert!(!stdout(&env.run("b", "pass", &["group", "list"])).contains(" g"));
    assert_refused(&env.run("b", "pass", &["group", "show", "g"]), 5, "no group \"g\"");

    assert!(env.run("a", "pass", &["group", "create", "h"]).status.success());
    let refused = env.run("a", "pass", &["group", "leave", "h", "--delete-history"]);
    assert_refused(&refused, 5, "no relays");
    assert!(!stdout(&env.run("a", "pass", &["group", "list"])).contains("(left)"));
}
