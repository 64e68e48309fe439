//! The node: the async shell that owns one profile (`protocol-spec/node.md`).
//!
//! * [`ProfileLock`]: one process per profile.
//! * [`Core`](profile::Core): the profile's store and one replica per group,
//!   behind one lock; every change is committed (entries, keys, outbox,
//!   cursors) before anything is sent.
//! * [`registry`]: the group list, relay cursors, the restore guard.
//! * [`Action`]: what a user can do, one type for the CLI and the TUI,
//!   done by [`Node::act`], the only public way to do it (the demo and the
//!   tests use it too).
//! * [`Health`]: Tor, listener, relays, outbox, last sync, as state a view
//!   reads on [`Node::subscribe`]; each [`NodeEvent`] is a change to it.
//!
//! # Locks
//!
//! `core` is held while the store commits, and a commit waits on the disk:
//! the node's own tasks take it on the blocking pool (`Node::off_workers`),
//! never on an async worker, and wait for it before they go on.
//!
//! The node holds five `std::sync::Mutex`es (in `handle.rs`). None is held
//! across an `.await`, and they are taken only in this order: a thread
//! holding one never takes an earlier one.
//!
//! 1. `core` ([`profile::Core`]): store, replicas, outbox and its
//!    acknowledgements. One action holds it once: `build_and_write` builds
//!    the body (a rekey, a sealed task) and commits it under the same guard,
//!    so nothing can move the group's epoch in between.
//!    Founding a group is one hold too: `create_group` commits the group,
//!    reads its relay list and mailboxes, and starts its relay connections
//!    (taking `online` inside) before it lets `core` go, so no other action
//!    can write to the group before the connections that post it exist.
//!    Only the hand-off of the outbox items (`dispatch`) comes after, and
//!    it retakes `core` safely: the items are committed already, and an
//!    item not handed over is posted when the connection is made.
//! 2. `online`: each group's relay connections and the node's long-running
//!    tasks, which [`Node::shutdown`] ends together.
//! 3. `approvals` (join requests waiting for a person) and `reached` (when
//!    each member was last reached). Never nested with each other.
//! 4. `events`: [`Health`] and the event channel. A leaf: `emit` may be
//!    called with any other lock held, and takes nothing while holding it.

use std::path::Path;

use cairn_proto::identity::{KdfParams, MasterSeed};
use cairn_proto::replica::ReplicaError;
use cairn_proto::store::{Profile, StoreError};
use rand_core::UnwrapErr;

mod action;
mod actions;
mod event;
mod handle;
pub mod health;
mod inbound;
pub mod invites;
mod joins;
pub mod lock;
pub mod network;
pub mod peer_conn;
pub mod peers;
pub mod profile;
pub mod registry;
pub mod relays;
mod stranded;

pub use action::{Action, Done};
pub use event::{NodeEvent, SecurityWarning};
pub use handle::{Node, NodeConfig};
pub use health::Health;
pub use lock::{LockError, ProfileLock};
pub use network::{Network, PEER_PORT};

/// The operating system's random number generator.
pub(crate) type OsRng = UnwrapErr<getrandom::SysRng>;

pub(crate) fn os_rng() -> OsRng {
    UnwrapErr(getrandom::SysRng)
}

