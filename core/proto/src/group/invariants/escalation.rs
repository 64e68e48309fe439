//! No escalation, checked at positions.
//!
//! The fold's applied messages are replayed in the order the fold applied
//! them ([`Fold::applied_order`]: linearization order, deferred reductions
//! right after their anchor) through a small state machine of this file's
//! own (members → roles, the rules in force). At each applied grant
//! (`MemberAdd`, `RoleAssign`, `RuleChange`) the replayed state just before
//! it must give its author the power it used; at the end the replay must
//! reproduce the fold's members, roles and rules. So every role held traces
//! back, grant by checked grant, to the founder role. Nothing here calls
//! the authorization code under test (`authorize`, `capability`,
//! `Rules::capability`, `Rules::change_within`): an invariant that called
//! it could not fail.

use std::collections::{BTreeMap, BTreeSet};

use super::{History, Invariant, Violation, describe, who};
use crate::crypto::PublicKey;
use crate::group::{Fold, GroupState, Power, Recovery, Role, Rules};
use crate::wire::{Body, MessageId, UnsignedMessage};

/// A member of the replay: each role held, with the grant that gave it
/// (the genesis for the founder role), and the admission position.
#[derive(Clone, Debug)]
struct Holder {
    roles: BTreeMap<String, MessageId>,
    since: (u64, MessageId),
}

/// The replayed state: what authority depends on, nothing else.
#[derive(Clone, Debug)]
pub(super) struct Replay {
    rules: Rules,
    members: BTreeMap<PublicKey, Holder>,
}

impl Replay {
    /// The state the genesis `(id, message)` creates, if its rules decode.
    pub(super) fn genesis(id: MessageId, m: &UnsignedMessage) -> Option<Self> {
        let Body::Genesis(g) = &m.body else { return None };
        let rules = Rules::decode(&g.rules).ok()?;
        let roles = BTreeMap::from([(rules.founder.clone(), id)]);
        let members = BTreeMap::from([(m.author, Holder { roles, since: (0, id) })]);
        Some(Self { rules, members })
    }

    /// What `author` may do here: the union of its roles' definitions, or
    /// every power over every role for the recovering member of a headless
    /// group. `None` for a non-member.
    fn capability(&self, author: &PublicKey) -> Option<Role> {
        let holder = self.members.get(author)?;
        let changer = |r: &String| {
            self.rules.roles.get(r).is_some_and(|d| d.powers.contains(&Power::ChangeRules))
        };
        let headless = !self.members.values().any(|m| m.roles.keys().any(changer));
        let earliest = self.members.iter().min_by_key(|(_, m)| m.since).map(|(k, _)| k);
        if self.rules.recovery == Recovery::EarliestMember && headless && earliest == Some(author) {
            return Some(everything(&self.rules));
        }
        Some(union(&self.rules, holder.roles.keys()))
    }

    /// Why grant `m` exceeds what its author holds here, if it does (and
    /// for messages that grant nothing, `None`).
    pub(super) fn beyond(&self, m: &UnsignedMessage) -> Option<String> {
        let granting =
            matches!(m.body, Body::MemberAdd(_) | Body::RoleAssign(_) | Body::RuleChange(_));
        if !granting {
            return None;
        }
        let Some(cap) = self.capability(&m.author) else {
            return Some("applied, but its author is not a member at that point".into());
        };
        let needs =
            |p: Power| (!cap.powers.contains(&p)).then(|| format!("its author lacks {p:?}"));
        let exists = |r: &String| self.rules.roles.contains_key(r);
        match &m.body {
            Body::MemberAdd(a) => needs(Power::Invite).or_else(|| {
                let newcomer = |r: &String| self.rules.newcomer.as_ref() == Some(r);
                a.roles
                    .iter()
                    .find(|r| !exists(r) || !(cap.manages.contains(*r) || newcomer(r)))
                    .map(|r| {
                        format!(
                            "gave {r}, which its author neither manages nor is the newcomer role"
                        )
                    })
            }),
            Body::RoleAssign(r) => (!exists(&r.role) || !cap.manages.contains(&r.role))
                .then(|| format!("gave {}, which its author does not manage", r.role)),
            Body::RuleChange(r) => {
                needs(Power::ChangeRules).or_else(|| match Rules::decode(&r.rules) {
                    Ok(new) => self
                        .narrows(&new, &m.author, &cap)
                        .or_else(|| rule_change_over(&self.rules, &new, &cap)),
                    Err(e) => Some(format!("undecodable rules: {e}")),
                })
            }
            _ => None,
        }
    }

