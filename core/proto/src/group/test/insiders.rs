//! Insiders: a member who chooses its message's parents (backdating) or
//! its message id (grinding) cannot undo settled history, keep keys it
//! should lose or hand itself powers (`group.md`, "Precedence and
//! finality"). Each test names the scenario of the review it answers and
//! asserts the end state: who is a member, which epoch is current.

use super::fold_vectors::record;
use super::*;

/// Pursuance template with a sixth key, not yet admitted: 0 steward, 1 and
/// 4 coordinators, 2 contributor, 3 observer; node 5 is for admissions.
fn six(seed: &[u8]) -> Sim {
    let mut sim = Sim::new(seed, 6, &templates::pursuance());
    for (who, by, role) in
        [(1, 0, "coordinator"), (4, 0, "coordinator"), (2, 1, "contributor"), (3, 1, "observer")]
    {
        let b = add(&sim, who, &[role]);
        sim.act(by, b);
    }
    sim
}

fn everywhere(sim: &Sim, check: impl Fn(usize, &GroupState)) {
    for who in 0..sim.nodes.len() {
        if let Some(s) = sim.nodes[who].fold.state() {
            check(who, s);
        }
    }
    assert!(sim.converged(), "members disagree");
}

/// C speaks once (`old`) and falls silent; S removes D and admits a
/// newcomer, and the steward acknowledges each (settling them). Returns
/// `old` and S's two messages.
fn settled_work(
    sim: &mut Sim,
    (c, s, d, newcomer): (usize, usize, usize, usize),
) -> [MessageId; 3] {
    let old = sim.act(c, chat("old"));
    let b = remove(sim, d);
    let remove_d = sim.act(s, b);
    sim.act(0, chat("ack"));
    let b = add(sim, newcomer, &["observer"]);
    let admit = sim.act(s, b);
    sim.act(0, chat("ack"));
    [old, remove_d, admit]
}

/// Scenario 1, "retroactive veto": C stays silent after `old`; S removes D,
/// admits a newcomer, then removes C, and the steward acknowledges each.
/// C then signs a removal of S citing only `old`. Before the precedence
/// rule, every replica ended with S removed, D back and the newcomer gone.
#[test]
fn scenario_1_a_backdated_removal_cannot_veto_settled_history() {
    let mut sim = six(b"veto");
    let (c, s, d, newcomer) = (1, 4, 2, 5);
    let [old, remove_d, admit] = settled_work(&mut sim, (c, s, d, newcomer));
    sim.act(newcomer, chat("hello"));
    let b = remove(&sim, c);
    let remove_c = sim.act(s, b);
    sim.act(0, chat("ack"));
    let b = remove(&sim, s);
    let bytes = sim.nodes[c].write_citing(b, &[old]);
    let veto = id_of(&bytes);
    sim.broadcast(bytes);
    let cut = Refusal::CutOff { by: remove_c, because: Box::new(Refusal::NotAMember) };
    for who in 0..6 {
        assert_eq!(verdict(&sim, who, &veto), Verdict::Refused(cut.clone()), "node {who}");
        for id in [remove_d, admit, remove_c] {
            assert_eq!(verdict(&sim, who, &id), Verdict::Applied, "node {who}");
        }
    }
    let keys: Vec<_> = (0..6).map(|i| sim.key(i)).collect();
    everywhere(&sim, |who, st| {
        assert!(st.members.contains_key(&keys[s]), "node {who}: S stays");
        assert!(st.members.contains_key(&keys[newcomer]), "node {who}: S's admission stays");
        assert!(!st.members.contains_key(&keys[c]), "node {who}: C is out");
        assert!(!st.members.contains_key(&keys[d]), "node {who}: D stays out");
    });
    record("scenario-1-retroactive-veto", &sim);
}

