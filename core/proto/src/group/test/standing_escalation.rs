//! A reduction whose author's power came from a grant the group undid.
//!
//! A reduction (removal, revocation, rule change) is judged against the
//! fold of its own causal past (its *standing*), cut off only by
//! concurrent reductions that concern its own author. A grant in that
//! past can itself be cut off by a reduction the reduction's author never
//! saw and that does not concern them (it concerns the granter): the
//! grant is refused in the final fold, and the reduction it enabled must
//! fall with it (`Fold::author_still_empowered`). Before that rule, the
//! no-escalation invariant, checked at the positions where the fold applies
//! each grant (`invariants/escalation.rs`), reported it.

use super::super::invariants::{History, Written, no_escalation};
use super::*;

/// An owner; peer admins (each may remove the other) who manage `mod`;
/// `mod` may change the rules.
const PEERS: &str = r#"founder = "owner"
newcomer = "member"
[roles.owner]
powers = ["chat", "invite", "remove", "change-rules", "rotate-keys"]
reads = ["owner", "admin", "mod", "member"]
manages = ["admin", "mod", "member"]
[roles.admin]
powers = ["chat", "invite", "remove", "change-rules"]
reads = ["admin", "mod", "member"]
manages = ["mod", "member"]
[roles.mod]
powers = ["chat", "change-rules"]
reads = ["mod", "member"]
manages = ["member"]
[roles.member]
powers = ["chat"]
reads = ["member"]
"#;

const SENIOR: usize = 1;
const JUNIOR: usize = 2;
const MEMBER: usize = 3;

/// The junior admin makes the member a moderator (G) while the senior
/// admin, not having seen G, removes the junior one (Q): Q cuts G off.
/// The member, having seen only G, changes the rules (R) with the power G
/// gave. Returns the fold's verdicts on G and R and node 0's check.
#[test]
fn a_rule_change_by_a_member_whose_promotion_was_cut_off_is_refused() {
    let rules = Rules::from_toml(PEERS).expect("valid");
    let mut sim = Sim::new(b"standing escalation", 4, &rules);
    for (who, role) in [(SENIOR, "admin"), (JUNIOR, "admin"), (MEMBER, "member")] {
        let b = add(&sim, who, &[role]);
        sim.act(0, b);
    }
    let grant = sim.act_alone(JUNIOR, assign(&sim, MEMBER, "mod"));
    let b = remove(&sim, JUNIOR);
    let removal = sim.act_alone(SENIOR, b);
    let grant_bytes = sim.log[sim.log.len() - 2].clone();
    sim.nodes[MEMBER].receive(&grant_bytes, None);
    let mut wider = rules.clone();
    wider.roles.insert("helper".into(), Role { powers: [Power::Chat].into(), ..Role::default() });
    let bytes = sim.nodes[MEMBER].write(Body::RuleChange(RuleChange { rules: wider.encode() }));
    let change = id_of(&bytes);
    sim.log.push(bytes);
    sim.heal();
    assert!(sim.converged());
    assert!(verdict(&sim, 0, &removal).applied(), "the senior's removal stands");
    assert!(!verdict(&sim, 0, &grant).applied(), "the promotion is undone");
    let h = History::new(sim.log.iter().filter_map(|b| Written::from_bytes(b)));
    let found = no_escalation(&sim.nodes[0].fold, &h);
    assert!(!verdict(&sim, 0, &change).applied(), "the rule change must not stand: {found:?}");
    assert_eq!(found, Ok(()));
}
