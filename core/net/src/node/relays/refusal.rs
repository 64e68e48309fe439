//! What to do when a relay refuses a post (`node.md`, "Relays"): wait and
//! post again on the same connection, solve the proof of work it asks for,
//! or leave the message in the outbox for the next connection.

use std::collections::HashMap;
use std::time::Duration;

use cairn_proto::relay_proto::{ErrorCode, pow};
use cairn_proto::wire::MailboxId;

/// The hardest proof of work the node solves (2^24 hashes, about a second
/// of one core); a relay asking more is treated as refusing.
pub(super) const MAX_SOLVED_DIFFICULTY: u8 = 24;
/// Refusals of one post on one connection before it waits for the next
/// connection (a relay cannot keep a node solving or waiting forever).
pub(super) const MAX_ATTEMPTS: u8 = 8;
/// Wait before posting again after a refusal that names no wait.
const BUSY_WAIT: Duration = Duration::from_secs(5);
/// Wait before posting again to a full mailbox (retention frees space
/// slowly).
const FULL_WAIT: Duration = Duration::from_secs(60);
/// The longest wait a relay can ask for.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// The answer to one refused post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plan {
    /// Post again after this long.
    RetryAfter(Duration),
    /// Solve a proof of work of this difficulty, then post again with it.
    Solve(u8),
    /// Not on this connection: the message stays in the outbox and is
    /// posted again on the next one.
    Later,
}

/// Decides what to do about refusal `code` (with its `info`).
pub(super) fn plan(code: u16, info: u64) -> Plan {
    match ErrorCode::from_number(code) {
        Some(ErrorCode::RateLimited) => {
            let wait = Duration::from_millis(info.max(100)).min(MAX_WAIT);
            Plan::RetryAfter(wait)
        }
        Some(ErrorCode::Overloaded | ErrorCode::Internal) => Plan::RetryAfter(BUSY_WAIT),
        Some(ErrorCode::QuotaExceeded) => Plan::RetryAfter(FULL_WAIT),
        Some(ErrorCode::ProofOfWorkRequired) => match u8::try_from(info) {
            Ok(d) if d <= MAX_SOLVED_DIFFICULTY => Plan::Solve(d),
            _ => Plan::Later,
        },
        _ => Plan::Later,
    }
}

/// Proofs of work of one connection: those solved, and those being solved
/// with the posts that wait for them. A relay asks for a proof per mailbox,
/// so the envelopes of one message (one per role's mailbox, often several
/// in one) refused together share one solve instead of each starting its
/// own second of hashing.
pub(super) struct Proofs<P> {
    solved: HashMap<MailboxId, u64>,
    /// Mailbox → the difficulty being solved and the posts waiting for it.
    solving: HashMap<MailboxId, (u8, Vec<P>)>,
}

/// What to do with a post refused for want of a proof of work.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ProofStep<P> {
    /// A proof already solved on this connection will do: post again with it.
    Use(u64, P),
    /// Solve one (the post comes back with it).
    Solve(P),
    /// A solve for this mailbox is under way; the post waits for it.
    Wait,
}

impl<P> Proofs<P> {
    pub(super) fn new() -> Self {
        Self { solved: HashMap::new(), solving: HashMap::new() }
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
        match self.solving.get_mut(&mailbox) {
            Some((under_way, waiting)) if *under_way >= difficulty => {
                waiting.push(post);
                ProofStep::Wait
            }
            // None under way, or an easier one: solve this difficulty. Posts
            // already waiting go out with whichever proof comes first and
            // are asked again if it falls short.
            Some((under_way, _)) => {
                *under_way = difficulty;
                ProofStep::Solve(post)
            }
            None => {
                self.solving.insert(mailbox, (difficulty, Vec::new()));
                ProofStep::Solve(post)
            }
        }
    }

    /// A proof for `mailbox` came back solved: remembers it and returns the
    /// posts that waited for it.
    pub(super) fn solved(&mut self, mailbox: MailboxId, nonce: u64) -> Vec<P> {
        self.solved.insert(mailbox, nonce);
        let Some((under_way, waiting)) = self.solving.get_mut(&mailbox) else { return Vec::new() };
        let waiting = std::mem::take(waiting);
        // An easier proof than the one under way: the harder solve goes on
        // and later refusals still wait for it.
        if pow::check(&mailbox, nonce, *under_way) {
            self.solving.remove(&mailbox);
        }
        waiting
    }
}

