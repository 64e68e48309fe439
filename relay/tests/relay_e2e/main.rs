//! End-to-end tests of the real `cairn-relay` process over loopback TCP.
//!
//! Every test starts its own relay binary on a temporary data directory,
//! talks to it through real sockets and, where it matters, kills it.
//!
//! * `basics`: self-certifying posts, cursor order, fetch, live
//!   subscriptions across many mailboxes, one group per connection, `status`.
//! * `durability`: restart, SIGTERM with posts in flight, SIGKILL during a
//!   stream of acknowledged posts (20 trials).
//! * `abuse`: malformed, truncated, oversized and random frames; 1 000
//!   concurrent connections; slow readers and stalled handshakes; RSS bounds.
//! * `storage`: retention, quotas, fair-share eviction, proof of work.
//! * `onion`: the onion-service listener on a private Tor network.

// A shell: clocks and the OS RNG belong here, not in cairn-proto.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod abuse;
mod basics;
mod durability;
mod harness;
mod onion;
mod storage;
