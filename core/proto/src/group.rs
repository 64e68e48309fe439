//! The group state machine: rules, roles, membership, tasks and chat, and
//! the deterministic fold that turns a group's messages into its state.
//!
//! * [`Rules`]: roles, their [`Power`]s, which roles manage which; binary
//!   (canonical postcard) and TOML forms; [`templates`].
//! * [`GroupState`]: the group layer every member reads (members, roles,
//!   tasks' group layer, relays, epoch) and its [`GroupState::state_hash`].
//! * [`Fold`]: linearizes messages by `(lamport, id)`, authorizes each
//!   against the state at its position with the cut-off rule, keeps
//!   snapshots and re-folds from a late message's position. Illegal
//!   messages get a [`Refusal`] and are kept as bounded [`Evidence`].
//! * [`schedule`]: who rotates keys and when (one designated member, then
//!   backups), and the exposure invariant with healing rekeys.
//! * [`MemberKeys`]: one member's keys for one group, driven by the fold:
//!   opens rekeys and grants, ratchets role keys, builds rekeys and grants,
//!   seals and opens task content, saves with real erasure.
//! * [`TaskContent`]: the content layer of a task, sealed to roles by the
//!   epoch layer ([`crate::epoch::SealedContent`]).
//!
//! See `protocol-spec/group.md`.

mod authorize;
mod causal;
mod evidence;
mod fold;
mod keys;
pub mod rules;
pub mod schedule;
mod state;
mod task;
pub mod templates;

pub use authorize::{Refusal, authorize, capability};
pub use evidence::{Evidence, Exhibit};
pub use fold::{Change, Fold, SNAPSHOT_EVERY, Verdict};
pub use keys::{
    KeyError, KeyEvent, KeyStoreError, MemberKeys, REQUEST_AGAIN_SECS, content_binding,
    designated_holder, has_key_of, key_holder, key_roles, key_secret_label, rotator, task_binding,
};
pub use rules::{ChangeError, Power, Recovery, Role, Rules, RulesError, TomlError};
pub use schedule::{KeyDuty, Purpose, RekeySchedule, key_duty, rotation_order};
pub use state::{EpochState, Former, GroupState, Member, Position, STATE_HASH_CONTEXT, TaskState};
pub use task::{MAX_LABELS, TaskContent};

#[cfg(test)]
mod invariants;
#[cfg(test)]
mod model;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod test;