/// The same backdated removal when S never removed C: C had the power to
/// remove S, so S goes, but only from after S's settled messages; S's
/// unsettled message, concurrent with the removal, is cut off.
#[test]
fn a_backdated_removal_reaches_only_what_was_not_settled() {
    let mut sim = six(b"reach");
    let (c, s, d, newcomer) = (1, 4, 2, 5);
    let [old, remove_d, admit] = settled_work(&mut sim, (c, s, d, newcomer));
    // S's last action: nobody acknowledges it before C's removal is out.
    let b = assign(&sim, 3, "contributor");
    let unsettled = sim.act(s, b);
    let b = remove(&sim, s);
    let bytes = sim.nodes[c].write_citing(b, &[old]);
    let removal = id_of(&bytes);
    sim.broadcast(bytes);
    let cut = Refusal::CutOff { by: removal, because: Box::new(Refusal::NotAMember) };
    for who in 0..6 {
        assert_eq!(verdict(&sim, who, &removal), Verdict::Applied, "node {who}");
        assert_eq!(verdict(&sim, who, &remove_d), Verdict::Applied, "node {who}");
        assert_eq!(verdict(&sim, who, &admit), Verdict::Applied, "node {who}");
        // Refused: cut off, or simply not a member where it sorts.
        let v = verdict(&sim, who, &unsettled);
        assert!(v == Verdict::Refused(cut.clone()) || v == Verdict::Refused(Refusal::NotAMember));
    }
    let keys: Vec<_> = (0..6).map(|i| sim.key(i)).collect();
    everywhere(&sim, |who, st| {
        assert!(!st.members.contains_key(&keys[s]), "node {who}: S is out");
        assert!(st.members.contains_key(&keys[newcomer]), "node {who}: S's admission stays");
        assert!(!st.members.contains_key(&keys[d]), "node {who}: D stays out");
        assert!(st.members[&keys[3]].roles.contains("observer"), "node {who}");
        assert!(!st.members[&keys[3]].roles.contains("contributor"), "node {who}");
    });
    record("backdated-removal-reach", &sim);
}

/// Scenario 4, "junk authors kept forever": a key that was never let in
/// signs messages citing the genesis. They are not folded, not held and
/// leave no evidence; the version vectors get no column for the key.
#[test]
fn scenario_4_a_key_never_admitted_is_not_kept_at_all() {
    let mut sim = six(b"junk");
    let before = sim.hashes();
    let mut ids = Vec::new();
    for i in 0..3 {
        let body = if i == 0 { chat("spam") } else { remove(&sim, 0) };
        let bytes = sim.nodes[5].write_citing(body, &[sim.genesis]);
        ids.push(id_of(&bytes));
        sim.broadcast(bytes);
    }
    for who in 0..5 {
        let fold = &sim.nodes[who].fold;
        for id in &ids {
            assert!(!fold.holds(id), "node {who} holds a junk message");
            assert_eq!(fold.verdict(id), None, "node {who} keeps a verdict");
        }
        assert_eq!(fold.evidence().len(), 0, "node {who} keeps junk evidence");
    }
    assert_eq!(sim.hashes(), before);
    // Once admitted, the same key's messages that cite the admission count.
    let b = add(&sim, 5, &["observer"]);
    let admit = sim.act(0, b);
    let bytes = sim.nodes[5].write_citing(chat("let in"), &[admit]);
    let id = id_of(&bytes);
    sim.broadcast(bytes);
    // The junk is the prefix of the key's chain, but its message citing
    // the admission was let in: it counts.
    for who in 0..6 {
        assert_eq!(verdict(&sim, who, &id), Verdict::Applied, "node {who}");
    }
    record("scenario-4-never-admitted", &sim);
}

