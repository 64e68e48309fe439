//! Counters, and their Prometheus text rendering.
//!
//! Counters describe the relay as a whole; none is per client, per mailbox
//! or per address. [`serve`] exposes them on a loopback-only HTTP endpoint
//! (`GET /metrics`), which `cairn-relay status` reads.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use cairn_proto::relay_proto::ErrorCode;

mod http;

pub use http::{fetch, serve};

/// Every counter and gauge of a running relay.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections open now.
    pub connections_open: AtomicU64,
    /// Connections accepted since start.
    pub connections_total: AtomicU64,
    /// Connections refused because `max_connections` were open.
    pub connections_refused: AtomicU64,
    /// Request frames handled.
    pub requests: AtomicU64,
    /// Envelopes stored.
    pub posts_stored: AtomicU64,
    /// Posts of envelopes already stored.
    pub posts_duplicate: AtomicU64,
    /// Fetch requests served.
    pub fetches: AtomicU64,
    /// Envelopes sent in fetch pages.
    pub envelopes_served: AtomicU64,
    /// Envelopes pushed to subscribers.
    pub pushes: AtomicU64,
    /// Times a subscriber's queue was full and it caught up from the store.
    pub subscriber_lags: AtomicU64,
    /// Connections closed for not reading.
    pub slow_readers: AtomicU64,
    /// Write transactions of posts committed.
    pub commits: AtomicU64,
    /// Posts in those transactions (mean batch = this / commits).
    pub committed_posts: AtomicU64,
    /// Microseconds spent in those transactions (mean = this / commits).
    pub commit_micros: AtomicU64,
    /// Envelopes evicted by the total limit (fair share).
    pub evicted: AtomicU64,
    /// Envelopes removed by retention.
    pub expired: AtomicU64,
    /// Envelopes stored now.
    pub stored_envelopes: AtomicU64,
    /// Mailboxes known now.
    pub mailboxes: AtomicU64,
    /// Store failures (commits or reads).
    pub store_errors: AtomicU64,
    errors: [AtomicU64; ErrorCode::ALL.len()],
}

/// Adds `n` to a counter.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Figures read at scrape time rather than counted.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    /// Resident memory of the process (bytes).
    pub rss_bytes: u64,
    /// Size of the database file (bytes).
    pub store_file_bytes: u64,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Mailboxes with live subscribers.
    pub subscribed_mailboxes: u64,
}

impl Counters {
    /// Counts an error reply sent with `code`.
    pub fn error_sent(&self, code: ErrorCode) {
        if let Some(c) = self.errors.get(usize::from(code.number()).wrapping_sub(1)) {
            add(c, 1);
        }
    }

    /// The counters in Prometheus text format (version 0.0.4).
    pub fn render(&self, snap: &Snapshot) -> String {
        let mut out = String::with_capacity(4096);
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let rows: [(&str, &str, &str, u64); 23] = [
            ("connections_open", "gauge", "connections open now", get(&self.connections_open)),
            ("connections_total", "counter", "connections accepted", get(&self.connections_total)),
            (
                "connections_refused_total",
                "counter",
                "connections refused (max_connections)",
                get(&self.connections_refused),
            ),
            ("requests_total", "counter", "request frames handled", get(&self.requests)),
            ("posts_stored_total", "counter", "envelopes stored", get(&self.posts_stored)),
            (
                "posts_duplicate_total",
                "counter",
                "posts of envelopes already stored",
                get(&self.posts_duplicate),
            ),
            ("fetches_total", "counter", "fetch requests served", get(&self.fetches)),
            (
                "envelopes_served_total",
                "counter",
                "envelopes sent in fetch pages",
                get(&self.envelopes_served),
            ),
            ("pushes_total", "counter", "envelopes pushed to subscribers", get(&self.pushes)),
            (
                "subscriber_lags_total",
                "counter",
                "subscriber queues that overflowed",
                get(&self.subscriber_lags),
            ),
            (
                "slow_readers_total",
                "counter",
                "connections closed for not reading",
                get(&self.slow_readers),
            ),
            ("commits_total", "counter", "post transactions committed", get(&self.commits)),
            (
                "commit_microseconds_total",
                "counter",
                "time spent in post transactions",
                get(&self.commit_micros),
            ),
            (
                "committed_posts_total",
                "counter",
                "posts in committed transactions",
                get(&self.committed_posts),
            ),
            (
                "evicted_total",
                "counter",
                "envelopes evicted by the total limit",
                get(&self.evicted),
            ),
            ("expired_total", "counter", "envelopes removed by retention", get(&self.expired)),
            ("store_errors_total", "counter", "store failures", get(&self.store_errors)),
            ("stored_envelopes", "gauge", "envelopes stored now", get(&self.stored_envelopes)),
            ("mailboxes", "gauge", "mailboxes known now", get(&self.mailboxes)),
            (
                "subscribed_mailboxes",
                "gauge",
                "mailboxes with live subscribers",
                snap.subscribed_mailboxes,
            ),
            ("resident_memory_bytes", "gauge", "resident memory of the process", snap.rss_bytes),
            ("store_file_bytes", "gauge", "size of the database file", snap.store_file_bytes),
            ("uptime_seconds", "gauge", "seconds since start", snap.uptime_secs),
        ];
        for (name, kind, help, value) in rows {
            let _ =
                writeln!(out, "# HELP cairn_relay_{name} {help}\n# TYPE cairn_relay_{name} {kind}");
            let _ = writeln!(out, "cairn_relay_{name} {value}");
        }
        let _ = writeln!(out, "# HELP cairn_relay_errors_total error replies sent, by code");
        let _ = writeln!(out, "# TYPE cairn_relay_errors_total counter");
        for (code, c) in ErrorCode::ALL.iter().zip(&self.errors) {
            let _ =
                writeln!(out, "cairn_relay_errors_total{{code=\"{}\"}} {}", code.name(), get(c));
        }
        out
    }
}

/// Resident memory of this process (`VmRSS` of `/proc/self/status`), if
/// the system has it.
pub fn rss_bytes() -> Option<u64> {
    rss_of("self")
}

/// Resident memory of process `pid` (`"self"` for this one), in bytes.
pub fn rss_of(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The value of metric `name` (without labels) in Prometheus text.
pub fn value_of(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn renders_parseable_text() {
        let c = Counters::default();
        add(&c.posts_stored, 3);
        c.error_sent(ErrorCode::BadSignature);
        let text = c.render(&Snapshot { rss_bytes: 5, ..Snapshot::default() });
        assert_eq!(value_of(&text, "cairn_relay_posts_stored_total"), Some(3));
        assert_eq!(value_of(&text, "cairn_relay_resident_memory_bytes"), Some(5));
        assert!(text.contains("cairn_relay_errors_total{code=\"bad_signature\"} 1\n"));
        assert!(rss_bytes().is_some_and(|b| b > 0));
    }
}