    /// A role the change from the rules in force to `new` deletes or
    /// narrows that `author` neither manages nor holds (rights-reducing
    /// for its holders: it needs the reach of a revocation).
    fn narrows(&self, new: &Rules, author: &PublicKey, cap: &Role) -> Option<String> {
        let holds = |r: &String| self.members.get(author).is_some_and(|h| h.roles.contains_key(r));
        let kept = |name: &String, old: &Role| new.roles.get(name).is_some_and(|r| r.covers(old));
        let (name, _) = self
            .rules
            .roles
            .iter()
            .find(|(n, old)| !kept(n, old) && !cap.manages.contains(*n) && !holds(n))?;
        Some(format!("deleted or narrowed role {name}, which its author neither manages nor holds"))
    }

    /// Applies the effect of applied message `(id, m)`.
    pub(super) fn apply(&mut self, id: MessageId, m: &UnsignedMessage) {
        match &m.body {
            Body::MemberAdd(a) => {
                let roles = a.roles.iter().map(|r| (r.clone(), id)).collect();
                self.members.insert(a.member, Holder { roles, since: (m.lamport, id) });
            }
            Body::RoleAssign(r) => {
                if let Some(h) = self.members.get_mut(&r.member) {
                    h.roles.insert(r.role.clone(), id);
                }
            }
            Body::RoleRevoke(r) => {
                if let Some(h) = self.members.get_mut(&r.member) {
                    h.roles.remove(&r.role);
                }
            }
            Body::MemberRemove(r) => drop(self.members.remove(&r.member)),
            Body::Leave => drop(self.members.remove(&m.author)),
            Body::RuleChange(r) => {
                if let Ok(new) = Rules::decode(&r.rules) {
                    for h in self.members.values_mut() {
                        h.roles.retain(|role, _| new.roles.contains_key(role));
                    }
                    self.rules = new;
                }
            }
            _ => {}
        }
    }

    /// Where the replay and the fold's state disagree on members, roles or
    /// rules: a role the state holds that no checked grant gave.
    pub(super) fn differs(&self, s: &GroupState) -> Option<String> {
        if self.rules != s.rules {
            return Some("the rules in force are not those the applied rule changes set".into());
        }
        for (k, m) in &s.members {
            let replayed = self.members.get(k).map(|h| h.roles.keys().cloned().collect());
            if replayed.as_ref() != Some(&m.roles) {
                return Some(format!(
                    "{} holds {:?}, but the applied grants give {replayed:?}",
                    who(k),
                    m.roles
                ));
            }
        }
        let extra = self.members.keys().find(|k| !s.members.contains_key(*k))?;
        Some(format!("{} is a member in the replay but not in the state", who(extra)))
    }
}

/// The union of the definitions of `held` in `rules`.
fn union<'a>(rules: &Rules, held: impl IntoIterator<Item = &'a String>) -> Role {
    let mut all = Role::default();
    for def in held.into_iter().filter_map(|r| rules.roles.get(r)) {
        all.powers.extend(def.powers.iter().copied());
        all.assign_to.extend(def.assign_to.iter().cloned());
        all.reads.extend(def.reads.iter().cloned());
        all.manages.extend(def.manages.iter().cloned());
    }
    all
}

/// Every power over every role (the recovering member).
fn everything(rules: &Rules) -> Role {
    let mut all = union(rules, rules.roles.keys());
    let names: BTreeSet<String> = rules.roles.keys().cloned().collect();
    all.manages.extend(names.iter().cloned());
    all.assign_to.extend(names.iter().cloned());
    all.reads.extend(names);
    all
}

