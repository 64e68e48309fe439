//! [`Relay`]: the server. Accept loops feed one task per connection; one
//! writer thread stores posts; a hub carries new envelopes to subscribers.
//!
//! Bounds: a semaphore of `max_connections` (a connection beyond it gets an
//! `overloaded` refusal), per-connection queues sized by the session limits,
//! one bounded writer queue, and a byte budget for fetch pages in flight.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cairn_proto::relay_proto::{
    ErrorCode, MAX_RESPONSE_FRAME, RelayLimits, ServerHandshake, frame,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::RelayError;
use crate::config::Config;
use crate::hub::Hub;
use cairn_net::{BoxStream, Listener};

use crate::listener::describe;
use crate::metrics::{self, Counters, Snapshot, add};
use crate::store::RelayStore;
use crate::writer::{self, Batching, Job};

mod connection;

/// Refusals being written at once; beyond, excess connections are dropped.
const REFUSING: usize = 32;
/// Granularity of the output budget.
const BUDGET_UNIT: usize = 1024;

/// What every connection task shares.
pub(crate) struct Shared {
    pub(crate) limits: RelayLimits,
    pub(crate) store: RelayStore,
    pub(crate) jobs: std::sync::mpsc::SyncSender<Job>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) counters: Arc<Counters>,
    /// Fetch pages in flight, in [`BUDGET_UNIT`]s.
    pub(crate) output: Arc<Semaphore>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) shutdown_grace: Duration,
    pub(crate) push_queue: usize,
    pub(crate) origin: Instant,
    pub(crate) next_conn: AtomicU64,
}

impl Shared {
    /// Budget units for a page of `envelopes`.
    pub(crate) fn page_units(envelopes: u16) -> u32 {
        let bytes = usize::from(envelopes) * (cairn_proto::wire::ENVELOPE_LEN + 16);
        u32::try_from(bytes.div_ceil(BUDGET_UNIT)).unwrap_or(u32::MAX)
    }
}

/// A relay with its store open and its writer thread running.
pub struct Relay {
    shared: Arc<Shared>,
    writer: JoinHandle<()>,
    max_connections: u32,
    sweep_interval: Duration,
}

impl core::fmt::Debug for Relay {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Relay").field("store", &self.shared.store).finish_non_exhaustive()
    }
}

impl Relay {
    /// Opens the store in the configured data directory and starts the
    /// writer thread. Needs no async runtime; [`Relay::run`] does.
    pub fn open(config: &Config) -> Result<Self, RelayError> {
        config.validate()?;
        let cache = usize::try_from(config.storage.cache_bytes).unwrap_or(usize::MAX);
        let store = RelayStore::open(&config.data_dir, cache)?;
        let hub = Arc::new(Hub::default());
        let counters = Arc::new(Counters::default());
        let batching = Batching {
            window: config.commit_window(),
            max_batch: usize::try_from(config.storage.max_batch).unwrap_or(64),
        };
        let queue = usize::try_from(config.limits.writer_queue).unwrap_or(1024);
        let (jobs, writer) = writer::spawn(
            store.writer(config.policy())?,
            hub.clone(),
            counters.clone(),
            batching,
            queue,
        )
        .map_err(|_| RelayError::Writer("thread could not be started"))?;
        let units = config.limits.output_budget_bytes / BUDGET_UNIT as u64;
        let l = &config.limits;
        let secs = |s: u32| Duration::from_secs(u64::from(s));
        let shared = Shared {
            limits: config.relay_limits(),
            store,
            jobs,
            hub,
            counters,
            output: Arc::new(Semaphore::new(usize::try_from(units).unwrap_or(usize::MAX >> 4))),
            handshake_timeout: secs(l.handshake_timeout_secs),
            write_timeout: secs(l.write_timeout_secs),
            shutdown_grace: secs(l.shutdown_grace_secs),
            push_queue: usize::try_from(l.push_queue).unwrap_or(16),
            origin: Instant::now(),
            next_conn: AtomicU64::new(1),
        };
        let sweep_interval = secs(config.storage.sweep_interval_secs);
        Ok(Self {
            shared: Arc::new(shared),
            writer,
            max_connections: l.max_connections,
            sweep_interval,
        })
    }

    /// The relay's counters.
    pub fn counters(&self) -> Arc<Counters> {
        self.shared.counters.clone()
    }

    /// The store (for reads).
    pub fn store(&self) -> &RelayStore {
        &self.shared.store
    }

