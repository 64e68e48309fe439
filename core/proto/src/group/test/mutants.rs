//! Tests written for mutants that survived `scripts/mutants`: each pins a
//! rule of the authorization code that no other test could tell apart from
//! a slightly different one.

use super::*;
use crate::group::STATE_HASH_CONTEXT;

/// owner (founder) above admin and member; recovery by the earliest member.
const LIVE: &str = r#"founder = "owner"
recovery = "earliest-member"
[roles.owner]
powers = ["chat", "invite", "remove", "change-rules"]
manages = ["admin", "member"]
[roles.admin]
powers = ["chat", "invite", "change-rules"]
manages = ["member"]
[roles.member]
powers = ["chat"]
"#;

/// Recovery gives every power to the earliest member only when the group is
/// headless: in a live group the earliest member has its roles' powers.
#[test]
fn the_earliest_member_of_a_live_group_gets_no_extra_power() {
    let rules = Rules::from_toml(LIVE).expect("valid");
    let mut sim = Sim::new(b"live", 3, &rules);
    let b = add(&sim, 1, &["admin"]);
    sim.act(0, b);
    let b = add(&sim, 2, &["member"]);
    sim.act(0, b);
    // The founder leaves: the admin is now the earliest member, and holds
    // change-rules, so the group is not headless.
    sim.act(0, Body::Leave);
    let s = sim.nodes[1].fold.state().expect("state");
    assert!(!s.headless());
    assert_eq!(s.earliest_member(), Some(sim.key(1)));
    let b = assign(&sim, 2, "owner");
    let id = sim.act(1, b);
    assert_eq!(verdict(&sim, 2, &id), Verdict::Refused(Refusal::Unmanaged("owner".into())));
    let b = remove(&sim, 2);
    let id = sim.act(1, b);
    assert_eq!(verdict(&sim, 2, &id), Verdict::Refused(Refusal::Lacks(Power::Remove)));
    assert!(members(&sim, 0).contains(&sim.key(2)));
}

/// Editing a task: its creator may (with `create-task`), anyone else needs
/// `edit-task`.
#[test]
fn only_the_creator_or_an_editor_edits_a_task() {
    let mut sim = pursuance_group(b"edit");
    let edit = |t: MessageId| {
        Body::TaskEdit(crate::wire::TaskEdit {
            task: t,
            readable_by: vec!["contributor".into()],
            content: Sealed(b"new".to_vec()),
        })
    };
    let by_coordinator = sim.act(1, task(&["contributor"], vec![]));
    let by_contributor = sim.act(2, task(&["contributor"], vec![]));
    // The contributor has create-task but not edit-task.
    let id = sim.act(2, edit(by_coordinator));
    assert_eq!(verdict(&sim, 0, &id), Verdict::Refused(Refusal::Lacks(Power::EditTask)));
    let id = sim.act(2, edit(by_contributor));
    assert_eq!(verdict(&sim, 0, &id), Verdict::Applied);
    let id = sim.act(1, edit(by_contributor));
    assert_eq!(verdict(&sim, 0, &id), Verdict::Applied, "a coordinator edits any task");
}

/// Closing an open task applies and closes it; closing it again does not.
#[test]
fn a_task_closes_once_and_reopens_once() {
    let mut sim = pursuance_group(b"close");
    let t = sim.act(2, task(&["contributor"], vec![]));
    let close = sim.act(2, Body::TaskClose(TaskRef { task: t }));
    assert_eq!(verdict(&sim, 0, &close), Verdict::Applied);
    let open = |sim: &Sim| sim.nodes[0].fold.state().map(|s| s.tasks[&t].open);
    assert_eq!(open(&sim), Some(false));
    let reopen = sim.act(2, Body::TaskReopen(TaskRef { task: t }));
    assert_eq!(verdict(&sim, 0, &reopen), Verdict::Applied);
    assert_eq!(open(&sim), Some(true));
    let again = sim.act(2, Body::TaskReopen(TaskRef { task: t }));
    assert_eq!(verdict(&sim, 0, &again), Verdict::Refused(Refusal::TaskAlreadySo));
}

/// Admitting a member who already is one, or oneself, changes nothing.
#[test]
fn admitting_a_member_or_oneself_is_already_so() {
    let mut sim = pursuance_group(b"readmit");
    let b = add(&sim, 2, &["observer"]);
    let id = sim.act(1, b);
    assert_eq!(verdict(&sim, 0, &id), Verdict::Refused(Refusal::AlreadySo));
    let b = add(&sim, 1, &["observer"]);
    let id = sim.act(1, b);
    assert_eq!(verdict(&sim, 0, &id), Verdict::Refused(Refusal::AlreadySo));
    let s = sim.nodes[0].fold.state().expect("state");
    assert_eq!(s.members[&sim.key(2)].roles, BTreeSet::from(["contributor".to_string()]));
}

/// The state hash is the domain-separated hash of the encoded state: equal
/// states, equal hashes; a change in the state changes it.
#[test]
fn the_state_hash_is_the_hash_of_the_state() {
    let mut sim = pursuance_group(b"hash");
    let s = sim.nodes[0].fold.state().expect("state").clone();
    let expected = blake3::derive_key(STATE_HASH_CONTEXT, &crate::wire::encode(&s));
    assert_eq!(sim.nodes[0].fold.state_hash(), Some(expected));
    let b = assign(&sim, 2, "observer");
    sim.act(1, b);
    assert_ne!(sim.nodes[0].fold.state_hash(), Some(expected));
    assert!(sim.converged());
}

/// Who votes: members holding `remove`, `change-rules`, or managing a role;
/// a message is final once enough of them cite it that two thirds remain
/// whichever two are parties to a later conflict.
#[test]
fn a_message_is_final_once_enough_voters_of_its_view_cite_it() {
    let mut sim = pursuance_group(b"final");
    // Voters of the steward's chat: coordinators 1 and 4 (remove, manage).
    let x = sim.act(0, chat("x"));
    assert!(!sim.nodes[0].fold.settled(&x), "nobody cited it yet");
    sim.act(1, chat("seen"));
    assert!(!sim.nodes[0].fold.settled(&x), "one of two voters is not enough");
    sim.act(4, chat("seen"));
    // 2 acks of 2 voters: 3·2 ≥ 2·2 + 2.
    assert!(sim.nodes[0].fold.settled(&x));
    // The contributor and the observer hold no rights-reducing power: their
    // citations do not count.
    let y = sim.act(1, chat("y"));
    sim.act(2, chat("seen"));
    sim.act(3, chat("seen"));
    assert!(!sim.nodes[0].fold.settled(&y));
}

/// Holding `remove` alone (no `change-rules`, managing nothing) makes a
/// voter.
#[test]
fn holding_remove_alone_makes_a_voter() {
    let rules = Rules::from_toml(
        r#"founder = "lead"
[roles.lead]
powers = ["chat", "invite", "remove", "change-rules"]
manages = ["bouncer"]
[roles.bouncer]
powers = ["chat", "remove"]
"#,
    )
    .expect("valid");
    let mut sim = Sim::new(b"bouncer", 3, &rules);
    for who in [1, 2] {
        let b = add(&sim, who, &["bouncer"]);
        sim.act(0, b);
    }
    let x = sim.act(0, chat("x"));
    sim.act(1, chat("seen"));
    sim.act(2, chat("seen"));
    assert!(sim.nodes[0].fold.settled(&x), "both bouncers vote");
}
