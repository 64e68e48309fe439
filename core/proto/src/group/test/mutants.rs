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

/// Managing a role alone, or holding `change-rules` alone, makes a voter:
/// each is a rights-reducing power (a manager revokes, a rule changer can
/// rewrite every role), even without `remove`.
#[test]
fn managing_a_role_or_changing_rules_alone_makes_a_voter() {
    let rules = Rules::from_toml(
        r#"founder = "lead"
[roles.lead]
powers = ["chat", "invite", "remove", "change-rules"]
manages = ["curator", "editor", "member"]
[roles.curator]
powers = ["chat"]
manages = ["member"]
[roles.editor]
powers = ["chat", "change-rules"]
[roles.member]
powers = ["chat"]
"#,
    )
    .expect("valid");
    let mut sim = Sim::new(b"curator", 3, &rules);
    for (who, role) in [(1, "curator"), (2, "editor")] {
        let b = add(&sim, who, &[role]);
        sim.act(0, b);
    }
    let x = sim.act(0, chat("x"));
    sim.act(1, chat("seen"));
    assert!(!sim.nodes[0].fold.settled(&x), "the curator alone is one of two voters");
    sim.act(2, chat("seen"));
    // 2 acks of 2 voters; were either not a voter, 1 ack of 1 is not final.
    assert!(sim.nodes[0].fold.settled(&x), "the curator and the editor both vote");
}

/// Pursuance template with `extra` more coordinators (nodes 5, 6, …,
/// admitted by the steward after coordinators 1 and 4): 0 steward, 2
/// contributor, 3 observer.
fn coordinators(seed: &[u8], extra: usize) -> Sim {
    let mut sim = Sim::new(seed, 5 + extra, &templates::pursuance());
    for (who, by, role) in
        [(1, 0, "coordinator"), (4, 0, "coordinator"), (2, 1, "contributor"), (3, 1, "observer")]
    {
        let b = add(&sim, who, &[role]);
        sim.act(by, b);
    }
    for who in 5..5 + extra {
        let b = add(&sim, who, &["coordinator"]);
        sim.act(0, b);
    }
    assert!(sim.converged());
    sim
}

/// Final takes `3·acks ≥ 2·n + 2`: with four voters (the steward and
/// coordinators 1, 4, 5), three citations leave fewer than two thirds once
/// two of the citers turn out to be parties of a later conflict, so only
/// the fourth makes the contributor's message final.
#[test]
fn three_of_four_voters_do_not_make_a_message_final() {
    let mut sim = coordinators(b"final of four", 1);
    let x = sim.act(2, chat("x"));
    for who in [0, 1, 4] {
        sim.act(who, chat("seen"));
    }
    assert!(!sim.nodes[0].fold.settled(&x), "3·3 < 2·4 + 2");
    sim.act(5, chat("seen"));
    assert!(sim.nodes[0].fold.settled(&x), "3·4 ≥ 2·4 + 2");
}

/// A senior coordinator (1) signs a removal of a junior one (7) citing only
/// its own old message; the junior's concurrent work (making the observer a
/// contributor) was acknowledged by `acks` of the four voters (steward,
/// coordinators 4, 5, 6) before the removal arrived. Returns the verdict on
/// the work at each node and whether the observer ends a contributor
/// everywhere.
fn backdated_removal_of_work_acked_by(seed: &[u8], acks: &[usize]) -> (Vec<Verdict>, bool) {
    let mut sim = coordinators(seed, 3);
    let (senior, junior) = (1, 7);
    let old = sim.act(senior, chat("old"));
    let b = assign(&sim, 3, "contributor");
    let work = sim.act(junior, b);
    for &who in acks {
        sim.act(who, chat("ack"));
    }
    let b = remove(&sim, junior);
    let bytes = sim.nodes[senior].write_citing(b, &[old]);
    let removal = id_of(&bytes);
    sim.broadcast(bytes);
    let observer = sim.key(3);
    let mut promoted = Vec::new();
    for who in 0..sim.nodes.len() {
        assert_eq!(verdict(&sim, who, &removal), Verdict::Applied, "node {who}");
        if let Some(s) = sim.nodes[who].fold.state() {
            assert!(!s.members.contains_key(&sim.key(junior)), "node {who}: the junior is out");
            promoted.push(s.members[&observer].roles.contains("contributor"));
        }
    }
    assert!(sim.converged(), "members disagree");
    let verdicts = (0..sim.nodes.len()).map(|who| verdict(&sim, who, &work)).collect();
    (verdicts, promoted.iter().all(|p| *p))
}

/// Settled before takes two thirds of the voters (`3·acks ≥ 2·n`): with
/// four voters, two acknowledgements do not settle the junior's work before
/// the senior's backdated removal (the senior wins on seniority and cuts it
/// off); three do, and the work is spared.
#[test]
fn two_of_four_voters_do_not_settle_work_before_a_removal() {
    let (verdicts, promoted) = backdated_removal_of_work_acked_by(b"two of four", &[0, 4]);
    for (who, v) in verdicts.iter().enumerate() {
        assert!(
            matches!(v, Verdict::Refused(Refusal::CutOff { .. } | Refusal::NotAMember)),
            "node {who}: {v:?}"
        );
    }
    assert!(!promoted, "the unsettled work is undone");
    let (verdicts, promoted) = backdated_removal_of_work_acked_by(b"three of four", &[0, 4, 5]);
    for (who, v) in verdicts.iter().enumerate() {
        assert_eq!(*v, Verdict::Applied, "node {who}");
    }
    assert!(promoted, "the settled work stays");
}

// Equivalent mutant, no test: `replace < with <= in Fold::spared` (the
// seniority comparison `a < b` of the two authors' `since`). The two differ
// only when `since` is equal, and `spared(x, r)` compares the authors of
// messages `x` and `r` that are concurrent (both callers check it: `anchor`
// takes only `r`'s unseen messages not having `r` in their past, `cutters`
// filters on `Dag::concurrent`). Two messages of one author are never
// concurrent: the chain accepts one message per (author, seq) whose `prev`
// is the accepted one (`chain.md`, rules 12 and 13), and the DAG counts
// every earlier seq of an author as in the past of its later ones. Two
// distinct members never share `since` in a state: it is the position
// (lamport, id) of the one message that admitted them, genesis `(0, id)`
// for the founder, and each `MemberAdd` admits one member.
