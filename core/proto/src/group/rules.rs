//! The rules of a group: roles, their powers, and which roles manage which.
//!
//! Declared by the genesis message and replaced by rule changes. The binary
//! form is the canonical postcard encoding of [`Rules`] (maps and sets are
//! sorted, so a value has one encoding); the human form is TOML
//! ([`Rules::from_toml`]). See `protocol-spec/group.md`, "Rules".

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::wire::{DecodeError, decode_canonical, encode};

mod change;
mod toml_format;

pub use change::ChangeError;
pub use toml_format::TomlError;

/// At most this many roles.
pub const MAX_ROLES: usize = 32;
/// The longest role name, in bytes.
pub const MAX_ROLE_NAME_LEN: usize = 32;
/// The largest encoded rules.
pub const MAX_RULES_LEN: usize = 16 * 1024;

/// A flag power: something a role may do. Powers with an object (assign
/// tasks *to which roles*, read *which scopes*, manage *which roles*) are
/// the role's sets, not flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Power {
    /// Post chat lines.
    Chat,
    /// Create tasks.
    CreateTask,
    /// Edit any task (a creator may always edit their own).
    EditTask,
    /// Assign and unassign tasks (to holders of the role's `assign_to`).
    AssignTask,
    /// Comment on tasks one can read.
    Comment,
    /// Close and reopen tasks.
    CloseReopen,
    /// Admit new members (through an invitation).
    Invite,
    /// Remove members (whose every role one manages).
    Remove,
    /// Change the rules (never beyond what one holds).
    ChangeRules,
    /// Rotate the group's keys.
    RotateKeys,
    /// Change the relay list.
    ChangeRelays,
}

impl Power {
    /// Every power, in declaration order.
    pub const ALL: [Power; 11] = [
        Power::Chat,
        Power::CreateTask,
        Power::EditTask,
        Power::AssignTask,
        Power::Comment,
        Power::CloseReopen,
        Power::Invite,
        Power::Remove,
        Power::ChangeRules,
        Power::RotateKeys,
        Power::ChangeRelays,
    ];

    /// The name used in the TOML format.
    pub fn name(self) -> &'static str {
        match self {
            Power::Chat => "chat",
            Power::CreateTask => "create-task",
            Power::EditTask => "edit-task",
            Power::AssignTask => "assign-task",
            Power::Comment => "comment",
            Power::CloseReopen => "close-reopen",
            Power::Invite => "invite",
            Power::Remove => "remove",
            Power::ChangeRules => "change-rules",
            Power::RotateKeys => "rotate-keys",
            Power::ChangeRelays => "change-relays",
        }
    }

    /// The power with this TOML name.
    pub fn from_name(name: &str) -> Option<Power> {
        Power::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// What one role may do.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Flag powers.
    pub powers: BTreeSet<Power>,
    /// Holders of these roles may be made assignees by this role.
    pub assign_to: BTreeSet<String>,
    /// Task scopes (roles a task can be readable by) this role reads.
    pub reads: BTreeSet<String>,
    /// Roles this role may assign and revoke.
    pub manages: BTreeSet<String>,
}

impl Role {
    /// True when this role holds everything `other` holds ("a role can never
    /// grant a power it lacks").
    pub fn covers(&self, other: &Role) -> bool {
        other.powers.is_subset(&self.powers)
            && other.assign_to.is_subset(&self.assign_to)
            && other.reads.is_subset(&self.reads)
            && other.manages.is_subset(&self.manages)
    }

    /// The union of two roles (what a holder of both may do).
    pub fn union(&mut self, other: &Role) {
        self.powers.extend(other.powers.iter().copied());
        self.assign_to.extend(other.assign_to.iter().cloned());
        self.reads.extend(other.reads.iter().cloned());
        self.manages.extend(other.manages.iter().cloned());
    }
}

/// Who may recover a group in which no member holds a role with
/// [`Power::ChangeRules`] any more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Recovery {
    /// Nobody: the group keeps its rules and roles as they are.
    Nobody,
    /// The remaining member admitted earliest acts as if holding every role
    /// until some member holds a role with `ChangeRules` again.
    EarliestMember,
}

/// The rules of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    /// The roles by name.
    pub roles: BTreeMap<String, Role>,
    /// The role the founder holds after genesis.
    pub founder: String,
    /// The role an inviter may always give a newcomer, managed or not.
    pub newcomer: Option<String>,
    /// Recovery when no rule-changer remains.
    pub recovery: Recovery,
}

