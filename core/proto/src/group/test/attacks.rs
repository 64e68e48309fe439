//! Attacks: each is refused with its reason and changes nobody's state.

use super::fold_vectors::record;
use super::*;

#[test]
fn rotating_keys_without_the_power() {
    let mut sim = pursuance_group(b"rotate");
    let packages = vec![key_package(&mut sim, 2)];
    let before = sim.hashes();
    let body = rekey_to(&sim, 2, &packages);
    let id = sim.act(2, body);
    refused_everywhere(&sim, &before, &id, &Refusal::Lacks(Power::RotateKeys));
    // The steward may.
    let body = rekey_to(&sim, 0, &packages);
    let ok = sim.act(0, body);
    assert_eq!(verdict(&sim, 3, &ok), Verdict::Applied);
    let epoch = sim.nodes[3].fold.state().map(|s| s.epoch.id);
    assert_eq!(epoch, Some(EpochId(ok.0)));
}

#[test]
fn self_promotion() {
    let mut sim = pursuance_group(b"promote");
    let before = sim.hashes();
    let body = assign(&sim, 2, "steward");
    let id = sim.act(2, body);
    refused_everywhere(&sim, &before, &id, &Refusal::Unmanaged("steward".into()));
    let body = assign(&sim, 1, "steward");
    let id = sim.act(1, body);
    refused_everywhere(&sim, &before, &id, &Refusal::Unmanaged("steward".into()));
}

#[test]
fn a_role_granting_what_it_lacks() {
    let mut sim = pursuance_group(b"lacks");
    let before = sim.hashes();
    // A coordinator admitting someone as coordinator: it does not manage
    // its own role, so it cannot hand it out.
    let stranger = SigningKey::random(&mut XofRng::from_seed(b"stranger")).public();
    let body = Body::MemberAdd(MemberAdd {
        member: stranger,
        roles: vec!["coordinator".into()],
        rekey: None,
        invite: None,
    });
    let id = sim.act(1, body);
    refused_everywhere(&sim, &before, &id, &Refusal::Unmanaged("coordinator".into()));
    // Rules in which a role manages a role that holds more are invalid.
    let mut rules = templates::pursuance();
    if let Some(o) = rules.roles.get_mut("observer") {
        o.manages.insert("contributor".into());
    }
    let body = Body::RuleChange(RuleChange { rules: rules.encode() });
    let id = sim.act(0, body);
    let grants =
        RulesError::GrantsMore { manager: "observer".into(), managed: "contributor".into() };
    refused_everywhere(&sim, &before, &id, &Refusal::BadRules(grants));
}

const LIMITED: &str = r#"founder = "admin"
newcomer = "member"
[roles.admin]
powers = ["chat", "invite", "remove", "change-rules"]
reads = ["admin", "member"]
manages = ["member"]
[roles.member]
powers = ["chat"]
reads = ["member"]
"#;

#[test]
fn rule_changes_beyond_the_author_or_with_cyclic_manages() {
    let rules = Rules::from_toml(LIMITED).expect("valid");
    let mut sim = Sim::new(b"rule change", 2, &rules);
    let before = sim.hashes();
    // The admin lacks rotate-keys, so cannot create a role that has it.
    let mut wider = rules.clone();
    let keeper = Role { powers: [Power::RotateKeys].into(), ..Role::default() };
    wider.roles.insert("keeper".into(), keeper);
    let id = sim.act(0, Body::RuleChange(RuleChange { rules: wider.encode() }));
    refused_everywhere(&sim, &before, &id, &Refusal::GrantsMore("keeper".into()));
    // Nor give its own role a power it lacks.
    let mut wider = rules.clone();
    if let Some(m) = wider.roles.get_mut("admin") {
        m.powers.insert(Power::RotateKeys);
    }
    let id = sim.act(0, Body::RuleChange(RuleChange { rules: wider.encode() }));
    refused_everywhere(&sim, &before, &id, &Refusal::GrantsMore("admin".into()));
    // A cycle: member manages admin back.
    let mut cyclic = rules.clone();
    if let Some(m) = cyclic.roles.get_mut("member") {
        m.manages.insert("admin".into());
    }
    let id = sim.act(0, Body::RuleChange(RuleChange { rules: cyclic.encode() }));
    let cycle = RulesError::ManagesCycle { manager: "member".into(), managed: "admin".into() };
    refused_everywhere(&sim, &before, &id, &Refusal::BadRules(cycle));
    // Narrowing is fine.
    let mut narrower = rules.clone();
    if let Some(m) = narrower.roles.get_mut("member") {
        m.powers.clear();
    }
    let id = sim.act(0, Body::RuleChange(RuleChange { rules: narrower.encode() }));
    assert_eq!(verdict(&sim, 1, &id), Verdict::Applied);
}

