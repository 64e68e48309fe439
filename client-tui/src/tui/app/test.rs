//! Key-by-key tests of the UI state: what each key does and what reaches
//! the backend.

use cairn_net::node::{NodeEvent, SecurityWarning};
use cairn_net::proto::crypto::PublicKey;
use cairn_net::proto::wire::{GroupId, MessageId};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::tui::snapshot::sample;

fn app() -> App {
    let mut a = App::new("alice".into(), false);
    a.update(Update::Snapshot(sample()));
    a
}

fn press(a: &mut App, code: KeyCode) -> Vec<Job> {
    a.key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ctrl(a: &mut App, c: char) -> Vec<Job> {
    a.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn type_line(a: &mut App, text: &str) -> Vec<Job> {
    for c in text.chars() {
        assert!(press(a, KeyCode::Char(c)).is_empty());
    }
    press(a, KeyCode::Enter)
}

const GROUP: GroupId = GroupId([9; 32]);
const BOB: PublicKey = PublicKey([2; 32]);

#[test]
fn a_chat_line_goes_to_the_backend_and_comes_back_to_the_input_if_it_fails() {
    let mut a = app();
    let jobs = type_line(&mut a, "meeting moved to 9");
    let chat = Request::Act(Action::Chat {
        group: GROUP,
        text: "meeting moved to 9".into(),
        reply_to: None,
    });
    assert_eq!(jobs, [Job { request: chat, typed: Some("meeting moved to 9".into()) }]);
    assert!(a.input.is_empty());
    a.update(Update::Done {
        result: Err("refused by the group's rules".into()),
        typed: Some("meeting moved to 9".into()),
    });
    assert_eq!(a.input, "meeting moved to 9", "what the user typed is never lost");
    assert!(matches!(&a.notice, Some((true, t)) if t.contains("refused")));
}

#[test]
fn a_failed_line_does_not_overwrite_what_was_typed_since() {
    let mut a = app();
    type_line(&mut a, "first");
    for c in "second".chars() {
        press(&mut a, KeyCode::Char(c));
    }
    a.update(Update::Done { result: Err("no relay".into()), typed: Some("first".into()) });
    assert_eq!(a.input, "second");
    assert!(matches!(&a.notice, Some((true, t)) if t.contains("first")));
}

#[test]
fn a_reply_goes_to_the_selected_line() {
    let mut a = app();
    press(&mut a, KeyCode::Up);
    press(&mut a, KeyCode::Up);
    assert_eq!(a.chat_sel, Some(2), "the sample's first line is an event");
    let jobs = type_line(&mut a, "/reply sounds good");
    let reply = Request::Act(Action::Chat {
        group: GROUP,
        text: "sounds good".into(),
        reply_to: Some(MessageId([2; 32])),
    });
    assert_eq!(jobs[0].request, reply);
    let mut b = app();
    assert!(type_line(&mut b, "/reply nothing selected").is_empty());
    assert_eq!(b.input, "/reply nothing selected", "kept with the reason");
    for _ in 0..4 {
        press(&mut b, KeyCode::Up);
    }
    assert_eq!(b.chat_sel, Some(0));
    assert!(type_line(&mut b, "/reply to an event").is_empty(), "events take no replies");
    assert!(matches!(&b.notice, Some((true, t)) if t.contains("not a chat line")));
}

#[test]
fn task_commands_act_on_the_selected_task_or_a_numbered_one() {
    let mut a = app();
    // Outside the board a task must be named.
    assert!(type_line(&mut a, "/close").is_empty());
    assert!(matches!(&a.notice, Some((true, t)) if t.contains("#N")));
    a.input.clear();
    press(&mut a, KeyCode::F(3));
    // Board order: open (#1), assigned (#2), closed (#3).
    press(&mut a, KeyCode::Down);
    let jobs = type_line(&mut a, "/comment looks right");
    let comment = Request::Act(Action::Comment {
        group: GROUP,
        task: MessageId([11; 32]),
        text: "looks right".into(),
    });
    assert_eq!(jobs[0].request, comment);
    let jobs = type_line(&mut a, "/assign #1 bob");
    assert_eq!(
        jobs[0].request,
        Request::Act(Action::AssignTask {
            group: GROUP,
            task: MessageId([10; 32]),
            assign: vec![BOB],
            unassign: Vec::new(),
        })
    );
    let jobs = type_line(&mut a, "/reopen #3");
    assert_eq!(
        jobs[0].request,
        Request::Act(Action::CloseTask { group: GROUP, task: MessageId([12; 32]), close: false })
    );
    assert!(type_line(&mut a, "/assign #1 mallory").is_empty());
    assert!(matches!(&a.notice, Some((true, t)) if t.contains("mallory")));
}

#[test]
fn the_filter_narrows_the_board() {
    let mut a = app();
    type_line(&mut a, "/filter mine");
    assert_eq!(a.view, View::Tasks);
    let numbers: Vec<usize> = a.visible_tasks().iter().map(|t| t.number).collect();
    assert_eq!(numbers, [3]);
    type_line(&mut a, "/filter open");
    let numbers: Vec<usize> = a.visible_tasks().iter().map(|t| t.number).collect();
    assert_eq!(numbers, [1, 2]);
}

#[test]
fn a_join_request_pops_up_and_y_admits_with_its_code() {
    let mut a = app();
    a.update(Update::Event(NodeEvent::JoinRequest {
        group: GROUP,
        fingerprint: "ab12 cd34".into(),
        short_code: "123-456".into(),
        name: "carol".into(),
    }));
    assert!(matches!(a.popup, Some(Popup::JoinRequest { .. })));
    let jobs = press(&mut a, KeyCode::Char('y'));
    assert_eq!(
        jobs[0].request,
        Request::Act(Action::Approve { code: "123-456".into(), admit: true })
    );
    assert_eq!(a.popup, None);
    // While typing, y is just a letter.
    a.update(Update::Event(NodeEvent::JoinRequest {
        group: GROUP,
        fingerprint: "ab12".into(),
        short_code: "999-000".into(),
        name: "dave".into(),
    }));
    press(&mut a, KeyCode::Char('o'));
    assert!(press(&mut a, KeyCode::Char('y')).is_empty());
    assert_eq!(a.input, "oy");
}

/// A request answered by another member who may invite: its popup goes,
/// and the notice says who answered; another request's popup stays.
#[test]
fn a_join_request_answered_elsewhere_closes_its_popup_and_says_who_answered() {
    let mut a = app();
    let ask = |code: &str| {
        Update::Event(NodeEvent::JoinRequest {
            group: GROUP,
            fingerprint: "ab12".into(),
            short_code: code.into(),
            name: "carol".into(),
        })
    };
    let answer = |code: &str, admitted: bool| {
        Update::Event(NodeEvent::JoinAnswered {
            group: GROUP,
            short_code: code.into(),
            name: "carol".into(),
            admitted,
            by: PublicKey([0xbb; 32]),
        })
    };
    a.update(ask("123-456"));
    a.update(answer("999-000", true));
    assert!(matches!(a.popup, Some(Popup::JoinRequest { .. })), "another request's answer");
    a.update(answer("123-456", false));
    assert_eq!(a.popup, None);
    let (_, text) = a.notice.clone().expect("a notice");
    assert!(text.contains("123-456") && text.contains("declined by bbbb"), "{text}");
}

#[test]
fn question_mark_opens_help_only_on_an_empty_line() {
    let mut a = app();
    press(&mut a, KeyCode::Char('?'));
    assert!(a.help);
    press(&mut a, KeyCode::Esc);
    assert!(!a.help);
    press(&mut a, KeyCode::Char('w'));
    press(&mut a, KeyCode::Char('?'));
    assert!(!a.help);
    assert_eq!(a.input, "w?");
}

#[test]
fn ctrl_c_clears_a_typed_line_before_it_quits() {
    let mut a = app();
    press(&mut a, KeyCode::Char('x'));
    ctrl(&mut a, 'c');
    assert!(!a.quit);
    assert!(a.input.is_empty());
    ctrl(&mut a, 'c');
    assert!(a.quit);
}

#[test]
fn ctrl_n_selects_the_next_group_in_the_backend() {
    let mut a = app();
    let jobs = ctrl(&mut a, 'n');
    assert_eq!(jobs[0].request, Request::Select(Some(GroupId([8; 32]))));
    let jobs = ctrl(&mut a, 'n');
    assert_eq!(jobs[0].request, Request::Select(Some(GROUP)), "wraps around");
}

#[test]
fn a_warning_is_counted_and_explained() {
    let mut a = app();
    a.update(Update::Event(NodeEvent::Warning(SecurityWarning::Withheld {
        group: GROUP,
        relay: "r1.onion:443".into(),
        count: 3,
    })));
    assert_eq!(a.warnings.len(), 1);
    assert!(a.warnings[0].summary.contains("r1.onion:443"));
    assert!(a.warnings[0].detail.contains("Nothing was lost"));
    assert!(matches!(&a.notice, Some((true, t)) if t.contains("F5")));
}

#[test]
fn tab_completes_a_member_name_in_a_command() {
    let mut a = app();
    for c in "/assign #1 b".chars() {
        press(&mut a, KeyCode::Char(c));
    }
    press(&mut a, KeyCode::Tab);
    assert_eq!(a.input, "/assign #1 bob ");
}

#[test]
fn a_join_request_answered_elsewhere_closes_when_the_member_appears() {
    let mut a = app();
    a.update(Update::Event(NodeEvent::JoinRequest {
        group: GROUP,
        fingerprint: "ab12".into(),
        short_code: "123-456".into(),
        name: "dave".into(),
    }));
    // A refresh without a new member keeps the question open.
    a.update(Update::Snapshot(sample()));
    assert!(matches!(a.popup, Some(Popup::JoinRequest { .. })));
    let mut grown = sample();
    let g = grown.group.as_mut().expect("group");
    let mut dave = g.members[0].clone();
    dave.name = "dave".into();
    g.members.push(dave);
    a.update(Update::Snapshot(grown));
    assert_eq!(a.popup, None);
}

#[test]
fn scrolling_past_the_top_of_the_carried_lines_asks_for_older_ones() {
    let mut a = app();
    for _ in 0..4 {
        assert!(press(&mut a, KeyCode::Up).is_empty());
    }
    assert_eq!(a.chat_sel, Some(0));
    // Every line is carried: nothing to ask for.
    assert!(press(&mut a, KeyCode::Up).is_empty());
    let mut s = sample();
    s.group.as_mut().expect("group").chat_earlier = 10;
    a.update(Update::Snapshot(s));
    let jobs = press(&mut a, KeyCode::Up);
    assert_eq!(jobs, [Job { request: Request::Older, typed: None }]);
    assert_eq!(a.chat_sel, Some(0));
}

#[test]
fn the_chat_selection_stays_on_its_line_when_the_window_moves() {
    let mut a = app();
    press(&mut a, KeyCode::Up);
    press(&mut a, KeyCode::Up);
    let chosen = a.group().expect("group").chat[a.chat_sel.expect("selected")].id;
    // Older lines came in before it, and the outbox count moved.
    let mut s = sample();
    let g = s.group.as_mut().expect("group");
    let mut older = g.chat[1].clone();
    older.id = MessageId([77; 32]);
    g.chat.insert(0, older.clone());
    g.chat.insert(0, older);
    a.update(Update::Snapshot(s));
    a.update(Update::Outbox(3));
    let now = a.group().expect("group").chat[a.chat_sel.expect("selected")].id;
    assert_eq!(now, chosen);
    assert_eq!(a.snapshot.outbox, 3);
}
