//! Render tests: the views drawn into ratatui's `TestBackend` at 80×24
//! (the smallest supported terminal) and read back as text.

use cairn_net::node::{NodeEvent, SecurityWarning};
use cairn_net::proto::wire::GroupId;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

use super::app::{App, Popup, Update, View};
use super::snapshot::sample;
use super::view;

fn app() -> App {
    let mut a = App::new("alice".into(), false);
    a.update(Update::Snapshot(sample()));
    a.update(Update::Event(NodeEvent::TorBootstrap { percent: 45, blocked: None }));
    a.update(Update::Event(NodeEvent::RelayUp {
        group: GroupId([9; 32]),
        relay: "relay.onion:443".into(),
    }));
    a
}

fn render(a: &App, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| view::draw(f, a)).expect("draw");
    t.backend().buffer().clone()
}

fn rows(b: &Buffer) -> Vec<String> {
    (0..b.area.height)
        .map(|y| (0..b.area.width).map(|x| b[(x, y)].symbol().to_owned()).collect())
        .collect()
}

fn screen(a: &App) -> String {
    rows(&render(a, 80, 24)).join("\n")
}

#[test]
fn a_ui_started_after_tor_bootstrapped_shows_tor_ok_from_the_nodes_health() {
    // The node bootstrapped and listens before this UI started: the UI saw
    // no TorBootstrap event, only the health the backend sends first.
    let mut node = cairn_net::node::Health::new(true);
    node.apply(&NodeEvent::TorBootstrap { percent: 100, blocked: None }, 0);
    let mut a = App::new("alice".into(), false);
    assert!(rows(&render(&a, 80, 24))[0].contains("tor …"), "before the backend reports");
    a.update(Update::Health(node));
    a.update(Update::Snapshot(sample()));
    let top = &rows(&render(&a, 80, 24))[0];
    assert!(top.contains("tor ok"), "{top}");
}

#[test]
fn the_status_bar_shows_profile_tor_relays_and_sync_in_80_columns() {
    let mut a = app();
    a.now = 1_000;
    a.update(Update::Event(NodeEvent::Synced {
        group: GroupId([9; 32]),
        peer: cairn_net::proto::crypto::PublicKey([2; 32]),
        accepted: 1,
    }));
    a.now = 1_012;
    let b = render(&a, 80, 24);
    let top = &rows(&b)[0];
    assert!(top.starts_with("● alice"), "{top}");
    assert!(top.contains("tor 45%"), "{top}");
    assert!(top.contains("relays 1/1"), "{top}");
    assert!(top.contains("sync 12s ago"), "{top}");
    // The profile's name is drawn in the profile's own colour.
    assert_eq!(b[(2, 0)].fg, view::profile_colour("alice"));
    assert_ne!(view::profile_colour("alice"), view::profile_colour("work"));
}

#[test]
fn insecure_mode_and_waiting_messages_are_shown_in_the_status_bar() {
    let mut a = App::new("bob".into(), true);
    let mut s = sample();
    s.outbox = 2;
    a.update(Update::Snapshot(s));
    a.update(Update::Event(NodeEvent::Warning(SecurityWarning::RestoredUnconfirmed)));
    let top = rows(&render(&a, 80, 24))[0].clone();
    assert!(top.contains("NO TOR"), "{top}");
    assert!(top.contains("relays 0/1"), "{top}");
    assert!(top.contains("outbox 2"), "{top}");
    assert!(top.contains("⚠ 1"), "{top}");
}

/// A member holding no key of the current epoch is told it waits for one
/// (`keys.md`, "Stranded members"), and only then.
#[test]
fn a_stranded_member_sees_that_it_waits_for_the_groups_key() {
    assert!(!screen(&app()).contains("you hold no key of this epoch"));
    let mut snapshot = sample();
    if let Some(g) = snapshot.group.as_mut() {
        g.stranded = true;
    }
    let mut a = app();
    a.update(Update::Snapshot(snapshot));
    let s = screen(&a);
    assert!(s.contains("you hold no key of this epoch"), "{s}");
    assert!(s.contains("you: hello bob"), "the chat is still shown: {s}");
}

#[test]
fn the_chat_shows_authors_replies_and_the_groups() {
    let s = screen(&app());
    assert!(s.contains("you: hello bob"), "{s}");
    assert!(s.contains("bob: hi! ready when you are"), "{s}");
    assert!(s.contains("↳ bob: hi! ready when you are"), "{s}");
    assert!(s.contains("bastion") && s.contains("garden"), "{s}");
    assert!(s.contains("F2 chat"), "{s}");
}