#[test]
fn assigning_a_task_to_a_role_one_may_not_assign_to() {
    let mut sim = pursuance_group(b"assign");
    let before = sim.hashes();
    // Coordinators assign to coordinators and contributors, not observers.
    let id = sim.act(1, task(&["observer"], vec![sim.key(3)]));
    refused_everywhere(&sim, &before, &id, &Refusal::CannotAssignTo(sim.key(3)));
    let t = sim.act(1, task(&["contributor"], vec![]));
    let before = sim.hashes();
    let body = TaskAssign { task: t, assign: vec![sim.key(3)], unassign: vec![] };
    let id = sim.act(1, Body::TaskAssign(body));
    refused_everywhere(&sim, &before, &id, &Refusal::CannotAssignTo(sim.key(3)));
}

#[test]
fn a_forged_author_is_refused_by_the_chain() {
    let mut sim = pursuance_group(b"forge");
    let before = sim.hashes();
    // Node 2 writes a message claiming the steward wrote it.
    let steward = sim.key(0);
    let body = assign(&sim, 2, "coordinator");
    let m = sim.nodes[2].chain.draft(&steward, EpochId(sim.genesis.0), 0, body);
    let bytes = m.sign(&sim.nodes[2].key).encode();
    for n in &mut sim.nodes {
        assert!(n.receive(&bytes, None).is_empty());
    }
    assert_eq!(sim.hashes(), before);
    assert!(sim.nodes[1].fold.verdict(&id_of(&bytes)).is_none());
}

#[test]
fn a_message_replayed_into_another_group_or_epoch() {
    let mut sim = pursuance_group(b"replay");
    let before = sim.hashes();
    // A member's message of another group, replayed here: the group id is
    // signed, so it cannot be changed.
    let elsewhere = crate::chain::ChainState::new(GroupId([0x99; 32]));
    let n1 = &sim.nodes[1];
    let body = assign(&sim, 3, "contributor");
    let mut foreign = elsewhere.draft(&n1.public(), EpochId(sim.genesis.0), 0, body);
    (foreign.parents, foreign.lamport) = (vec![sim.genesis], 1);
    let foreign = foreign.sign(&n1.key).encode();
    // A message of this group presented under another epoch.
    let mine = sim.act_alone(1, chat("hello"));
    let bytes = sim.log.iter().find(|b| id_of(b) == mine).cloned().expect("sent");
    for who in [0, 2, 3] {
        let n = &mut sim.nodes[who];
        assert!(n.receive(&foreign, None).is_empty());
        assert!(n.receive(&bytes, Some(EpochId([0x99; 32]))).is_empty());
        assert!(
            matches!(
                n.rejected[..],
                [crate::chain::ChainError::WrongGroup, crate::chain::ChainError::WrongEpoch { .. }]
            ),
            "{:?}",
            n.rejected
        );
        assert!(n.fold.verdict(&mine).is_none());
    }
    assert_eq!(sim.hashes(), before);
}

#[test]
fn a_removed_member_posting_after_removal() {
    let mut sim = pursuance_group(b"removed");
    let body = remove(&sim, 2);
    sim.act(1, body);
    assert!(!members(&sim, 0).contains(&sim.key(2)));
    let before = sim.hashes();
    let id = sim.act(2, task(&["contributor"], vec![]));
    refused_everywhere(&sim, &before, &id, &Refusal::NotAMember);
    let id = sim.act(2, chat("still here?"));
    refused_everywhere(&sim, &before, &id, &Refusal::NotAMember);
}

#[test]
fn a_removed_admin_backdating_an_action() {
    let mut sim = pursuance_group(b"backdate");
    // Coordinator 1 speaks once; then everyone sees a lot happen.
    let old = sim.act(1, chat("early"));
    for _ in 0..5 {
        sim.act(0, chat("later"));
    }
    let body = remove(&sim, 1);
    let removal = sim.act(0, body);
    let before = sim.hashes();
    // The removed coordinator cites only parents from before its removal,
    // so its message sorts before the removal.
    let body = assign(&sim, 3, "contributor");
    let bytes = sim.nodes[1].write_citing(body, &[old]);
    let id = id_of(&bytes);
    sim.broadcast(bytes);
    let cut = Refusal::CutOff { by: removal, because: Box::new(Refusal::NotAMember) };
    refused_everywhere(&sim, &before, &id, &cut);
    // The same holds for a backdated removal of a third party.
    let body = remove(&sim, 2);
    let bytes = sim.nodes[1].write_citing(body, &[old]);
    let id = id_of(&bytes);
    sim.broadcast(bytes);
    refused_everywhere(&sim, &before, &id, &cut);
}

