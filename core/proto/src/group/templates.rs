//! Ready-made rules. Each is valid ([`Rules::validate`]) and round-trips
//! through the TOML form; `protocol-spec/group.md` prints them.

use super::rules::{Power, Recovery, Role, Rules};

fn role(powers: &[Power], assign_to: &[&str], reads: &[&str], manages: &[&str]) -> Role {
    let names = |s: &[&str]| s.iter().map(|n| (*n).to_string()).collect();
    Role {
        powers: powers.iter().copied().collect(),
        assign_to: names(assign_to),
        reads: names(reads),
        manages: names(manages),
    }
}

fn rules(founder: &str, newcomer: Option<&str>, roles: Vec<(&str, Role)>) -> Rules {
    Rules {
        roles: roles.into_iter().map(|(n, r)| (n.to_string(), r)).collect(),
        founder: founder.into(),
        newcomer: newcomer.map(Into::into),
        recovery: Recovery::EarliestMember,
    }
}

/// Three roles: `organizer` (everything; manages the others), `member`
/// (chat, tasks, invite as `member`) and `observer` (reads what is shared
/// with observers, comments).
pub fn organizer_member_observer() -> Rules {
    use Power::*;
    let member = [Chat, CreateTask, AssignTask, Comment, CloseReopen, Invite];
    rules(
        "organizer",
        Some("member"),
        vec![
            (
                "organizer",
                role(
                    &Power::ALL,
                    &["organizer", "member"],
                    &["organizer", "member", "observer"],
                    &["member", "observer"],
                ),
            ),
            ("member", role(&member, &["member"], &["member", "observer"], &[])),
            ("observer", role(&[Comment], &[], &["observer"], &[])),
        ],
    )
}

/// A Pursuance-style hierarchy: `steward` manages `coordinator`, which
/// manages `contributor` and `observer`; each level holds a subset of the
/// level above. Newcomers are observers.
pub fn pursuance() -> Rules {
    use Power::*;
    let coordinator =
        [Chat, CreateTask, EditTask, AssignTask, Comment, CloseReopen, Invite, Remove];
    let contributor = [Chat, CreateTask, Comment, CloseReopen];
    let all_scopes = ["steward", "coordinator", "contributor", "observer"];
    rules(
        "steward",
        Some("observer"),
        vec![
            (
                "steward",
                role(
                    &Power::ALL,
                    &["steward", "coordinator", "contributor"],
                    &all_scopes,
                    &["coordinator", "contributor", "observer"],
                ),
            ),
            (
                "coordinator",
                role(
                    &coordinator,
                    &["coordinator", "contributor"],
                    &all_scopes[1..],
                    &["contributor", "observer"],
                ),
            ),
            ("contributor", role(&contributor, &["contributor"], &all_scopes[2..], &[])),
            ("observer", role(&[Chat], &[], &["observer"], &[])),
        ],
    )
}

/// A direct conversation: one role, `peer`, for both people; the founder
/// invites the other. No one manages anyone, so no one can be removed.
pub fn direct() -> Rules {
    use Power::*;
    let peer = [Chat, CreateTask, EditTask, AssignTask, Comment, CloseReopen, Invite, RotateKeys];
    let mut r = rules("peer", Some("peer"), vec![("peer", role(&peer, &["peer"], &["peer"], &[]))]);
    r.recovery = Recovery::Nobody;
    r
}

/// Every template by name, as the client offers them.
pub fn all() -> Vec<(&'static str, Rules)> {
    vec![
        ("organizer-member-observer", organizer_member_observer()),
        ("pursuance", pursuance()),
        ("direct", direct()),
    ]
}