/// Why a node operation failed. Each says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The profile is in use or cannot be locked.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The profile's store failed (or the passphrase is wrong).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The protocol refused the action or input.
    #[error(transparent)]
    Replica(#[from] ReplicaError),
    /// The network failed.
    #[error(transparent)]
    Net(#[from] crate::Error),
    /// A peer session failed.
    #[error(transparent)]
    Peer(#[from] peer_conn::PeerConnError),
    /// The invite string is not usable.
    #[error("{0}")]
    Invite(cairn_proto::invite::InviteError),
    /// The inviter refused (code names why).
    #[error("the inviter refused: {}", join_refusal(*.0))]
    JoinRefused(u16),
    /// The invite's service cannot be reached.
    #[error(
        "cannot reach the invite's service: the invite was already used or has expired, or the inviter is offline; ask for a new one"
    )]
    InviteGone,
    /// No join request waits with that short code.
    #[error("no join request waits with that code")]
    NoSuchJoin,
    /// This profile is already in that group.
    #[error("this profile is already a member of that group")]
    AlreadyMember,
    /// No such group in this profile.
    #[error("no such group in this profile (see `cairn group list`)")]
    UnknownGroup,
    /// This member left the group: its history is read-only.
    #[error("you left this group: its history is read-only")]
    Left,
    /// Leaving a group with no relays and deleting its history at once
    /// would leave no copy of the leave message for the others to fetch.
    #[error(
        "this group has no relays: the others learn that you left only from this profile's \
         copy of the history. Leave keeping the history; once they have seen you leave, \
         leaving again with the history deleted removes it"
    )]
    LeaveNeedsHistory,
    /// Joining again a group this member left keeping its history: the
    /// read-only copy must go first (the join starts a fresh one).
    #[error(
        "you left this group and kept its history read-only: delete it first \
         (`cairn group leave GROUP --delete-history`), then join again"
    )]
    LeftKeptHistory,
    /// A restored identity must not sign before its own latest messages are
    /// back (it would fork its own chain).
    #[error(
        "this identity was restored and has not yet fetched its own latest messages from two sources; resync first, or confirm with `cairn identity confirm`"
    )]
    RestoredUnconfirmed,
    /// Something that cannot happen happened.
    #[error("bug: {0}")]
    Bug(&'static str),
}

/// Locks and opens the profile in `dir`: the lock first (so a second process
/// is refused before it asks for the passphrase), then the key file.
pub fn open_profile(dir: &Path, passphrase: &[u8]) -> Result<(ProfileLock, Profile), NodeError> {
    // Nothing is created where there is no profile.
    let key_file = dir.join(cairn_proto::store::KEY_FILE);
    if !key_file.exists() {
        return Err(StoreError::NoProfile { path: key_file }.into());
    }
    let lock = ProfileLock::acquire(dir)?;
    let profile = Profile::open(dir, passphrase, os_rng())?;
    Ok((lock, profile))
}

/// Makes a new profile in `dir` (a fresh identity), under the lock.
pub fn create_profile(
    dir: &Path,
    passphrase: &[u8],
    params: KdfParams,
) -> Result<Profile, NodeError> {
    make_private_dir(dir)?;
    let _lock = ProfileLock::acquire(dir)?;
    Ok(Profile::create(dir, passphrase, params, os_rng())?)
}

/// Makes a profile in `dir` for an identity restored from its recovery
/// seed, under the lock, and marks it restored: it will not sign until its
/// own latest messages are back (`node.md`, "Restored identities").
pub fn restore_profile(
    dir: &Path,
    seed: MasterSeed,
    passphrase: &[u8],
    params: KdfParams,
) -> Result<Profile, NodeError> {
    make_private_dir(dir)?;
    let _lock = ProfileLock::acquire(dir)?;
    let profile = Profile::restore(dir, seed, passphrase, params, os_rng())?;
    let mut core = profile::Core::open(profile)?;
    core.mark_restored()?;
    Ok(core.into_profile())
}

fn make_private_dir(dir: &Path) -> Result<(), NodeError> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| crate::Error::io("create the profile directory", e).into())
}

fn join_refusal(code: u16) -> &'static str {
    use cairn_proto::peer_proto::PeerErrorCode as C;
    match C::from_number(code) {
        Some(C::InviteUsed) => "this invite was already used; ask for a new one",
        Some(C::InviteExpired) => "this invite expired; ask for a new one",
        Some(C::NotApproved) => "the inviter did not approve",
        Some(C::NotAuthorized) => "the invite does not match (wrong or altered invite)",
        _ => "the inviter's node failed",
    }
}