#[test]
fn a_rekey_wrapping_keys_for_a_removed_member() {
    let mut sim = pursuance_group(b"wraps");
    let p2 = key_package(&mut sim, 2);
    let p3 = key_package(&mut sim, 3);
    let body = remove(&sim, 3);
    sim.act(0, body);
    let before = sim.hashes();
    let body = rekey_to(&sim, 0, &[p2.clone(), p3]);
    let id = sim.act(0, body);
    refused_everywhere(&sim, &before, &id, &Refusal::WrapsForNonMember(sim.key(3)));
    let body = rekey_to(&sim, 0, &[p2]);
    let ok = sim.act(0, body);
    assert_eq!(verdict(&sim, 1, &ok), Verdict::Applied);
}

#[test]
fn a_removal_carrying_a_rekey_for_the_removed_drops_the_rekey() {
    let mut sim = pursuance_group(b"carried");
    let p2 = key_package(&mut sim, 2);
    let p3 = key_package(&mut sim, 3);
    let Body::Rekey(rekey) = rekey_to(&sim, 0, &[p2, p3]) else { panic!("rekey") };
    let body = Body::MemberRemove(MemberRemove { member: sim.key(3), rekey: Some(rekey) });
    let id = sim.act(0, body);
    let dropped = Verdict::RekeyDropped(Refusal::WrapsForNonMember(sim.key(3)));
    assert_eq!(verdict(&sim, 1, &id), dropped);
    let s = sim.nodes[1].fold.state().expect("state");
    assert!(!s.members.contains_key(&sim.key(3)));
    assert!(s.epoch.exposed_to.contains(&sim.key(3)), "the old epoch is exposed");
}

#[test]
fn concurrent_mutual_removals_the_senior_applies_when_neither_is_settled() {
    let mut sim = pursuance_group(b"mutual");
    let (a, b) = (remove(&sim, 4), remove(&sim, 1));
    let r1 = sim.act_alone(1, a);
    let r4 = sim.act_alone(4, b);
    sim.heal();
    // Coordinator 1 was admitted before coordinator 4: its removal applies.
    let cut = Verdict::Refused(Refusal::CutOff { by: r1, because: Box::new(Refusal::NotAMember) });
    for who in 0..5 {
        assert_eq!(verdict(&sim, who, &r1), Verdict::Applied, "node {who}");
        assert_eq!(verdict(&sim, who, &r4), cut, "node {who}");
        assert!(members(&sim, who).contains(&sim.key(1)));
        assert!(!members(&sim, who).contains(&sim.key(4)));
    }
    assert!(sim.converged());
    record("concurrent-mutual-removals", &sim);
}

#[test]
fn of_mutual_removals_the_one_settled_first_applies_whoever_is_senior() {
    let mut sim = pursuance_group(b"mutual settled");
    // Junior coordinator 4 removes 1; the steward (the only other voter)
    // acknowledges it before 1's concurrent removal of 4 reaches anyone.
    let b = remove(&sim, 1);
    let r4 = sim.act(4, b);
    sim.act(0, chat("seen"));
    let a = remove(&sim, 4);
    let bytes = sim.nodes[1].write_citing(a, &[]);
    let r1 = id_of(&bytes);
    sim.broadcast(bytes);
    // The steward now sees both: that acknowledges neither before the other.
    sim.act(0, chat("seen both"));
    let cut = Verdict::Refused(Refusal::CutOff { by: r4, because: Box::new(Refusal::NotAMember) });
    for who in 0..5 {
        assert_eq!(verdict(&sim, who, &r4), Verdict::Applied, "node {who}");
        assert_eq!(verdict(&sim, who, &r1), cut, "node {who}");
        assert!(!members(&sim, who).contains(&sim.key(1)));
        assert!(members(&sim, who).contains(&sim.key(4)));
    }
    record("mutual-removals-settled-first", &sim);
}

#[test]
fn a_concurrent_revocation_cuts_off_what_the_role_allowed() {
    let mut sim = pursuance_group(b"revoke");
    let body = Body::RoleRevoke(RoleRevoke {
        member: sim.key(2),
        role: "contributor".into(),
        rekey: None,
    });
    let revoke = sim.act_alone(1, body);
    // The contributor, not having seen the revocation, creates a task.
    let t = sim.act_alone(2, task(&["contributor"], vec![]));
    sim.heal();
    // Where the task sorts after the revocation it is judged without the
    // role; where it sorts before, the revocation cuts it off: refused
    // either way, for the power the role gave (which of the two depends
    // on the messages' ids, which break the Lamport tie).
    let lacks = Refusal::Lacks(Power::CreateTask);
    let cut = Refusal::CutOff { by: revoke, because: Box::new(lacks.clone()) };
    for who in 0..5 {
        let v = verdict(&sim, who, &t);
        let refused = v == Verdict::Refused(lacks.clone()) || v == Verdict::Refused(cut.clone());
        assert!(refused, "node {who}: {v:?}");
    }
    assert!(sim.converged());
    record("concurrent-revocation", &sim);
}

