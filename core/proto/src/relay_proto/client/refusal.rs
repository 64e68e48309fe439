//! What a client does when a relay refuses a request (`node.md`, "Relays"):
//! wait and ask again on the same connection, solve the proof of work it
//! demands, leave the post for the next connection, or never post that
//! envelope to that relay again.
//!
//! The decision is a pure function of the typed refusal, so that a refusal
//! that cannot succeed (a bad signature, a proof harder than a node will
//! solve) is told apart from one that waiting cures, and is not retried.

use std::collections::BTreeMap;

use core::time::Duration;

use crate::relay_proto::{ErrorCode, pow};
use crate::wire::MailboxId;

/// The hardest proof of work a client solves (2^24 hashes, about a second
/// of one core); a relay asking more is treated as refusing for good.
pub const MAX_SOLVED_DIFFICULTY: u8 = 24;
/// Refusals of one post on one connection before the client stops obeying
/// the relay's waits and proof demands: a post refused with a wait then
/// goes only every [`MAX_WAIT`], and one asking for work waits for the next
/// connection (a relay cannot keep a client hashing or busy forever).
pub const MAX_ATTEMPTS: u8 = 8;
/// Wait before asking again after a refusal that names no wait.
pub const BUSY_WAIT: Duration = Duration::from_secs(5);
/// Wait before posting again to a full mailbox (retention frees space
/// slowly).
pub const FULL_WAIT: Duration = Duration::from_secs(60);
/// The longest wait a relay can ask for.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// The shortest wait after a rate limit (a relay saying 0 is not obeyed
/// literally: that would be a busy loop).
pub const MIN_RATE_WAIT: Duration = Duration::from_millis(100);

/// A relay's refusal of one request or of the connection, as it came on
/// the wire: a code number (perhaps unknown to this build) and its `info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Refusal {
    /// The code number ([`Refusal::code`] names it).
    pub number: u16,
    /// The code's detail (`relay.md` §8).
    pub info: u64,
}

impl Refusal {
    /// A refusal with a code this build knows.
    pub fn new(code: ErrorCode, info: u64) -> Self {
        Self { number: code.number(), info }
    }

    /// The code, if this build knows the number.
    pub fn code(&self) -> Option<ErrorCode> {
        ErrorCode::from_number(self.number)
    }

    /// What to do about this refusal of a post.
    pub fn plan(&self) -> Plan {
        match self.code() {
            Some(ErrorCode::RateLimited) => {
                Plan::RetryAfter(Duration::from_millis(self.info).clamp(MIN_RATE_WAIT, MAX_WAIT))
            }
            Some(ErrorCode::Overloaded | ErrorCode::Internal) => Plan::RetryAfter(BUSY_WAIT),
            Some(ErrorCode::QuotaExceeded) => Plan::RetryAfter(FULL_WAIT),
            Some(ErrorCode::ProofOfWorkRequired) => match u8::try_from(self.info) {
                Ok(d) if d <= MAX_SOLVED_DIFFICULTY => Plan::Solve(d),
                _ => Plan::Never,
            },
            // The same bytes get the same verdict from the same relay.
            Some(ErrorCode::BadSignature | ErrorCode::Malformed | ErrorCode::TooLarge) => {
                Plan::Never
            }
            // A fresh connection has a fresh mailbox budget; unknown codes
            // are refusals (`relay.md` §8) that a later connection may not
            // repeat.
            _ => Plan::NextConnection,
        }
    }
}

impl core::fmt::Display for Refusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.code() {
            Some(code) => write!(f, "{} (code {}, info {})", code.name(), self.number, self.info),
            None => write!(f, "unknown (code {}, info {})", self.number, self.info),
        }
    }
}

/// The answer to one refused post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Post again on this connection after this long.
    RetryAfter(Duration),
    /// Solve a proof of work of this difficulty, then post again with it.
    Solve(u8),
    /// Not on this connection: the post goes again on the next one.
    NextConnection,
    /// Never post this envelope to this relay again: it cannot succeed.
    Never,
}

