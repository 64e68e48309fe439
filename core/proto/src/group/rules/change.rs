//! What a rule change may do: nothing beyond its author. See
//! `protocol-spec/group.md`, "Authorization" (`RuleChange`) and "Rule
//! changes cannot escalate".
//!
//! A rule change can hand out rights in more ways than redefining a role:
//! naming a role `newcomer` lets every inviter give it, turning recovery on
//! gives the earliest member every role, and deleting or narrowing a role
//! takes rights from its holders. Each is checked here against the
//! author's capability (and the roles the author holds).

use std::collections::BTreeSet;

use super::{Recovery, Role, Rules};

/// Why a rule change goes beyond its author. Each variant names the role
/// concerned; `authorize` maps them to a `Refusal`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChangeError {
    /// A role that is new or changed, or the role newly named `newcomer` or
    /// `founder`, holds something the author's capability lacks.
    #[error("rule change grants role {0:?} more than its author holds")]
    GrantsMore(String),
    /// The change names as `newcomer` an existing role the author does not
    /// manage (any inviter could then hand it out).
    #[error("rule change makes role {0:?}, which its author does not manage, the newcomer role")]
    NewcomerUnmanaged(String),
    /// The change turns recovery on while this role holds something the
    /// author lacks (the earliest member would get it).
    #[error("rule change turns on recovery, which hands out role {0:?} beyond its author")]
    RecoveryBeyondAuthor(String),
    /// The change deletes or narrows a role the author neither manages nor
    /// holds (it would take rights from that role's holders).
    #[error(
        "rule change deletes or narrows role {0:?}, which its author neither manages nor holds"
    )]
    NarrowsUnmanaged(String),
}

impl Rules {
    /// Checks that replacing these rules by `new` gives nothing beyond its
    /// author, whose capability under these rules is `author` and who holds
    /// the roles `holds`. Role names that do not exist in `self` count as
    /// managed, assignable and readable by the author (it is creating them).
    ///
    /// Invariants, checked in this order (the first broken one is returned):
    /// 1. a role deleted or narrowed (its new definition lacks something
    ///    the old one had) is managed or held by the author
    ///    ([`ChangeError::NarrowsUnmanaged`]);
    /// 2. every role that is new or changed is covered by the author
    ///    ([`ChangeError::GrantsMore`]);
    /// 3. a role newly named `newcomer` is created by the change or managed
    ///    by the author ([`ChangeError::NewcomerUnmanaged`]), and covered;
    /// 4. a role newly named `founder` is covered;
    /// 5. turning recovery on (from `Nobody`) needs every new role covered
    ///    ([`ChangeError::RecoveryBeyondAuthor`]).
    pub fn change_within(
        &self,
        new: &Rules,
        author: &Role,
        holds: &BTreeSet<String>,
    ) -> Result<(), ChangeError> {
        self.check_narrowing(new, author, holds)?;
        let fresh = self.fresh_roles(new);
        let bound = bound(author, &fresh);
        for (name, role) in &new.roles {
            if self.roles.get(name) != Some(role) && !bound.covers(role) {
                return Err(ChangeError::GrantsMore(name.clone()));
            }
        }
        self.check_newcomer(new, author, &bound, &fresh)?;
        if new.founder != self.founder {
            covered(new, &bound, &new.founder)?;
        }
        check_recovery(self.recovery, new, &bound)
    }

    /// Names in `new` that are not roles here (the change creates them).
    fn fresh_roles(&self, new: &Rules) -> BTreeSet<String> {
        new.roles.keys().filter(|n| !self.roles.contains_key(*n)).cloned().collect()
    }

    /// Deleting or narrowing a role is rights-reducing for its holders, so
    /// it needs the reach of a revocation; holding the role counts too, as
    /// peers may narrow their shared role as they may remove each other.
    fn check_narrowing(
        &self,
        new: &Rules,
        author: &Role,
        holds: &BTreeSet<String>,
    ) -> Result<(), ChangeError> {
        for (name, old) in &self.roles {
            let kept = new.roles.get(name).is_some_and(|r| r.covers(old));
            if !kept && !author.manages.contains(name) && !holds.contains(name) {
                return Err(ChangeError::NarrowsUnmanaged(name.clone()));
            }
        }
        Ok(())
    }

    /// Any inviter may give the newcomer role, so naming a role newcomer
    /// hands it out: only its manager (or its creator) may.
    fn check_newcomer(
        &self,
        new: &Rules,
        author: &Role,
        bound: &Role,
        fresh: &BTreeSet<String>,
    ) -> Result<(), ChangeError> {
        let Some(role) = &new.newcomer else { return Ok(()) };
        if self.newcomer.as_ref() == Some(role) {
            return Ok(());
        }
        if !fresh.contains(role) && !author.manages.contains(role) {
            return Err(ChangeError::NewcomerUnmanaged(role.clone()));
        }
        covered(new, bound, role)
    }
}

/// The author's capability widened by the roles being created.
fn bound(author: &Role, fresh: &BTreeSet<String>) -> Role {
    let mut bound = author.clone();
    bound.assign_to.extend(fresh.iter().cloned());
    bound.reads.extend(fresh.iter().cloned());
    bound.manages.extend(fresh.iter().cloned());
    bound
}

/// Role `name` of `new` is within `bound` (a missing role is caught by
/// validation before this is asked).
fn covered(new: &Rules, bound: &Role, name: &str) -> Result<(), ChangeError> {
    match new.roles.get(name) {
        Some(role) if !bound.covers(role) => Err(ChangeError::GrantsMore(name.into())),
        _ => Ok(()),
    }
}

/// Recovery lets the earliest member act with every role, so turning it on
/// is handing out every role: the author must cover each.
fn check_recovery(old: Recovery, new: &Rules, bound: &Role) -> Result<(), ChangeError> {
    if old != Recovery::Nobody || new.recovery != Recovery::EarliestMember {
        return Ok(());
    }
    match new.roles.iter().find(|(_, role)| !bound.covers(role)) {
        Some((name, _)) => Err(ChangeError::RecoveryBeyondAuthor(name.clone())),
        None => Ok(()),
    }
}
