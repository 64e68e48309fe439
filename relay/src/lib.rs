//! `cairn-relay`: the untrusted store-and-forward relay.
//!
//! A relay keeps fixed-size envelopes per mailbox for members who are
//! offline, serves them back by cursor and pushes new ones to subscribers.
//! It accepts a post only if the envelope's write signature verifies under
//! the key whose hash is the mailbox id (self-certifying: no accounts), and
//! it sees no identities and no group ids. Everything is bounded:
//! connections, request rate, mailboxes per connection, output memory, bytes
//! per mailbox, mailboxes, total bytes and retention time; overload is
//! answered with an error code. The protocol is `protocol-spec/relay.md`; its
//! state machine is `cairn_proto::relay_proto`; operating a relay is
//! `relay/README.md`.
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | the TOML configuration, its defaults and checks |
//! | [`store`] | the redb store: envelopes, cursors, dedupe, quotas, fair-share eviction, retention |
//! | [`server`] | [`Relay`]: accept loops, one task per connection, group-commit writer, subscriptions, shutdown |
//! | [`listener`] | where connections come from: the onion listener and its key (the [`Listener`](cairn_net::Listener) trait and loopback TCP are `cairn_net`'s) |
//! | [`metrics`] | counters and the loopback Prometheus endpoint |
//! | [`client`] | a small async client (tests, benchmark, `status`) |
//! | [`cli`] | the `cairn-relay` command line |

// A shell: clocks and the OS RNG belong here, not in cairn-proto (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

pub mod cli;
pub mod client;
pub mod config;
mod err;
mod hub;
pub mod listener;
mod logging;
pub mod metrics;
pub mod server;
pub mod store;
mod writer;

pub use config::Config;
pub use err::RelayError;
pub use server::Relay;