#[test]
fn long_chat_follows_the_end_and_wraps_inside_the_pane() {
    let mut a = app();
    let mut s = sample();
    let g = s.group.as_mut().expect("group");
    for i in 0..40 {
        let mut line = g.chat[0].clone();
        line.text = format!("line {i} {}", "word ".repeat(20));
        g.chat.push(line);
    }
    a.update(Update::Snapshot(s));
    let text = screen(&a);
    assert!(text.contains("line 39"), "{text}");
    assert!(!text.contains("line 30 "), "older lines scrolled away");
    for row in rows(&render(&a, 80, 24)) {
        assert_eq!(row.chars().count(), 80);
    }
}

#[test]
fn the_task_board_has_a_column_per_state_and_the_selected_thread() {
    let mut a = app();
    a.view = View::Tasks;
    a.task_sel = 1;
    let s = screen(&a);
    for heading in ["open (1)", "assigned (1)", "closed (1)"] {
        assert!(s.contains(heading), "{heading}\n{s}");
    }
    assert!(s.contains("#1 buy a shovel"), "{s}");
    assert!(s.contains("#3 map the trail"), "{s}");
    assert!(s.contains("assigned: bob"), "{s}");
    assert!(s.contains("bob: on it"), "{s}");
    assert!(s.contains("you: (sealed)"), "{s}");
    assert!(s.contains("filter: all"), "{s}");
}

#[test]
fn members_show_roles_reachability_and_relays() {
    let mut a = app();
    a.view = View::Members;
    let s = screen(&a);
    assert!(s.contains("bob"), "{s}");
    assert!(s.contains("member"), "{s}");
    assert!(s.contains("relay.onion:443"), "{s}");
    assert!(s.contains("epoch 0a1b2c3d"), "{s}");
}

#[test]
fn help_lists_every_command_within_80_by_24() {
    let mut a = app();
    a.help = true;
    let s = screen(&a);
    for (word, _, _) in super::command::COMMANDS {
        if !["help", "chat", "tasks", "members", "warnings"].contains(word) {
            assert!(s.contains(&format!("/{word} ")), "/{word} missing\n{s}");
        }
    }
    assert!(s.contains("F5 warnings") && s.contains("/help (? F1)"), "{s}");
}

#[test]
fn an_invite_popup_shows_the_whole_invite_line_by_line() {
    let mut a = app();
    let invite = format!("cairn-invite1-{}", "abcdefgh".repeat(20));
    a.popup = Some(Popup::Invite { text: invite.clone(), minutes: 30 });
    let r = rows(&render(&a, 80, 24));
    let start = r.iter().position(|l| l.contains("cairn-invite1-")).expect("shown");
    let joined: String = r[start..]
        .iter()
        .map(|l| l.trim_matches(|c: char| c == '│' || c == ' ').to_owned())
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(joined, invite);
}

#[test]
fn a_warning_opens_with_what_it_means() {
    let mut a = app();
    a.update(Update::Event(NodeEvent::Warning(SecurityWarning::Withheld {
        group: GroupId([9; 32]),
        relay: "r1.onion:443".into(),
        count: 3,
    })));
    a.view = View::Warnings;
    let s = screen(&a);
    assert!(s.contains("relay r1.onion:443 withheld 3"), "{s}");
    assert!(s.contains("what it means"), "{s}");
    assert!(s.contains("Nothing was lost"), "{s}");
}

#[test]
fn tiny_and_empty_terminals_do_not_panic() {
    let mut a = app();
    for view in [View::Chat, View::Tasks, View::Members, View::Warnings] {
        a.view = view;
        a.help = view == View::Members;
        for (w, h) in [(1, 1), (10, 4), (20, 5), (80, 24), (200, 60)] {
            render(&a, w, h);
        }
    }
    let empty = App::new("new".into(), false);
    let s = screen(&empty);
    assert!(s.contains("/group new NAME"), "{s}");
}

#[test]
fn wrap_breaks_at_spaces_and_splits_long_words() {
    assert_eq!(view::wrap("aaa bbb ccc", 7), ["aaa bbb", "ccc"]);
    assert_eq!(view::wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
    assert_eq!(view::wrap("", 4), [""]);
    for w in 1..12 {
        for line in view::wrap("the quick brownfoxjumps over", w) {
            assert!(line.chars().count() <= w, "{w}: {line:?}");
        }
    }
}