#[test]
fn equivocation_neutralises_the_fork() {
    let mut sim = pursuance_group(b"equivocate");
    let before = sim.hashes();
    // Node 2 signs two different messages at one position.
    let n2 = &sim.nodes[2];
    let a = n2.chain.draft(&n2.public(), EpochId(sim.genesis.0), 0, task(&["contributor"], vec![]));
    let mut b = a.clone();
    b.body = chat("the other branch");
    let (a, b) = (a.sign(&n2.key).encode(), b.sign(&n2.key).encode());
    for n in &mut sim.nodes[..2] {
        n.receive(&a, None);
    }
    for n in &mut sim.nodes[2..] {
        n.receive(&b, None);
    }
    for n in &mut sim.nodes {
        n.receive(&a, None);
        n.receive(&b, None);
    }
    assert!(sim.converged());
    assert_eq!(sim.hashes(), before, "nothing from the fork on counts");
    sim.log.extend([a, b]);
    record("equivocation", &sim);
}

#[test]
fn a_concurrent_narrowing_rule_change_cuts_off_what_it_forbids() {
    let mut sim = pursuance_group(b"narrow");
    let added = sim.log.last().map(|b| id_of(b)).expect("setup");
    for _ in 0..3 {
        sim.act(0, chat("time passes"));
    }
    let mut rules = templates::pursuance();
    if let Some(o) = rules.roles.get_mut("observer") {
        o.powers.clear();
    }
    let change = sim.act_alone(0, Body::RuleChange(RuleChange { rules: rules.encode() }));
    // The observer had not seen the change (it cites only its own
    // admission, so its line sorts before the change).
    let bytes = sim.nodes[3].write_citing(chat("observers may still chat?"), &[added]);
    let line = id_of(&bytes);
    sim.log.push(bytes);
    sim.heal();
    let expected = Refusal::CutOff { by: change, because: Box::new(Refusal::Lacks(Power::Chat)) };
    for who in 0..5 {
        assert_eq!(verdict(&sim, who, &line), Verdict::Refused(expected.clone()), "node {who}");
    }
    assert!(sim.converged());
}

#[test]
fn the_backdated_action_is_refused_whichever_arrives_first() {
    let mut sim = pursuance_group(b"backdate order");
    let old = sim.act(1, chat("early"));
    sim.act(0, chat("later"));
    let body = remove(&sim, 1);
    let removal = sim.act_alone(0, body);
    let body = assign(&sim, 3, "contributor");
    let bytes = sim.nodes[1].write_citing(body, &[old]);
    let id = id_of(&bytes);
    // Nodes 2 and 3 see the backdated message before the removal.
    for n in &mut sim.nodes[2..4] {
        n.receive(&bytes, None);
        assert_eq!(n.fold.verdict(&id), Some(&Verdict::Applied));
    }
    sim.log.push(bytes);
    sim.heal();
    let cut = Refusal::CutOff { by: removal, because: Box::new(Refusal::NotAMember) };
    for who in 0..5 {
        assert_eq!(verdict(&sim, who, &id), Verdict::Refused(cut.clone()), "node {who}");
    }
    assert!(sim.converged());
}

const KEEPERS: &str = r#"founder = "root"
[roles.root]
powers = ["invite", "rotate-keys"]
manages = ["keeper"]
[roles.keeper]
powers = ["rotate-keys"]
"#;

#[test]
fn concurrent_rekeys_of_one_epoch_resolve_to_one_winner() {
    let rules = Rules::from_toml(KEEPERS).expect("valid");
    let mut sim = Sim::new(b"rekeys", 3, &rules);
    for who in [1, 2] {
        let b = add(&sim, who, &["keeper"]);
        sim.act(0, b);
    }
    let packages = vec![key_package(&mut sim, 1), key_package(&mut sim, 2)];
    let (a, b) = (rekey_to(&sim, 1, &packages), rekey_to(&sim, 2, &packages));
    let ra = sim.act_alone(1, a);
    let rb = sim.act_alone(2, b);
    sim.heal();
    assert!(sim.converged());
    let (winner, loser) = if ra < rb { (ra, rb) } else { (rb, ra) };
    for who in 0..3 {
        let epoch = sim.nodes[who].fold.state().map(|s| s.epoch.id);
        assert_eq!(epoch, Some(EpochId(winner.0)), "node {who}");
        // Both are legal; only the winner is the epoch.
        assert_eq!(verdict(&sim, who, &loser), Verdict::Applied);
    }
    record("concurrent-rekeys", &sim);
}
