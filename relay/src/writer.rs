//! The store writer thread: group commit, acknowledgements, live pushes and
//! retention sweeps.
//!
//! Connections hand posts to one bounded queue ([`Job`]). The thread takes
//! the first, collects more for up to the commit window or `max_batch`
//! posts, stores them in one durable transaction, then acknowledges each
//! (an acknowledgement is sent only after the commit returned) and publishes
//! the new envelopes to the hub. A full queue is the caller's problem: it
//! answers `overloaded` instead of waiting.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use cairn_proto::relay_proto::{ErrorCode, StoreRefusal, Stored};
use cairn_proto::wire::{Envelope, MailboxId};
use tokio::sync::mpsc::OwnedPermit;

use crate::hub::{Hub, Push};
use crate::metrics::{Counters, add};
use crate::store::{PostIn, RECOVER_EVERY, StoreWriter};

/// Removals per sweep transaction (a sweep never stalls posts for long).
const SWEEP_CHUNK: u64 = 20_000;

/// The acknowledgement of one post, for its connection.
#[derive(Debug)]
pub(crate) struct Ack {
    /// The post's request id.
    pub(crate) id: u32,
    /// Stored (with its cursor) or refused.
    pub(crate) outcome: Result<Stored, StoreRefusal>,
}

/// One post to store.
#[derive(Debug)]
pub(crate) struct PostJob {
    pub(crate) id: u32,
    pub(crate) mailbox: MailboxId,
    pub(crate) envelope: Envelope,
    pub(crate) pow_proved: bool,
    /// A reserved slot in the connection's ack queue: sending never waits.
    pub(crate) reply: OwnedPermit<Ack>,
}

/// Work for the writer thread.
#[derive(Debug)]
pub(crate) enum Job {
    Post(PostJob),
    /// Run a retention sweep.
    Sweep,
    /// Finish what is queued, then exit.
    Stop,
}

/// How the writer batches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Batching {
    pub(crate) window: Duration,
    pub(crate) max_batch: usize,
}

/// Starts the writer thread; returns its queue and handle.
pub(crate) fn spawn(
    store: StoreWriter,
    hub: Arc<Hub>,
    counters: Arc<Counters>,
    batching: Batching,
    queue: usize,
) -> std::io::Result<(SyncSender<Job>, JoinHandle<()>)> {
    let (tx, rx) = sync_channel(queue);
    let mut w = Writer { store, hub, counters, batching };
    let handle =
        std::thread::Builder::new().name("cairn-relay-writer".into()).spawn(move || w.run(&rx))?;
    Ok((tx, handle))
}

struct Writer {
    store: StoreWriter,
    hub: Arc<Hub>,
    counters: Arc<Counters>,
    batching: Batching,
}

/// Unix seconds now (0 before 1970, saturating in 2106).
fn unix_now() -> u32 {
    let secs = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    u32::try_from(secs).unwrap_or(u32::MAX)
}

impl Writer {
    fn run(&mut self, rx: &Receiver<Job>) {
        self.update_gauges();
        let mut stopping = false;
        loop {
            let first = if stopping {
                rx.try_recv().ok()
            } else if self.store.needs_recovery() {
                // Reopen the failed database even if no post comes.
                match rx.recv_timeout(RECOVER_EVERY) {
                    Ok(job) => Some(job),
                    Err(RecvTimeoutError::Timeout) => {
                        self.store.heal();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => None,
                }
            } else {
                rx.recv().ok()
            };
            let Some(first) = first else { break };
            let mut posts = Vec::with_capacity(self.batching.max_batch);
            let mut sweep = false;
            self.take(first, &mut posts, &mut sweep, &mut stopping);
            let deadline = Instant::now() + self.batching.window;
            while posts.len() < self.batching.max_batch {
                let wait = deadline.saturating_duration_since(Instant::now());
                let next = match rx.recv_timeout(wait) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                };
                self.take(next, &mut posts, &mut sweep, &mut stopping);
            }
            if !posts.is_empty() {
                self.commit(posts);
            }
            if sweep {
                self.sweep();
            }
        }
        tracing::debug!("store writer stopped");
    }

    fn take(&self, job: Job, posts: &mut Vec<PostJob>, sweep: &mut bool, stopping: &mut bool) {
        match job {
            Job::Post(p) => posts.push(p),
            Job::Sweep => *sweep = true,
            Job::Stop => *stopping = true,
        }
    }

    /// Stores a batch durably, then acknowledges and publishes. A failed
    /// commit refuses the batch (`Internal`); the store recovers by itself
    /// (`StoreWriter`), so the relay goes on serving.
    fn commit(&mut self, posts: Vec<PostJob>) {
        let ins: Vec<PostIn<'_>> = posts
            .iter()
            .map(|p| PostIn {
                mailbox: p.mailbox,
                envelope: p.envelope.as_bytes(),
                pow_proved: p.pow_proved,
            })
            .collect();
        let started = Instant::now();
        let result = self.store.commit_posts(&ins, unix_now());
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        drop(ins);
        let outcomes = match result {
            Ok(report) => {
                add(&self.counters.commits, 1);
                add(&self.counters.committed_posts, posts.len() as u64);
                add(&self.counters.commit_micros, micros);
                add(&self.counters.evicted, report.evicted);
                report.outcomes
            }
            Err(e) => {
                tracing::error!(error = %e, posts = posts.len(), "commit failed; posts refused");
                add(&self.counters.store_errors, 1);
                let internal = Err(StoreRefusal { code: ErrorCode::Internal, info: 0 });
                vec![internal; posts.len()]
            }
        };
        self.update_gauges();
        for (post, outcome) in posts.into_iter().zip(outcomes) {
            self.finish(post, outcome);
        }
    }

    fn finish(&self, post: PostJob, outcome: Result<Stored, StoreRefusal>) {
        let PostJob { id, mailbox, envelope, reply, .. } = post;
        match outcome {
            Ok(Stored { duplicate: true, .. }) => add(&self.counters.posts_duplicate, 1),
            Ok(Stored { cursor, duplicate: false }) => {
                add(&self.counters.posts_stored, 1);
                let push = Push { mailbox, cursor, envelope: Arc::new(envelope) };
                let (_, lagged) = self.hub.publish(&push);
                add(&self.counters.subscriber_lags, lagged);
            }
            Err(_) => {}
        }
        // The connection may be gone; the post is stored all the same.
        reply.send(Ack { id, outcome });
    }

    /// Runs retention sweeps until done (or one fails: the next sweep
    /// tries again).
    fn sweep(&mut self) {
        loop {
            match self.store.sweep(unix_now(), SWEEP_CHUNK) {
                Ok(r) => {
                    add(&self.counters.expired, r.expired);
                    if r.expired > 0 || r.forgotten > 0 {
                        tracing::info!(
                            expired = r.expired,
                            forgotten = r.forgotten,
                            "retention sweep"
                        );
                    }
                    if !r.more {
                        break;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "retention sweep failed");
                    add(&self.counters.store_errors, 1);
                    break;
                }
            }
        }
        self.update_gauges();
    }

    fn update_gauges(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        self.counters.stored_envelopes.store(self.store.envelopes(), Relaxed);
        self.counters.mailboxes.store(self.store.mailboxes(), Relaxed);
    }
}