/// What the client does after a post's refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The post goes again on this connection every [`MAX_WAIT`] (it was
    /// refused [`MAX_ATTEMPTS`] times with waits).
    Slowly,
    /// The post goes again on the next connection.
    NextConnection,
    /// The envelope is not posted to this relay again (until the client
    /// restarts and forgets).
    Never,
}

/// Proofs of work of one connection: those solved, and those being solved
/// with the posts that wait for them. A relay asks for a proof per mailbox,
/// so the envelopes of one message (one per role's mailbox, often several
/// in one) refused together share one solve instead of each starting its
/// own second of hashing.
#[derive(Debug)]
pub(super) struct Proofs<P> {
    solved: BTreeMap<MailboxId, u64>,
    /// Mailbox → the difficulty being solved and the posts waiting for it.
    solving: BTreeMap<MailboxId, (u8, Vec<P>)>,
}

/// What to do with a post refused for want of a proof of work.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ProofStep<P> {
    /// A proof already solved will do: post again with it.
    Use(u64, P),
    /// Start solving one of this difficulty; the post waits for it.
    Solve,
    /// A solve for this mailbox is under way; the post waits for it.
    Wait,
}

impl<P> Proofs<P> {
    /// Proofs knowing `solved` ones (from earlier connections).
    pub(super) fn new(solved: BTreeMap<MailboxId, u64>) -> Self {
        Self { solved, solving: BTreeMap::new() }
    }

    /// The proofs solved so far, to remember for the next connection.
    pub(super) fn into_solved(self) -> BTreeMap<MailboxId, u64> {
        self.solved
    }

    /// The proof to send with a post to `mailbox`, if one was solved.
    pub(super) fn for_mailbox(&self, mailbox: &MailboxId) -> Option<u64> {
        self.solved.get(mailbox).copied()
    }

    /// A post to `mailbox` was refused until it carries a proof of
    /// `difficulty`.
    pub(super) fn refused(&mut self, mailbox: MailboxId, difficulty: u8, post: P) -> ProofStep<P> {
        if let Some(n) = self.solved.get(&mailbox).filter(|n| pow::check(&mailbox, **n, difficulty))
        {
            return ProofStep::Use(*n, post);
        }
        let (under_way, waiting) = self.solving.entry(mailbox).or_insert((0, Vec::new()));
        waiting.push(post);
        // None under way, or an easier one: solve this difficulty. Posts
        // already waiting go out with whichever proof comes first and are
        // asked again if it falls short.
        if *under_way >= difficulty {
            return ProofStep::Wait;
        }
        *under_way = difficulty;
        ProofStep::Solve
    }

    /// A proof for `mailbox` came back solved: remembers it and returns the
    /// posts that waited for it.
    pub(super) fn solved(&mut self, mailbox: MailboxId, nonce: u64) -> Vec<P> {
        self.solved.insert(mailbox, nonce);
        let Some((under_way, waiting)) = self.solving.get_mut(&mailbox) else { return Vec::new() };
        let waiting = core::mem::take(waiting);
        // An easier proof than the one under way: the harder solve goes on
        // and later refusals still wait for it.
        if pow::check(&mailbox, nonce, *under_way) {
            self.solving.remove(&mailbox);
        }
        waiting
    }