/// Scenario 7, "any inviter can replace the epoch": after the steward's
/// plain rotation, a coordinator admits a stranger with a rekey that names
/// the previous epoch and wraps to nobody else.
#[test]
fn scenario_7_an_inviter_cannot_displace_a_settled_epoch_or_lock_members_out() {
    let mut sim = six(b"displace");
    let kps: Vec<_> = (0..5).map(|who| key_package(&mut sim, who)).collect();
    let genesis_epoch = EpochId(sim.genesis.0);
    let Body::Rekey(rotation) = rekey_to(&sim, 0, &kps[1..]) else { panic!("rekey") };
    let rotate = sim.act(0, Body::Rekey(rotation));
    assert_eq!(sim.nodes[2].fold.state().map(|s| s.epoch.id), Some(EpochId(rotate.0)));
    sim.act(4, chat("seen the rotation"));
    let hijack = |seed: &[u8], recipients: &[(KeyPackageId, KeyPackage)]| {
        let mut rng = XofRng::from_seed(b"hijack");
        let refs: Vec<_> = recipients.iter().map(|(i, k)| (*i, k)).collect();
        let secret = EpochSecret::random(&mut rng);
        let rekey = Rekey::build(&mut rng, &GROUP, genesis_epoch, &secret, &refs).expect("build");
        let member = SigningKey::random(&mut XofRng::from_seed(seed)).public();
        Body::MemberAdd(MemberAdd {
            member,
            roles: vec!["observer".into()],
            rekey: Some(rekey),
            invite: None,
        })
    };
    // Wrapped to its author alone: every other member would be locked out.
    let b = hijack(b"puppet 1", &kps[1..2]);
    let lonely = sim.act(1, b);
    for who in 0..5 {
        let v = verdict(&sim, who, &lonely);
        assert!(matches!(v, Verdict::RekeyDropped(Refusal::MissesMember(_))), "node {who}: {v:?}");
    }
    // Backdated and wrapped to everyone: concurrent with the rotation,
    // which is settled (coordinator 4, the other voter, acknowledged it),
    // so it never displaces it, wherever it sorts.
    let b = hijack(b"puppet 2", &kps[..]);
    let announced = kps_id(&sim, 4);
    let bytes = sim.nodes[1].write_citing(b, &[announced]);
    let late = id_of(&bytes);
    sim.broadcast(bytes);
    for who in 0..5 {
        let v = verdict(&sim, who, &late);
        assert!(
            v == Verdict::Applied || v == Verdict::RekeyDropped(Refusal::StaleEpoch),
            "node {who}: {v:?}"
        );
    }
    everywhere(&sim, |who, st| {
        assert_eq!(st.epoch.id, EpochId(rotate.0), "node {who}: the settled epoch stays");
        assert_eq!(st.members.len(), 7, "node {who}: both admissions apply");
    });
    record("scenario-7-epoch-hijack", &sim);
}

/// The id of the message in which `who` announced its key package.
fn kps_id(sim: &Sim, who: usize) -> MessageId {
    let n = &sim.nodes[0];
    let found = n
        .fold
        .timeline()
        .find(|(_, m)| m.author == sim.key(who) && matches!(m.body, Body::KeyPackage(_)));
    found.map_or(sim.genesis, |(id, _)| id)
}

