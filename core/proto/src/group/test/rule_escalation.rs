//! Rule changes cannot escalate: a change gives no role, the newcomer role,
//! recovery or the founder role more than its author holds, and deleting
//! or narrowing a role needs the reach of a revocation (the issue
//! "Authority that holds against a backdating insider", scenario 2).

use super::*;
use crate::crypto::PublicKey;

/// A top role `owner` above `admin` (which may change the rules and
/// invite), `member`, and `auditor`: a role nobody manages, whose holder
/// was admitted while it was the newcomer role. `auditor` holds `comment`,
/// which `admin` lacks.
const OWNED: &str = r#"founder = "owner"
newcomer = "auditor"
[roles.owner]
powers = ["chat", "comment", "invite", "remove", "change-rules", "rotate-keys"]
reads = ["owner", "admin", "member"]
manages = ["admin", "member"]
[roles.admin]
powers = ["chat", "invite", "remove", "change-rules"]
reads = ["admin", "member"]
manages = ["member"]
[roles.auditor]
powers = ["chat", "comment"]
reads = ["member"]
[roles.member]
powers = ["chat"]
reads = ["member"]
"#;

const OWNER: usize = 0;
const ADMIN: usize = 1;
const MEMBER: usize = 2;
const AUDITOR: usize = 3;
const STRANGER: usize = 4;

/// The `OWNED` group: 0 owner (founder), 1 admin, 2 member, 3 auditor;
/// 4 is not a member. The newcomer role is `member` by then.
fn owned_group(seed: &[u8]) -> Sim {
    let rules = Rules::from_toml(OWNED).expect("valid");
    let mut sim = Sim::new(seed, 5, &rules);
    let b = add(&sim, AUDITOR, &["auditor"]);
    sim.act(OWNER, b);
    let newcomer_member = Rules { newcomer: Some("member".into()), ..rules };
    let id = change(&mut sim, OWNER, &newcomer_member);
    assert_eq!(verdict(&sim, AUDITOR, &id), Verdict::Applied);
    let b = add(&sim, ADMIN, &["admin"]);
    sim.act(OWNER, b);
    let b = add(&sim, MEMBER, &["member"]);
    sim.act(ADMIN, b);
    assert!(sim.converged());
    assert_eq!(members(&sim, 0).len(), 4);
    sim
}

fn change(sim: &mut Sim, who: usize, rules: &Rules) -> MessageId {
    sim.act(who, Body::RuleChange(RuleChange { rules: rules.encode() }))
}

fn state(sim: &Sim, who: usize) -> &GroupState {
    sim.nodes[who].fold.state().expect("state")
}

/// The rules in force, as every node sees them (they must agree).
fn rules_now(sim: &Sim) -> Rules {
    assert!(sim.converged());
    state(sim, 0).rules.clone()
}

/// Who holds `role`, as node 0 sees it.
fn holders(sim: &Sim, role: &str) -> BTreeSet<PublicKey> {
    let held = state(sim, 0).members.iter().filter(|(_, m)| m.roles.contains(role));
    held.map(|(k, _)| *k).collect()
}

fn roles_of(sim: &Sim, who: usize) -> BTreeSet<String> {
    state(sim, 0).members.get(&sim.key(who)).map(|m| m.roles.clone()).unwrap_or_default()
}

/// The current rules with `edit` applied.
fn edited(sim: &Sim, edit: impl FnOnce(&mut Rules)) -> Rules {
    let mut rules = rules_now(sim);
    edit(&mut rules);
    rules
}

#[test]
fn scenario_2_newcomer_set_to_the_top_role_is_refused() {
    let mut sim = owned_group(b"newcomer owner");
    let (before, rules) = (sim.hashes(), rules_now(&sim));
    // Every role identical, but the newcomer role is now the top role:
    // any inviter could hand it out.
    let top = edited(&sim, |r| r.newcomer = Some("owner".into()));
    let id = change(&mut sim, ADMIN, &top);
    refused_everywhere(&sim, &before, &id, &Refusal::Unmanaged("owner".into()));
    // So admitting a puppet as owner is refused too.
    let b = add(&sim, STRANGER, &["owner"]);
    let id = sim.act(ADMIN, b);
    refused_everywhere(&sim, &before, &id, &Refusal::Unmanaged("owner".into()));
    // A fresh copy of the top role as newcomer is beyond the admin as well.
    let copy = edited(&sim, |r| {
        let owner = r.roles["owner"].clone();
        r.roles.insert("boss".into(), owner);
        r.newcomer = Some("boss".into());
    });
    let id = change(&mut sim, ADMIN, &copy);
    refused_everywhere(&sim, &before, &id, &Refusal::GrantsMore("boss".into()));
    assert!(!members(&sim, 0).contains(&sim.key(STRANGER)));
    assert_eq!(holders(&sim, "owner"), BTreeSet::from([sim.key(OWNER)]));
    assert_eq!(rules_now(&sim), rules);
}

#[test]
fn turning_recovery_on_needs_every_role_covered() {
    let mut sim = owned_group(b"recovery on");
    let (before, rules) = (sim.hashes(), rules_now(&sim));
    assert_eq!(rules.recovery, Recovery::Nobody);
    let on = edited(&sim, |r| r.recovery = Recovery::EarliestMember);
    // The earliest member would act with every role; the admin does not
    // cover `auditor` (comment), the first such role by name.
    let id = change(&mut sim, ADMIN, &on);
    refused_everywhere(&sim, &before, &id, &Refusal::RecoveryBeyondAuthor("auditor".into()));
    assert_eq!(rules_now(&sim), rules);
    // The owner covers every role, so may.
    let id = change(&mut sim, OWNER, &on);
    assert_eq!(verdict(&sim, MEMBER, &id), Verdict::Applied);
    assert_eq!(rules_now(&sim), on);
}