/// What a rule change from `old` to `new` gives beyond `cap`, if anything:
/// a new or changed role, a new newcomer role (which must also be managed
/// or created by the change) or founder role not covered (names the change
/// creates count as the author's own), or recovery turned on by an author
/// who does not cover every role (the recovering member acts with them all).
pub(super) fn rule_change_over(old: &Rules, new: &Rules, cap: &Role) -> Option<String> {
    let mut bound = cap.clone();
    let fresh: BTreeSet<String> =
        new.roles.keys().filter(|n| !old.roles.contains_key(*n)).cloned().collect();
    bound.assign_to.extend(fresh.iter().cloned());
    bound.reads.extend(fresh.iter().cloned());
    bound.manages.extend(fresh.iter().cloned());
    let beyond = |name: &String| new.roles.get(name).is_none_or(|r| !bound.covers(r));
    let changed = new.roles.keys().filter(|n| old.roles.get(*n) != new.roles.get(*n));
    if let Some(role) = changed.into_iter().find(|n| beyond(n)) {
        return Some(format!("gave role {role} more than its author holds"));
    }
    if new.newcomer != old.newcomer
        && let Some(n) = new.newcomer.as_ref()
        && (beyond(n) || !bound.manages.contains(n))
    {
        return Some(format!("made {n} the newcomer role, which its author may not hand out"));
    }
    if new.founder != old.founder && beyond(&new.founder) {
        return Some(format!("made {} the founder role, beyond its author", new.founder));
    }
    let recovers = old.recovery == Recovery::Nobody && new.recovery == Recovery::EarliestMember;
    if let Some(role) = new.roles.keys().find(|n| recovers && beyond(n)) {
        return Some(format!("turned on recovery, which hands out {role} beyond its author"));
    }
    None
}

/// Replays `applied` (the fold's applied messages in the order it applied
/// them) from the genesis `(id, message)`, checking each grant against the
/// replayed state before it, then compares the end with `end` (the fold's
/// state). The checking half of [`no_escalation`], apart so that tests can
/// feed it a history the real fold would never produce.
pub(in crate::group) fn check_replay(
    genesis: (MessageId, &UnsignedMessage),
    applied: &[(MessageId, &UnsignedMessage)],
    end: &GroupState,
    h: &History,
) -> Result<(), Violation> {
    let bad = |d: String| Err(Violation::new(Invariant::NoEscalation, d));
    let Some(mut replay) = Replay::genesis(genesis.0, genesis.1) else {
        return bad("the fold has a state but the genesis does not decode".into());
    };
    for (id, m) in applied {
        if let Some(why) = replay.beyond(m) {
            return bad(format!("{} {why}", describe(h, id)));
        }
        replay.apply(*id, m);
    }
    match replay.differs(end) {
        Some(why) => bad(why),
        None => Ok(()),
    }
}

/// No escalation at positions: every grant the fold applied was within its
/// author's powers at the point the fold applied it, and the fold's
/// members, roles and rules are exactly what the applied messages make
/// (`protocol-spec/group.md`, "Invariants and why they hold").
pub(in crate::group) fn no_escalation(fold: &Fold, h: &History) -> Result<(), Violation> {
    let (Some(s), Some(g)) = (fold.state(), h.genesis()) else { return Ok(()) };
    check_replay((g.id, &g.msg), &fold.applied_order(), s, h)
}

#[cfg(test)]
mod test {
    //! The check must be able to fail: each test feeds it what a broken fold
    //! would report (an unauthorized grant in the applied order, or a state
    //! the applied messages do not make) and expects a violation.

    use super::super::Written;
    use super::*;
    use crate::group::model::RULES;
    use crate::group::sim::Sim;
    use crate::wire::{MemberAdd, RoleAssign, RuleChange};

    const A: usize = 0;
    const MOD: usize = 1;
    const MEMBER: usize = 2;
    const OUTSIDER: usize = 3;

    fn rules() -> Rules {
        Rules::from_toml(RULES).expect("model rules")
    }

