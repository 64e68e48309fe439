//! Who rotates the group's keys, and when: scheduled rekeys from one
//! designated member (others only as backups, later), and the exposure
//! invariant with healing rekeys (`protocol-spec/group.md`, "Rekey
//! schedule and exposure").
//!
//! Everything here is a pure function of the group state every member
//! shares, the member asking, and a local time the node supplies: members
//! agree on who goes first without talking, so a group does not get a
//! storm of concurrent rekeys (which the fold would resolve, at the cost of
//! wasted messages).

use serde::{Deserialize, Serialize};

use super::authorize::capability;
use super::rules::Power;
use super::state::GroupState;
use crate::crypto::PublicKey;

/// Context of the per-epoch order of rotators (`BLAKE3-derive_key`).
pub const SCHEDULE_CONTEXT: &str = "cairn 2026 group rekey schedule v1";

/// Timing of rekeys, on each member's local clock (seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RekeySchedule {
    /// How long an epoch lasts before the designated member rotates it.
    pub period_secs: u64,
    /// How long each next member in the order waits after the one before
    /// it (a backup for a designated member who is offline).
    pub backup_step_secs: u64,
    /// Most extra delay, derived per member and epoch, so that members
    /// whose clocks agree still do not act in the same second.
    pub jitter_secs: u64,
    /// Like `backup_step_secs`, for healing an exposed epoch (urgent).
    pub heal_step_secs: u64,
}

impl Default for RekeySchedule {
    /// A week per epoch; an hour between backups; up to 15 minutes of
    /// jitter; 30 seconds between healers.
    fn default() -> Self {
        Self {
            period_secs: 7 * 86_400,
            backup_step_secs: 3_600,
            jitter_secs: 900,
            heal_step_secs: 30,
        }
    }
}

/// Why a rotation order is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A scheduled rekey: members holding [`Power::RotateKeys`].
    Scheduled,
    /// Healing an exposed epoch: any current member may.
    Heal,
}

/// What a member should do about the current epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyDuty {
    /// False while the epoch is exposed: the member must not send under it
    /// (queue instead) and should warn the user.
    pub may_send: bool,
    /// Former members who know the current epoch's secret.
    pub exposed_to: Vec<PublicKey>,
    /// When this member should post a rekey (local clock): a healing rekey
    /// when exposed, else the scheduled one; `None` when it may not.
    pub rekey_at: Option<u64>,
}

/// The members who may rotate for `purpose`, in the order they should: a
/// pseudo-random order that is fresh for every epoch (so the same member
/// is not always first) and the same for every member.
pub fn rotation_order(state: &GroupState, purpose: Purpose) -> Vec<PublicKey> {
    let mut order: Vec<([u8; 32], PublicKey)> = state
        .members
        .keys()
        .filter(|m| purpose == Purpose::Heal || may_rotate(state, m))
        .map(|m| (rank(state, purpose, m), *m))
        .collect();
    order.sort();
    order.into_iter().map(|(_, m)| m).collect()
}

/// What `me` should do, given `since`: the local time at which the member
/// adopted the current epoch or, if it is exposed, first saw it exposed.
pub fn key_duty(
    state: &GroupState,
    me: &PublicKey,
    since: u64,
    schedule: &RekeySchedule,
) -> KeyDuty {
    let exposed_to: Vec<PublicKey> = state.epoch.exposed_to.iter().copied().collect();
    let exposed = !exposed_to.is_empty();
    let (purpose, wait, step) = if exposed {
        (Purpose::Heal, 0, schedule.heal_step_secs)
    } else {
        (Purpose::Scheduled, schedule.period_secs, schedule.backup_step_secs)
    };
    let rekey_at = rotation_order(state, purpose).iter().position(|m| m == me).map(|place| {
        let backups = step.saturating_mul(place as u64);
        since.saturating_add(wait).saturating_add(backups).saturating_add(jitter(
            state,
            purpose,
            me,
            schedule.jitter_secs.min(step.saturating_sub(1)),
        ))
    });
    KeyDuty { may_send: !exposed, exposed_to, rekey_at }
}

/// Seconds between members in a re-wrap order ([`rewrap_wait`]).
pub const REWRAP_STEP_SECS: u64 = 10;
/// The longest any member waits before it re-wraps the current epoch to a
/// member who asked: anyone who holds it and is online answers within this
/// (several may, late in the order; a duplicate re-wrap is harmless).
pub const REWRAP_MAX_WAIT_SECS: u64 = 50;

/// How long `me` waits, after it saw `requester` ask for the current epoch
/// (`keys.md`, "Stranded members"), before it re-wraps it: its place in an
/// order of the other members that is fresh for every epoch and requester,
/// times [`REWRAP_STEP_SECS`], at most [`REWRAP_MAX_WAIT_SECS`]. `None` if
/// `me` is not a member or is the requester.
pub fn rewrap_wait(state: &GroupState, me: &PublicKey, requester: &PublicKey) -> Option<u64> {
    let mut order: Vec<([u8; 32], &PublicKey)> = state
        .members
        .keys()
        .filter(|m| *m != requester)
        .map(|m| {
            let input = [&state.epoch.id.0[..], &[2], &requester.0, &m.0].concat();
            (blake3::derive_key(SCHEDULE_CONTEXT, &input), m)
        })
        .collect();
    order.sort();
    let place = order.iter().position(|(_, m)| *m == me)? as u64;
    Some(place.saturating_mul(REWRAP_STEP_SECS).min(REWRAP_MAX_WAIT_SECS))
}

/// How long `me` waits, after it saw a request for the current epoch from
/// a member admitted after that epoch began (a re-wrap would show it what
/// was said before it came), before it posts a plain rekey that lets it in:
/// its place among the members who may rotate ([`rotation_order`],
/// scheduled), times [`REWRAP_STEP_SECS`], at most [`REWRAP_MAX_WAIT_SECS`].
/// `None` if `me` may not rotate.
pub fn rekey_for_request_wait(state: &GroupState, me: &PublicKey) -> Option<u64> {
    let place = rotation_order(state, Purpose::Scheduled).iter().position(|m| m == me)? as u64;
    Some(place.saturating_mul(REWRAP_STEP_SECS).min(REWRAP_MAX_WAIT_SECS))
}

fn may_rotate(state: &GroupState, member: &PublicKey) -> bool {
    capability(state, member).is_ok_and(|cap| cap.powers.contains(&Power::RotateKeys))
}

fn rank(state: &GroupState, purpose: Purpose, member: &PublicKey) -> [u8; 32] {
    let mut input = Vec::with_capacity(65);
    input.extend_from_slice(&state.epoch.id.0);
    input.push(match purpose {
        Purpose::Scheduled => 0,
        Purpose::Heal => 1,
    });
    input.extend_from_slice(&member.0);
    blake3::derive_key(SCHEDULE_CONTEXT, &input)
}

/// A delay in `0..=most` seconds, fixed for the member, epoch and purpose.
/// Capped below the step between members so the order is kept.
fn jitter(state: &GroupState, purpose: Purpose, member: &PublicKey, most: u64) -> u64 {
    let r = rank(state, purpose, member);
    let mut word = [0u8; 8];
    word.copy_from_slice(&r[24..32]);
    u64::from_le_bytes(word) % most.saturating_add(1)
}
