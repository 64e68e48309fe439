//! Tests written for mutants that survived `scripts/mutants`: each pins a
//! rule of the authorization code that no other test could tell apart from
//! a slightly different one.

use super::*;

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