    /// A function rendering the metrics text (counters plus memory, file
    /// size and uptime read at call time).
    pub fn metrics_renderer(&self) -> Arc<dyn Fn() -> String + Send + Sync> {
        let shared = self.shared.clone();
        Arc::new(move || {
            let snap = Snapshot {
                rss_bytes: metrics::rss_bytes().unwrap_or(0),
                store_file_bytes: shared.store.file_bytes(),
                uptime_secs: shared.origin.elapsed().as_secs(),
                subscribed_mailboxes: shared.hub.mailboxes() as u64,
            };
            shared.counters.render(&snap)
        })
    }

    /// Serves `listeners` (and the metrics endpoint, if given) until
    /// `shutdown` completes. Then it stops accepting, lets each connection
    /// finish its posts in flight (acknowledging them) up to the grace time,
    /// commits everything queued and stops the writer. Run it inside a tokio
    /// runtime.
    pub async fn run(
        self,
        listeners: Vec<Box<dyn Listener>>,
        metrics_endpoint: Option<TcpListener>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), RelayError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let conns = Arc::new(Semaphore::new(usize::try_from(self.max_connections).unwrap_or(1)));
        let mut tasks = JoinSet::new();
        for l in listeners {
            tasks.spawn(accept_loop(l, self.shared.clone(), conns.clone(), stop_rx.clone()));
        }
        if let Some(m) = metrics_endpoint {
            tasks.spawn(metrics::serve(m, self.metrics_renderer(), stop_rx.clone()));
        }
        tasks.spawn(sweeper(self.shared.jobs.clone(), self.sweep_interval, stop_rx.clone()));
        let writer_died = tokio::select! {
            () = shutdown => false,
            () = finished(&self.writer) => true,
        };
        if writer_died {
            tracing::error!("the store writer stopped after a storage failure; shutting down");
        }
        tracing::info!("shutting down: no new connections; finishing posts in flight");
        let _ = stop_tx.send(true);
        while tasks.join_next().await.is_some() {}
        let all = self.max_connections;
        let wait = self.shared.shutdown_grace + self.shared.write_timeout + Duration::from_secs(1);
        if tokio::time::timeout(wait, conns.acquire_many(all)).await.is_err() {
            tracing::warn!("some connections did not close in time");
        }
        self.stop_writer().await?;
        if writer_died {
            return Err(RelayError::Writer("stopped after a storage failure; restart the relay"));
        }
        Ok(())
    }

    /// Commits what is queued and stops the writer thread.
    async fn stop_writer(self) -> Result<(), RelayError> {
        let Self { shared, writer, .. } = self;
        let jobs = shared.jobs.clone();
        drop(shared);
        let joined = tokio::task::spawn_blocking(move || {
            let _ = jobs.send(Job::Stop);
            drop(jobs);
            writer.join()
        })
        .await;
        match joined {
            Ok(Ok(())) => Ok(()),
            _ => Err(RelayError::Writer("thread failed")),
        }
    }
}

/// Completes when the writer thread has ended (it only ends early on a
/// storage failure it cannot recover from).
async fn finished(writer: &JoinHandle<()>) {
    while !writer.is_finished() {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn accept_loop(
    mut listener: Box<dyn Listener>,
    shared: Arc<Shared>,
    conns: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let refusing = Arc::new(Semaphore::new(REFUSING));
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok(s) => s,
            Err(e) => {
                // For example too many open files: back off instead of spinning.
                tracing::warn!(listener = %describe(listener.as_ref()), error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match conns.clone().try_acquire_owned() {
            Ok(permit) => {
                let (shared, stop) = (shared.clone(), stop.clone());
                tokio::spawn(async move {
                    connection::serve(stream, shared, stop).await;
                    drop(permit);
                });
            }
            Err(_) => {
                add(&shared.counters.connections_refused, 1);
                if let Ok(permit) = refusing.clone().try_acquire_owned() {
                    let timeout = shared.handshake_timeout.min(Duration::from_secs(1));
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(timeout, refuse(stream)).await;
                        drop(permit);
                    });
                }
            }
        }
    }
}

/// Tells a connection the relay is full, then closes it (reading what the
/// client sent, so that the close does not reset the refusal away).
async fn refuse(mut stream: BoxStream) {
    let hello = ServerHandshake::refusal(ErrorCode::Overloaded).encode();
    debug_assert!(hello.len() <= MAX_RESPONSE_FRAME);
    if stream.write_all(&frame::encode(&hello)).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 1024];
    for _ in 0..16 {
        if matches!(stream.read(&mut sink).await, Ok(0) | Err(_)) {
            return;
        }
    }
}

/// Asks the writer for a retention sweep every `interval` (first at start).
async fn sweeper(
    jobs: std::sync::mpsc::SyncSender<Job>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tick.tick() => {
                // A full queue means the writer is busy; the next tick retries.
                let _ = jobs.try_send(Job::Sweep);
            }
        }
    }
}