/// Why rules are not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    /// The binary form does not decode.
    #[error("undecodable rules: {0}")]
    Decode(#[from] DecodeError),
    /// The text form is not valid; the error names the line.
    #[error("{0}")]
    Toml(#[from] TomlError),
    /// No roles, or more than [`MAX_ROLES`].
    #[error("{0} roles; between 1 and {MAX_ROLES} are allowed")]
    RoleCount(usize),
    /// A role name is empty, too long or has characters other than
    /// `a-z`, `0-9` and `-`.
    #[error("role name {0:?} is not 1-32 characters of a-z, 0-9 and -")]
    BadRoleName(String),
    /// A role refers to a role that does not exist.
    #[error("role {role:?} refers to unknown role {unknown:?}")]
    UnknownRole {
        /// The referring role (or `founder`/`newcomer`).
        role: String,
        /// The missing name.
        unknown: String,
    },
    /// A role manages a role that holds something it lacks.
    #[error("role {manager:?} manages {managed:?}, which holds more than it does")]
    GrantsMore {
        /// The managing role.
        manager: String,
        /// The managed role.
        managed: String,
    },
    /// The binary form would be longer than [`MAX_RULES_LEN`] (the text
    /// form can say more than a message can carry).
    #[error("rules encode to {len} bytes; at most {MAX_RULES_LEN} are allowed")]
    TooLarge {
        /// The length of the binary form.
        len: usize,
    },
    /// The manages relation has a cycle (a role managing itself included);
    /// `manager` manages `managed`, which already (indirectly) manages it.
    #[error("manages relation has a cycle: {manager:?} manages {managed:?}, which manages it back")]
    ManagesCycle {
        /// The role whose `manages` entry closes the cycle.
        manager: String,
        /// The role named in that entry.
        managed: String,
    },
}

impl Rules {
    /// What the soaks' adversaries write as a rule change: `newcomer` set
    /// to `role`, or else `role` deleted (unless it is the founder's) and
    /// stripped from every other role and from `newcomer`.
    #[cfg(test)]
    pub(crate) fn soak_change(mut self, role: &str, newcomer: bool) -> Rules {
        if newcomer {
            self.newcomer = self.roles.contains_key(role).then(|| role.to_string());
        } else if role != self.founder {
            self.roles.remove(role);
            for r in self.roles.values_mut() {
                r.manages.remove(role);
                r.reads.remove(role);
                r.assign_to.remove(role);
            }
            if self.newcomer.as_deref() == Some(role) {
                self.newcomer = None;
            }
        }
        self
    }

    /// The canonical binary form (what genesis and rule changes carry).
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes and validates the binary form.
    pub fn decode(bytes: &[u8]) -> Result<Self, RulesError> {
        let rules: Rules = decode_canonical(bytes, MAX_RULES_LEN)?;
        rules.validate()?;
        Ok(rules)
    }

    /// Checks every invariant: role count and names, references, the
    /// founder and newcomer roles exist, managed roles hold no more than
    /// their managers, `manages` is acyclic, and the binary form fits
    /// [`MAX_RULES_LEN`].
    pub fn validate(&self) -> Result<(), RulesError> {
        if self.roles.is_empty() || self.roles.len() > MAX_ROLES {
            return Err(RulesError::RoleCount(self.roles.len()));
        }
        for (name, role) in &self.roles {
            check_name(name)?;
            let refs = role.assign_to.iter().chain(&role.reads).chain(&role.manages);
            for r in refs {
                self.check_exists(name, r)?;
            }
        }
        self.check_exists("founder", &self.founder)?;
        if let Some(n) = &self.newcomer {
            self.check_exists("newcomer", n)?;
        }
        self.check_acyclic()?;
        self.check_managed_within()?;
        // Checked here, not only in `decode`, so that rules built from the
        // text form are never ones that no genesis or rule change can carry.
        let len = self.encode().len();
        if len > MAX_RULES_LEN {
            return Err(RulesError::TooLarge { len });
        }
        Ok(())
    }

    fn check_exists(&self, role: &str, name: &str) -> Result<(), RulesError> {
        if self.roles.contains_key(name) {
            return Ok(());
        }
        Err(RulesError::UnknownRole { role: role.into(), unknown: name.into() })
    }

    fn check_managed_within(&self) -> Result<(), RulesError> {
        for (manager, role) in &self.roles {
            for managed in &role.manages {
                let Some(m) = self.roles.get(managed) else { continue };
                if !role.covers(m) {
                    let (manager, managed) = (manager.clone(), managed.clone());
                    return Err(RulesError::GrantsMore { manager, managed });
                }
            }
        }
        Ok(())
    }

    /// Depth-first search with colours; the first edge found closing a
    /// cycle is named (roles are visited in name order, so it is stable).
    fn check_acyclic(&self) -> Result<(), RulesError> {
        let mut done = BTreeSet::new();
        for start in self.roles.keys() {
            let mut path = BTreeSet::new();
            self.visit(start, &mut path, &mut done)?;
        }
        Ok(())
    }

    fn visit<'a>(
        &'a self,
        role: &'a str,
        path: &mut BTreeSet<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Result<(), RulesError> {
        if done.contains(role) {
            return Ok(());
        }
        path.insert(role);
        for next in self.roles.get(role).map(|r| &r.manages).into_iter().flatten() {
            if path.contains(next.as_str()) {
                let (manager, managed) = (role.to_string(), next.clone());
                return Err(RulesError::ManagesCycle { manager, managed });
            }
            self.visit(next, path, done)?;
        }
        path.remove(role);
        done.insert(role);
        Ok(())
    }

    /// What a holder of `held` may do: the union of those roles.
    pub fn capability<'a>(&self, held: impl IntoIterator<Item = &'a String>) -> Role {
        let mut all = Role::default();
        for role in held.into_iter().filter_map(|r| self.roles.get(r)) {
            all.union(role);
        }
        all
    }

    /// Every power over every role (recovery): the union of all roles,
    /// managing, assigning to and reading every role, root roles included.
    pub fn everything(&self) -> Role {
        let mut all = self.capability(self.roles.keys());
        let names = || self.roles.keys().cloned();
        all.manages.extend(names());
        all.assign_to.extend(names());
        all.reads.extend(names());
        all
    }
}

fn check_name(name: &str) -> Result<(), RulesError> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if name.is_empty() || name.len() > MAX_ROLE_NAME_LEN || !name.chars().all(ok_char) {
        return Err(RulesError::BadRoleName(name.into()));
    }
    Ok(())
}
