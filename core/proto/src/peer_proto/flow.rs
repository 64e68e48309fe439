//! The order of resync messages on a session, checked for both directions.
//!
//! Each side may have one resync request of its own outstanding and be
//! serving one of the peer's. A reply is `ResyncItem`s, at most the
//! request's `limit`, then `ResyncDone`, or an `Error` instead of (or
//! after some of) them. Items or a done that answer no request, a second
//! request before the first is answered, or more items than asked for are
//! protocol violations: the peer is refused (`Malformed`); a local caller
//! doing the same gets an error and nothing is sent.

use super::{PeerError, PeerMessage};

/// Where each side's resync stands: the items still allowed, if a request
/// is outstanding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct ResyncFlow {
    /// Our request: items we still accept.
    asked: Option<u32>,
    /// The peer's request: items we may still send.
    serving: Option<u32>,
}

/// One direction's rule: `open` is the slot of requests made by the sender
/// of `m` (`asked` when we send, `serving` when they send), `reply` the
/// slot of requests answered by the sender of `m`.
fn step(
    open: &mut Option<u32>,
    reply: &mut Option<u32>,
    m: &PeerMessage,
) -> Result<(), &'static str> {
    match m {
        PeerMessage::ResyncRequest { limit, .. } => {
            if open.is_some() {
                return Err("a resync request is already outstanding");
            }
            *open = Some(*limit);
        }
        PeerMessage::ResyncItem { .. } => match reply {
            Some(left) if *left > 0 => *left -= 1,
            Some(_) => return Err("more resync items than the limit"),
            None => return Err("resync item without a request"),
        },
        PeerMessage::ResyncDone { .. } => {
            reply.take().ok_or("resync done without a request")?;
        }
        // An error answers the outstanding request, if any.
        PeerMessage::Error { .. } => *reply = None,
        _ => {}
    }
    Ok(())
}

impl ResyncFlow {
    /// Checks a message we are about to send.
    pub(super) fn on_send(&mut self, m: &PeerMessage) -> Result<(), PeerError> {
        let mut next = *self;
        step(&mut next.asked, &mut next.serving, m).map_err(PeerError::OutOfOrder)?;
        *self = next;
        Ok(())
    }

    /// Checks a message the peer sent.
    pub(super) fn on_receive(&mut self, m: &PeerMessage) -> Result<(), PeerError> {
        step(&mut self.serving, &mut self.asked, m).map_err(PeerError::Malformed)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::wire::GroupId;

    fn request(limit: u32) -> PeerMessage {
        PeerMessage::ResyncRequest { group: GroupId([1; 32]), have: vec![], limit }
    }
    const ITEM: PeerMessage = PeerMessage::ResyncItem { message: Vec::new() };
    const DONE: PeerMessage = PeerMessage::ResyncDone { more: false };

    #[test]
    fn replies_answer_requests_within_their_limit() {
        let mut f = ResyncFlow::default();
        assert!(f.on_receive(&ITEM).is_err(), "item without a request");
        let mut f = ResyncFlow::default();
        f.on_send(&request(2)).expect("request");
        assert!(f.on_send(&request(2)).is_err(), "second request");
        f.on_receive(&ITEM).expect("1");
        f.on_receive(&ITEM).expect("2");
        assert!(f.clone().on_receive(&ITEM).is_err(), "over the limit");
        f.on_receive(&DONE).expect("done");
        assert!(f.clone().on_receive(&DONE).is_err(), "done twice");
        f.on_send(&request(1)).expect("a new request after done");
    }

    #[test]
    fn the_serving_side_is_held_to_the_same_rules() {
        let mut f = ResyncFlow::default();
        assert_eq!(f.on_send(&ITEM), Err(PeerError::OutOfOrder("resync item without a request")));
        f.on_receive(&request(1)).expect("request");
        assert!(f.clone().on_receive(&request(1)).is_err(), "overlapping requests");
        f.on_send(&ITEM).expect("item");
        assert!(f.clone().on_send(&ITEM).is_err(), "over the limit");
        f.on_send(&PeerMessage::Error { code: 5, info: 0 }).expect("error ends it");
        assert!(f.on_send(&DONE).is_err(), "already answered");
    }
}
