//! What the node keeps about its groups beside their chains, in the
//! profile's sealed store: which groups it has (id and genesis), relay
//! cursors, and whether a restored identity may sign yet.

use serde::{Deserialize, Serialize};

use cairn_proto::store::{Batch, Store, StoreError};
use cairn_proto::wire::{EpochId, GroupId, MailboxId, MessageId, decode_canonical, encode};

/// State values that belong to no group live under this pseudo-group id.
const NODE: [u8; 32] = [0; 32];
const GROUPS_KEY: &[u8] = b"node groups v1";
const RESTORED_KEY: &[u8] = b"node restored v1";
const CURSOR_PREFIX: &[u8] = b"cursor v1 ";
const EPOCH_SINCE_KEY: &[u8] = b"epoch since v1";
const LEFT_KEY: &[u8] = b"node left v1";
const MAX_GROUPS_LEN: usize = 1 << 20;

/// A group this profile takes part in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRef {
    /// The group id.
    pub group: GroupId,
    /// Its genesis message.
    pub genesis: MessageId,
}

/// Every group of the profile.
pub fn groups(store: &dyn Store) -> Result<Vec<GroupRef>, StoreError> {
    match store.state(&NODE, GROUPS_KEY)? {
        None => Ok(Vec::new()),
        Some(bytes) => decode_canonical(&bytes, MAX_GROUPS_LEN)
            .map_err(|_| StoreError::Corrupt { what: "the node's group list does not decode" }),
    }
}

/// `batch` plus `group` added to the group list (given the current list).
pub fn add_group(mut list: Vec<GroupRef>, group: GroupRef, batch: Batch) -> Batch {
    if !list.contains(&group) {
        list.push(group);
    }
    batch.put_state(NODE, GROUPS_KEY.to_vec(), encode(&list))
}

/// `batch` plus `group` taken off the group list (given the current list).
pub fn remove_group(mut list: Vec<GroupRef>, group: &GroupId, batch: Batch) -> Batch {
    list.retain(|g| g.group != *group);
    batch.put_state(NODE, GROUPS_KEY.to_vec(), encode(&list))
}

/// A group this profile left (`node.md`, "Leaving"): what is needed to
/// post the leave message still in the outbox, and whether the history
/// was kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Left {
    /// The group id.
    pub group: GroupId,
    /// Its relays when this member left: where the leave message goes.
    pub relays: Vec<String>,
    /// Whether the history (and the role keys that open its tasks) was
    /// kept, read-only.
    pub history_kept: bool,
}

/// Every group this profile left.
pub fn left(store: &dyn Store) -> Result<Vec<Left>, StoreError> {
    match store.state(&NODE, LEFT_KEY)? {
        None => Ok(Vec::new()),
        Some(bytes) => decode_canonical(&bytes, MAX_GROUPS_LEN)
            .map_err(|_| StoreError::Corrupt { what: "the node's left groups do not decode" }),
    }
}

/// `batch` plus `list` as the groups left.
pub fn put_left(list: &[Left], batch: Batch) -> Batch {
    batch.put_state(NODE, LEFT_KEY.to_vec(), encode(&list))
}

/// Whether this profile was restored from its recovery seed and has not yet
/// confirmed its own latest messages (`node.md`, "Restored identities").
pub fn restored_unconfirmed(store: &dyn Store) -> Result<bool, StoreError> {
    Ok(store.state(&NODE, RESTORED_KEY)?.is_some_and(|v| v == [1]))
}

/// `batch` plus the restored flag set to `on`.
pub fn set_restored(on: bool, batch: Batch) -> Batch {
    batch.put_state(NODE, RESTORED_KEY.to_vec(), vec![u8::from(on)])
}

fn cursor_key(relay: &str, mailbox: &MailboxId) -> Vec<u8> {
    [CURSOR_PREFIX, relay.as_bytes(), b" ", &mailbox.0].concat()
}

/// The last cursor received from `relay` for `mailbox` of `group`.
pub fn cursor(
    store: &dyn Store,
    group: &GroupId,
    relay: &str,
    mailbox: &MailboxId,
) -> Result<u64, StoreError> {
    let Some(v) = store.state(&group.0, &cursor_key(relay, mailbox))? else { return Ok(0) };
    let bytes: [u8; 8] = v
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::Corrupt { what: "a relay cursor is not 8 bytes" })?;
    Ok(u64::from_le_bytes(bytes))
}

/// `batch` plus a cursor.
pub fn put_cursor(
    group: GroupId,
    relay: &str,
    mailbox: &MailboxId,
    cursor: u64,
    batch: Batch,
) -> Batch {
    batch.put_state(group.0, cursor_key(relay, mailbox), cursor.to_le_bytes().to_vec())
}

/// The epoch this node last saw `group` in and when (its local clock),
/// for the rekey schedule (`group.md`, "Rekey schedule and exposure").
pub fn epoch_since(
    store: &dyn Store,
    group: &GroupId,
) -> Result<Option<(EpochId, u64)>, StoreError> {
    let Some(v) = store.state(&group.0, EPOCH_SINCE_KEY)? else { return Ok(None) };
    let corrupt = StoreError::Corrupt { what: "an epoch time is not 40 bytes" };
    let (id, time) = v.split_at_checked(32).ok_or(corrupt)?;
    let id: [u8; 32] = id.try_into().map_err(|_| StoreError::Corrupt { what: "epoch id" })?;
    let time: [u8; 8] = time.try_into().map_err(|_| StoreError::Corrupt { what: "epoch time" })?;
    Ok(Some((EpochId(id), u64::from_le_bytes(time))))
}

/// `batch` plus when this node first saw `group` in `epoch`.
pub fn put_epoch_since(group: GroupId, epoch: EpochId, time: u64, batch: Batch) -> Batch {
    let value = [&epoch.0[..], &time.to_le_bytes()].concat();
    batch.put_state(group.0, EPOCH_SINCE_KEY.to_vec(), value)
}