    /// Founder `A` (admin) admits a moderator and a member; key 3 is
    /// nobody yet.
    fn group() -> Sim {
        let mut sim = Sim::new(b"escalation", 4, &rules());
        for (who, role) in [(MOD, "mod"), (MEMBER, "member")] {
            let roles = vec![role.to_string()];
            sim.act(
                A,
                Body::MemberAdd(MemberAdd {
                    member: sim.key(who),
                    roles,
                    rekey: None,
                    invite: None,
                }),
            );
        }
        sim
    }

    fn history(sim: &Sim) -> History {
        History::new(sim.log.iter().filter_map(|b| Written::from_bytes(b)))
    }

    /// Checks node 0's fold as if it had applied `forced` (a message it
    /// refused) last: the applied order and the state both include it.
    fn as_if_applied(sim: &Sim, forced: MessageId) -> Result<(), Violation> {
        let h = history(sim);
        let fold = &sim.nodes[0].fold;
        assert!(fold.verdict(&forced).is_some_and(|v| !v.applied()), "the real fold refuses it");
        let w = h.get(&forced).expect("written");
        let mut applied = fold.applied_order();
        applied.push((forced, &w.msg));
        let mut end = fold.state().expect("state").clone();
        end.apply(forced, &w.msg);
        let g = h.iter().next().expect("genesis");
        check_replay((g.id, &g.msg), &applied, &end, &h)
    }

    fn escalation(found: Result<(), Violation>, says: &str) {
        let v = found.expect_err("an escalation");
        assert_eq!(v.invariant, Invariant::NoEscalation);
        assert!(v.detail.contains(says), "{}", v.detail);
    }

    #[test]
    fn the_real_fold_passes() {
        let mut sim = group();
        let grant = Body::RoleAssign(RoleAssign { member: sim.key(MEMBER), role: "mod".into() });
        sim.act(A, grant);
        assert_eq!(no_escalation(&sim.nodes[0].fold, &history(&sim)), Ok(()));
    }

    #[test]
    fn a_member_assigning_a_role_it_does_not_manage_is_caught() {
        let mut sim = group();
        let grant = Body::RoleAssign(RoleAssign { member: sim.key(MOD), role: "admin".into() });
        let id = sim.act(MEMBER, grant);
        escalation(as_if_applied(&sim, id), "gave admin, which its author does not manage");
    }

    #[test]
    fn a_moderator_admitting_an_admin_is_caught() {
        let mut sim = group();
        let roles = vec!["admin".to_string()];
        let add = Body::MemberAdd(MemberAdd {
            member: sim.key(OUTSIDER),
            roles,
            rekey: None,
            invite: None,
        });
        let id = sim.act(MOD, add);
        escalation(as_if_applied(&sim, id), "neither manages nor is the newcomer role");
    }

    #[test]
    fn a_moderator_making_admin_the_newcomer_role_is_caught() {
        let mut sim = group();
        let mut top = rules();
        top.newcomer = Some("admin".into());
        let id = sim.act(MOD, Body::RuleChange(RuleChange { rules: top.encode() }));
        escalation(as_if_applied(&sim, id), "made admin the newcomer role");
    }

    #[test]
    fn a_moderator_deleting_the_admin_role_is_caught() {
        let mut sim = group();
        let mut fewer = rules();
        fewer.roles.remove("admin");
        fewer.founder = "mod".into();
        let id = sim.act(MOD, Body::RuleChange(RuleChange { rules: fewer.encode() }));
        escalation(as_if_applied(&sim, id), "deleted or narrowed role admin");
    }

    #[test]
    fn a_role_no_applied_grant_gave_is_caught() {
        let sim = group();
        let h = history(&sim);
        let fold = &sim.nodes[0].fold;
        let mut end = fold.state().expect("state").clone();
        let member = end.members.get_mut(&sim.key(MEMBER)).expect("member");
        member.roles.insert("admin".into());
        let g = h.iter().next().expect("genesis");
        let found = check_replay((g.id, &g.msg), &fold.applied_order(), &end, &h);
        escalation(found, "but the applied grants give");
    }
}