#[test]
fn a_new_founder_role_must_be_covered() {
    let mut sim = owned_group(b"founder");
    let (before, rules) = (sim.hashes(), rules_now(&sim));
    let auditor_founds = edited(&sim, |r| r.founder = "auditor".into());
    let id = change(&mut sim, ADMIN, &auditor_founds);
    refused_everywhere(&sim, &before, &id, &Refusal::GrantsMore("auditor".into()));
    assert_eq!(rules_now(&sim), rules);
    let id = change(&mut sim, OWNER, &auditor_founds);
    assert_eq!(verdict(&sim, MEMBER, &id), Verdict::Applied);
    assert_eq!(rules_now(&sim).founder, "auditor");
}

#[test]
fn deleting_an_unmanaged_role_is_refused_and_its_holders_keep_it() {
    let mut sim = owned_group(b"delete unmanaged");
    let (before, rules) = (sim.hashes(), rules_now(&sim));
    // Nothing refers to `auditor`, so removing it is a valid rule set that
    // changes no remaining role.
    let deleted = edited(&sim, |r| {
        r.roles.remove("auditor");
    });
    assert_eq!(deleted.validate(), Ok(()));
    let id = change(&mut sim, ADMIN, &deleted);
    refused_everywhere(&sim, &before, &id, &Refusal::NarrowsUnmanaged("auditor".into()));
    assert_eq!(roles_of(&sim, AUDITOR), BTreeSet::from(["auditor".to_string()]));
    assert_eq!(members(&sim, 0).len(), 4);
    assert_eq!(rules_now(&sim), rules);
}

#[test]
fn narrowing_an_unmanaged_role_is_refused() {
    let mut sim = owned_group(b"narrow unmanaged");
    let (before, rules) = (sim.hashes(), rules_now(&sim));
    // The narrowed role is within the admin, so only the narrowing itself
    // can be wrong.
    let narrowed = edited(&sim, |r| {
        r.roles.get_mut("auditor").map(|a| a.powers.remove(&Power::Comment));
    });
    let id = change(&mut sim, ADMIN, &narrowed);
    refused_everywhere(&sim, &before, &id, &Refusal::NarrowsUnmanaged("auditor".into()));
    // Nor the top role, by taking a power from it.
    let narrowed = edited(&sim, |r| {
        r.roles.get_mut("owner").map(|o| o.powers.remove(&Power::RotateKeys));
    });
    let id = change(&mut sim, ADMIN, &narrowed);
    refused_everywhere(&sim, &before, &id, &Refusal::NarrowsUnmanaged("owner".into()));
    assert_eq!(rules_now(&sim), rules);
    assert!(rules.roles["auditor"].powers.contains(&Power::Comment));
}

#[test]
fn deleting_a_managed_role_applies_and_strips_its_holders() {
    let mut sim = owned_group(b"delete managed");
    // The owner manages `admin` and holds `owner` (which refers to it): it
    // may drop the admin tier.
    let deleted = edited(&sim, |r| {
        r.roles.remove("admin");
        r.roles.get_mut("owner").map(|o| o.reads.remove("admin") && o.manages.remove("admin"));
    });
    let id = change(&mut sim, OWNER, &deleted);
    assert_eq!(verdict(&sim, AUDITOR, &id), Verdict::Applied);
    assert_eq!(rules_now(&sim), deleted);
    assert_eq!(members(&sim, 0).len(), 4);
    assert!(roles_of(&sim, ADMIN).is_empty());
    assert_eq!(roles_of(&sim, MEMBER), BTreeSet::from(["member".to_string()]));
}

#[test]
fn a_role_may_narrow_itself() {
    let mut sim = owned_group(b"narrow own");
    // The admin holds `admin` (peers narrow their shared role as they may
    // remove each other) and manages `member`.
    let narrowed = edited(&sim, |r| {
        r.roles.get_mut("admin").map(|a| a.powers.remove(&Power::Remove));
        r.roles.get_mut("member").map(|m| m.powers.remove(&Power::Chat));
    });
    let id = change(&mut sim, ADMIN, &narrowed);
    assert_eq!(verdict(&sim, OWNER, &id), Verdict::Applied);
    assert_eq!(rules_now(&sim), narrowed);
}

#[test]
fn newcomer_may_be_a_managed_or_a_fresh_role() {
    let mut sim = owned_group(b"newcomer legal");
    // A fresh role within the admin may be the newcomer role.
    let guest = edited(&sim, |r| {
        let role = Role { powers: [Power::Chat].into(), ..Role::default() };
        r.roles.insert("guest".into(), role);
        r.newcomer = Some("guest".into());
    });
    let id = change(&mut sim, ADMIN, &guest);
    assert_eq!(verdict(&sim, MEMBER, &id), Verdict::Applied);
    assert_eq!(rules_now(&sim), guest);
    // The owner manages `admin`, so may let every inviter hand it out.
    let admins = edited(&sim, |r| r.newcomer = Some("admin".into()));
    let id = change(&mut sim, OWNER, &admins);
    assert_eq!(verdict(&sim, MEMBER, &id), Verdict::Applied);
    let b = add(&sim, STRANGER, &["admin"]);
    let id = sim.act(ADMIN, b);
    assert_eq!(verdict(&sim, MEMBER, &id), Verdict::Applied);
    assert_eq!(roles_of(&sim, STRANGER), BTreeSet::from(["admin".to_string()]));
    assert_eq!(holders(&sim, "owner"), BTreeSet::from([sim.key(OWNER)]));
}