    /// No proof was found for `mailbox`: returns the posts that waited.
    pub(super) fn failed(&mut self, mailbox: MailboxId) -> Vec<P> {
        self.solving.remove(&mailbox).map(|(_, waiting)| waiting).unwrap_or_default()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn plan(code: ErrorCode, info: u64) -> Plan {
        Refusal::new(code, info).plan()
    }

    #[test]
    fn rate_limits_wait_as_told_within_bounds() {
        let rate = ErrorCode::RateLimited;
        assert_eq!(plan(rate, 250), Plan::RetryAfter(Duration::from_millis(250)));
        assert_eq!(plan(rate, 0), Plan::RetryAfter(MIN_RATE_WAIT));
        assert_eq!(plan(rate, u64::MAX), Plan::RetryAfter(MAX_WAIT));
    }

    #[test]
    fn proof_of_work_is_solved_up_to_the_cap() {
        let pow = ErrorCode::ProofOfWorkRequired;
        assert_eq!(plan(pow, 8), Plan::Solve(8));
        assert_eq!(plan(pow, u64::from(MAX_SOLVED_DIFFICULTY) + 1), Plan::Never);
        assert_eq!(plan(pow, 1 << 40), Plan::Never);
    }

    #[test]
    fn refusals_that_cannot_succeed_are_final_and_others_wait() {
        for code in [ErrorCode::Malformed, ErrorCode::TooLarge, ErrorCode::BadSignature] {
            assert_eq!(plan(code, 0), Plan::Never, "{code:?}");
        }
        let unknown = Refusal { number: 999, info: 0 };
        assert_eq!(unknown.plan(), Plan::NextConnection);
        assert_eq!(unknown.to_string(), "unknown (code 999, info 0)");
        assert_eq!(plan(ErrorCode::TooManyMailboxes, 2), Plan::NextConnection);
        assert_eq!(plan(ErrorCode::Overloaded, 0), Plan::RetryAfter(BUSY_WAIT));
        assert_eq!(plan(ErrorCode::Internal, 0), Plan::RetryAfter(BUSY_WAIT));
        assert_eq!(plan(ErrorCode::QuotaExceeded, 1), Plan::RetryAfter(FULL_WAIT));
    }

    #[test]
    fn posts_refused_together_for_one_mailbox_share_one_solve() {
        let (inbox, other) = (MailboxId([1; 32]), MailboxId([2; 32]));
        let mut proofs = Proofs::new(BTreeMap::new());
        assert_eq!(proofs.refused(inbox, 8, "a"), ProofStep::Solve);
        assert_eq!(proofs.refused(inbox, 8, "b"), ProofStep::Wait);
        assert_eq!(proofs.refused(inbox, 4, "c"), ProofStep::Wait);
        // Another mailbox needs its own proof.
        assert_eq!(proofs.refused(other, 8, "d"), ProofStep::Solve);
        let nonce = pow::solve(&inbox, 8, 0, 1 << 16).expect("solved");
        assert_eq!(proofs.solved(inbox, nonce), vec!["a", "b", "c"]);
        assert_eq!(proofs.for_mailbox(&inbox), Some(nonce));
        assert_eq!(proofs.for_mailbox(&other), None);
        // Once solved, a later refusal of the same difficulty reuses it.
        assert_eq!(proofs.refused(inbox, 8, "e"), ProofStep::Use(nonce, "e"));
        assert_eq!(proofs.failed(other), vec!["d"]);
        assert_eq!(proofs.into_solved(), BTreeMap::from([(inbox, nonce)]));
    }

    #[test]
    fn a_harder_demand_starts_a_harder_solve() {
        let inbox = MailboxId([3; 32]);
        let mut proofs = Proofs::new(BTreeMap::new());
        assert_eq!(proofs.refused(inbox, 4, "a"), ProofStep::Solve);
        assert_eq!(proofs.refused(inbox, 12, "b"), ProofStep::Solve);
        assert_eq!(proofs.refused(inbox, 8, "c"), ProofStep::Wait);
        // The easy proof comes back first: the waiting posts go out with
        // it, and the harder solve is still awaited, not started again.
        let easy = (0..).find(|n| pow::check(&inbox, *n, 4) && !pow::check(&inbox, *n, 12));
        let easy = easy.expect("an easy proof");
        assert_eq!(proofs.solved(inbox, easy), vec!["a", "b", "c"]);
        assert_eq!(proofs.refused(inbox, 12, "d"), ProofStep::Wait);
        let hard = pow::solve(&inbox, 12, 0, 1 << 20).expect("solved");
        assert_eq!(proofs.solved(inbox, hard), vec!["d"]);
        assert_eq!(proofs.refused(inbox, 12, "e"), ProofStep::Use(hard, "e"));
    }
}