/// Finds a proof of work for `mailbox` (off the async threads: up to a
/// second of hashing).
pub(super) async fn solve(mailbox: MailboxId, difficulty: u8) -> Option<u64> {
    // Twice the expected number of tries fails with probability e^-2 per
    // round; four rounds from different starts make failure negligible.
    let tries = 2u64 << difficulty;
    tokio::task::spawn_blocking(move || {
        (0..4u64).find_map(|round| pow::solve(&mailbox, difficulty, round * tries, tries))
    })
    .await
    .ok()
    .flatten()
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn rate_limits_wait_as_told_within_bounds() {
        let rate = ErrorCode::RateLimited.number();
        assert_eq!(plan(rate, 250), Plan::RetryAfter(Duration::from_millis(250)));
        assert_eq!(plan(rate, 0), Plan::RetryAfter(Duration::from_millis(100)));
        assert_eq!(plan(rate, u64::MAX), Plan::RetryAfter(MAX_WAIT));
    }

    #[test]
    fn proof_of_work_is_solved_up_to_the_cap() {
        let pow = ErrorCode::ProofOfWorkRequired.number();
        assert_eq!(plan(pow, 8), Plan::Solve(8));
        assert_eq!(plan(pow, u64::from(MAX_SOLVED_DIFFICULTY) + 1), Plan::Later);
        assert_eq!(plan(pow, 1 << 40), Plan::Later);
    }

    #[test]
    fn permanent_and_unknown_refusals_wait_for_the_next_connection() {
        for code in [ErrorCode::Malformed, ErrorCode::TooLarge, ErrorCode::BadSignature] {
            assert_eq!(plan(code.number(), 0), Plan::Later, "{code:?}");
        }
        assert_eq!(plan(999, 0), Plan::Later);
        assert_eq!(plan(ErrorCode::Overloaded.number(), 0), Plan::RetryAfter(BUSY_WAIT));
        assert_eq!(plan(ErrorCode::QuotaExceeded.number(), 1), Plan::RetryAfter(FULL_WAIT));
    }

    #[test]
    fn posts_refused_together_for_one_mailbox_share_one_solve() {
        let (inbox, other) = (MailboxId([1; 32]), MailboxId([2; 32]));
        let mut proofs = Proofs::new();
        assert_eq!(proofs.refused(inbox, 8, "a"), ProofStep::Solve("a"));
        assert_eq!(proofs.refused(inbox, 8, "b"), ProofStep::Wait);
        assert_eq!(proofs.refused(inbox, 4, "c"), ProofStep::Wait);
        // Another mailbox needs its own proof.
        assert_eq!(proofs.refused(other, 8, "d"), ProofStep::Solve("d"));
        let nonce = pow::solve(&inbox, 8, 0, 1 << 16).expect("solved");
        assert_eq!(proofs.solved(inbox, nonce), vec!["b", "c"]);
        assert_eq!(proofs.for_mailbox(&inbox), Some(nonce));
        assert_eq!(proofs.for_mailbox(&other), None);
        // Once solved, a later refusal of the same difficulty reuses it.
        assert_eq!(proofs.refused(inbox, 8, "e"), ProofStep::Use(nonce, "e"));
    }

    #[test]
    fn a_harder_demand_starts_a_harder_solve() {
        let inbox = MailboxId([3; 32]);
        let mut proofs = Proofs::new();
        assert_eq!(proofs.refused(inbox, 4, "a"), ProofStep::Solve("a"));
        assert_eq!(proofs.refused(inbox, 12, "b"), ProofStep::Solve("b"));
        assert_eq!(proofs.refused(inbox, 8, "c"), ProofStep::Wait);
        // The easy proof comes back first: the waiting post goes out with
        // it, and the harder solve is still awaited, not started again.
        let easy = (0..).find(|n| pow::check(&inbox, *n, 4) && !pow::check(&inbox, *n, 12));
        let easy = easy.expect("an easy proof");
        assert_eq!(proofs.solved(inbox, easy), vec!["c"]);
        assert_eq!(proofs.refused(inbox, 12, "d"), ProofStep::Wait);
        let hard = pow::solve(&inbox, 12, 0, 1 << 20).expect("solved");
        assert_eq!(proofs.solved(inbox, hard), vec!["d"]);
        assert_eq!(proofs.refused(inbox, 12, "e"), ProofStep::Use(hard, "e"));
    }

    #[tokio::test]
    async fn a_solved_proof_checks() {
        let mailbox = MailboxId([7; 32]);
        let nonce = solve(mailbox, 12).await.expect("solved");
        assert!(pow::check(&mailbox, nonce, 12));
    }
}
