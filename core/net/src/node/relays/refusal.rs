//! What to do when a relay refuses a post (`node.md`, "Relays"): wait and
//! post again on the same connection, solve the proof of work it asks for,
//! or leave the message in the outbox for the next connection.

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

    #[tokio::test]
    async fn a_solved_proof_checks() {
        let mailbox = MailboxId([7; 32]);
        let nonce = solve(mailbox, 12).await.expect("solved");
        assert!(pow::check(&mailbox, nonce, 12));
    }
}