/// An unsettled rotation can lose to a concurrent admission's rekey, but
/// only to one that wraps to every member who stays: a rekey wrapped to its
/// author alone is dropped and the rotation stays current.
#[test]
fn a_winning_membership_rekey_must_wrap_to_every_member_who_stays() {
    let mut sim = six(b"lockout");
    let kps: Vec<_> = (0..5).map(|who| key_package(&mut sim, who)).collect();
    let genesis_epoch = EpochId(sim.genesis.0);
    let Body::Rekey(rotation) = rekey_to(&sim, 0, &kps[1..]) else { panic!("rekey") };
    let rotate_bytes = sim.nodes[0].write(Body::Rekey(rotation));
    let rotate = id_of(&rotate_bytes);
    let build = |recipients: &[(KeyPackageId, KeyPackage)], member: usize| {
        let mut rng = XofRng::from_seed(b"membership");
        let refs: Vec<_> = recipients.iter().map(|(i, k)| (*i, k)).collect();
        let secret = EpochSecret::random(&mut rng);
        let rekey = Rekey::build(&mut rng, &GROUP, genesis_epoch, &secret, &refs).expect("build");
        Body::MemberAdd(MemberAdd {
            member: sim.key(member),
            roles: vec!["observer".into()],
            rekey: Some(rekey),
            invite: None,
        })
    };
    // Concurrent with the rotation, before anyone saw it: wrapped only to
    // the author's own package, it would lock every other member out.
    let lonely = build(&kps[1..2], 5);
    let lonely = sim.act(1, lonely);
    sim.broadcast(rotate_bytes);
    for who in 0..5 {
        let v = verdict(&sim, who, &lonely);
        assert!(matches!(v, Verdict::RekeyDropped(Refusal::MissesMember(_))), "node {who}: {v:?}");
    }
    everywhere(&sim, |who, st| {
        assert_eq!(st.epoch.id, EpochId(rotate.0), "node {who}");
    });
    record("rekey-wraps-every-member", &sim);
}

/// A junior's backdated removal of a senior, with nobody to settle
/// anything: the senior's concurrent work is spared, and the removal takes
/// effect after it.
#[test]
fn a_juniors_backdated_removal_spares_the_seniors_work() {
    let mut sim = six(b"junior");
    // Coordinator 1 was admitted before coordinator 4.
    let (senior, junior) = (1, 4);
    let old = sim.act(junior, chat("old"));
    let b = assign(&sim, 3, "contributor");
    let work = sim.act(senior, b);
    let b = remove(&sim, senior);
    let bytes = sim.nodes[junior].write_citing(b, &[old]);
    let removal = id_of(&bytes);
    sim.broadcast(bytes);
    for who in 0..6 {
        assert_eq!(verdict(&sim, who, &removal), Verdict::Applied, "node {who}");
        assert_eq!(verdict(&sim, who, &work), Verdict::Applied, "node {who}");
    }
    let keys: Vec<_> = (0..6).map(|i| sim.key(i)).collect();
    everywhere(&sim, |who, st| {
        assert!(!st.members.contains_key(&keys[senior]), "node {who}: the senior is out");
        assert!(st.members[&keys[3]].roles.contains("contributor"), "node {who}: its work stays");
    });
}

/// A sibling rekey whose author had seen the epoch it would displace is
/// stale, settled or not: a membership rekey that cites the rotation and
/// names the epoch before it is dropped.
#[test]
fn a_sibling_rekey_that_saw_the_current_epoch_is_stale() {
    let mut sim = six(b"saw it");
    let kps: Vec<_> = (0..5).map(|who| key_package(&mut sim, who)).collect();
    let Body::Rekey(rotation) = rekey_to(&sim, 0, &kps[1..]) else { panic!("rekey") };
    let rotate = sim.act(0, Body::Rekey(rotation));
    let mut rng = XofRng::from_seed(b"saw it");
    let refs: Vec<_> = kps.iter().map(|(i, k)| (*i, k)).collect();
    let secret = EpochSecret::random(&mut rng);
    let previous = EpochId(sim.genesis.0);
    let rekey = Rekey::build(&mut rng, &GROUP, previous, &secret, &refs).expect("build");
    let member = SigningKey::random(&mut XofRng::from_seed(b"joiner")).public();
    let add =
        MemberAdd { member, roles: vec!["observer".into()], rekey: Some(rekey), invite: None };
    let id = sim.act(1, Body::MemberAdd(add));
    for who in 0..5 {
        assert_eq!(verdict(&sim, who, &id), Verdict::RekeyDropped(Refusal::StaleEpoch));
    }
    everywhere(&sim, |who, st| assert_eq!(st.epoch.id, EpochId(rotate.0), "node {who}"));
}
