//! [`Node`]: the running node for one profile, shared by the UI, the relay
//! pools and the peer service. Cheap to clone.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cairn_proto::crypto::PublicKey;
use cairn_proto::epoch::DEFAULT_GRACE_SECS;
use cairn_proto::group::{GroupState, RekeySchedule, Rules};
use cairn_proto::identity::Identity;
use cairn_proto::replica::Replica;
use cairn_proto::wire::{Body, Chat, GroupId, MessageId};
use tokio::sync::broadcast;
use zeroize::Zeroizing;

use super::network::{Net, Network};
use super::peers::PeerLimits;
use super::profile::{Core, now};
use super::relays::{GroupRelays, RelayPlan, WITHHOLD_GRACE};
use super::{Health, NodeError, NodeEvent, ProfileLock, open_profile, os_rng};

/// Events kept for a slow UI before the oldest are dropped (it then
/// re-reads the state).
const EVENT_BUFFER: usize = 1024;

/// What a node needs to start.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The profile directory.
    pub profile_dir: PathBuf,
    /// Tor or (tests and demos only) loopback TCP.
    pub network: Network,
    /// How often each group is resynced from a few members.
    pub sync_every: Duration,
    /// How long a relay may lag behind the others before it is reported as
    /// withholding.
    pub withhold_grace: Duration,
    /// How long superseded keys (old epochs, replaced role keys, used key
    /// packages) are kept for late messages before they are erased: what a
    /// stolen device can still open.
    pub key_grace: Duration,
    /// How often expired keys are looked for (also once at start).
    pub erase_every: Duration,
    /// When scheduled and healing rekeys are due (`group.md`, "Rekey
    /// schedule and exposure").
    pub rekey_schedule: RekeySchedule,
    /// How often the node checks whether a rekey is due.
    pub key_duty_every: Duration,
    /// Resync page size, pages per session, and the rate a served peer
    /// session may ask at.
    pub peer_limits: PeerLimits,
}

impl NodeConfig {
    /// A configuration with the default resync period (one minute).
    pub fn new(profile_dir: PathBuf, network: Network) -> Self {
        Self {
            profile_dir,
            network,
            sync_every: Duration::from_secs(60),
            withhold_grace: WITHHOLD_GRACE,
            key_grace: Duration::from_secs(DEFAULT_GRACE_SECS),
            erase_every: Duration::from_secs(60 * 60),
            rekey_schedule: RekeySchedule::default(),
            key_duty_every: Duration::from_secs(5),
            peer_limits: PeerLimits::default(),
        }
    }
}

/// A running node.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

/// The node's shared state. Five locks, always taken in this order (a
/// lock is never taken while a later one is held) and never held across
/// an `.await`; see the module doc of [`super`].
struct Inner {
    /// 1. The profile: store, replicas, outbox bookkeeping.
    core: Mutex<Core>,
    /// 2. What runs while online: relay connections and long-running tasks.
    online: Mutex<Online>,
    /// 3. Join requests waiting for a person, by short code.
    approvals: Mutex<HashMap<String, tokio::sync::oneshot::Sender<bool>>>,
    /// 3. Members last reached over the peer channel, and when.
    reached: Mutex<HashMap<PublicKey, Instant>>,
    /// 4. Health and the event channel, together, so that a subscriber's
    ///    starting state and its first event never miss or repeat a change.
    events: Mutex<Events>,
    sync_every: Duration,
    peer_limits: PeerLimits,
    withhold_grace: Duration,
    key_grace: Duration,
    erase_every: Duration,
    rekey_schedule: RekeySchedule,
    key_duty_every: Duration,
    net: Net,
    identity: Identity,
    _lock: ProfileLock,
}

/// What runs while the node is online; [`Node::shutdown`] ends both.
#[derive(Default)]
pub(crate) struct Online {
    /// Each group's relay connections.
    groups: HashMap<GroupId, GroupRelays>,
    /// The long-running tasks.
    tasks: Vec<tokio::task::AbortHandle>,
    /// Set by [`Node::shutdown`], cleared by [`Node::start`]: while set,
    /// nothing (a write, a late delivery, a join) starts relay connections.
    pub(crate) stopped: bool,
}

impl std::ops::Deref for Online {
    type Target = HashMap<GroupId, GroupRelays>;
    fn deref(&self) -> &Self::Target {
        &self.groups
    }
}

impl std::ops::DerefMut for Online {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.groups
    }
}

/// The node's health and its changes, under one lock.
struct Events {
    health: Health,
    sender: broadcast::Sender<NodeEvent>,
}

impl core::fmt::Debug for Node {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Node").field("net", &self.inner.net).finish_non_exhaustive()
    }
}

impl Node {
    /// Locks and opens the profile (the passphrase check runs off the async
    /// threads: it is deliberately slow), and prepares the transport.
    pub async fn open(
        config: NodeConfig,
        passphrase: Zeroizing<Vec<u8>>,
    ) -> Result<Self, NodeError> {
        let dir = config.profile_dir.clone();
        let (lock, profile) = tokio::task::spawn_blocking(move || open_profile(&dir, &passphrase))
            .await
            .map_err(|_| NodeError::Bug("the profile opening task failed"))??;
        let identity = profile.identity().clone();
        let core = Core::open(profile)?;
        let net = Net::new(&config.profile_dir, &config.network)?;
        let (sender, _) = broadcast::channel(EVENT_BUFFER);
        let mut health = Health::new(net.is_tor());
        health.outbox = core.outbox_len();
        let inner = Inner {
            core: Mutex::new(core),
            online: Mutex::default(),
            reached: Mutex::default(),
            approvals: Mutex::default(),
            events: Mutex::new(Events { health, sender }),
            sync_every: config.sync_every,
            peer_limits: config.peer_limits,
            withhold_grace: config.withhold_grace,
            key_grace: config.key_grace,
            erase_every: config.erase_every,
            rekey_schedule: config.rekey_schedule,
            key_duty_every: config.key_duty_every,
            net,
            identity,
            _lock: lock,
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The node's events (a new receiver sees events from now on).
    pub fn events(&self) -> broadcast::Receiver<NodeEvent> {
        lock(&self.inner.events).sender.subscribe()
    }

    /// The node's health now and every change to it from then on: the
    /// receiver's first event is the first change after the state returned.
    pub fn subscribe(&self) -> (Health, broadcast::Receiver<NodeEvent>) {
        // The outbox count is read from the store (lock order: core first).
        let outbox = self.core().outbox_len();
        let events = lock(&self.inner.events);
        let mut health = events.health.clone();
        health.outbox = outbox;
        (health, events.sender.subscribe())
    }

    /// The node's health now (Tor, listener, relays, outbox, last sync).
    pub fn health(&self) -> Health {
        self.subscribe().0
    }

    /// Tells the UI, and folds the event into the node's health.
    pub(crate) fn emit(&self, event: NodeEvent) {
        let mut events = lock(&self.inner.events);
        events.health.apply(&event, now());
        // No receiver is fine: nobody is watching.
        let _ = events.sender.send(event);
    }

    /// The profile's identity.
    pub fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    /// The transport the node connects through (Tor, or loopback in tests).
    pub fn transport(&self) -> Arc<dyn crate::Transport> {
        self.inner.net.transport()
    }

    pub(crate) fn net(&self) -> &Net {
        &self.inner.net
    }

    pub(crate) fn core(&self) -> MutexGuard<'_, Core> {
        lock(&self.inner.core)
    }

    /// Runs `work` on the blocking pool and waits for it: store commits
    /// wait on the disk (fsync) and must not hold an async worker, and
    /// the caller goes on only once they returned. `None` if `work`
    /// panicked.
    pub(crate) async fn off_workers<R: Send + 'static>(
        &self,
        work: impl FnOnce(&Node) -> R + Send + 'static,
    ) -> Option<R> {
        let node = self.clone();
        tokio::task::spawn_blocking(move || work(&node)).await.ok()
    }

    /// What one peer session may ask and get.
    pub(crate) fn peer_limits(&self) -> PeerLimits {
        self.inner.peer_limits
    }

    pub(crate) fn relays(&self) -> MutexGuard<'_, Online> {
        lock(&self.inner.online)
    }

    pub(crate) fn reached(&self) -> MutexGuard<'_, HashMap<PublicKey, Instant>> {
        lock(&self.inner.reached)
    }

    pub(crate) fn approvals(
        &self,
    ) -> MutexGuard<'_, HashMap<String, tokio::sync::oneshot::Sender<bool>>> {
        lock(&self.inner.approvals)
    }

    /// The user confirms that a restored identity may sign again (its own
    /// latest messages are back, or there were none).
    pub(super) fn confirm_restored(&self) -> Result<(), NodeError> {
        self.core().confirm_restored()
    }

    /// Whether this restored identity still waits before it signs.
    pub fn is_restored_unconfirmed(&self) -> bool {
        self.core().is_restored_unconfirmed()
    }

    /// How many outbox items wait to reach every relay of their group (a
    /// count kept in memory: nothing is read, opened or decoded).
    pub fn outbox_len(&self) -> usize {
        self.core().outbox_len()
    }

    /// The groups: id and name.
    pub fn groups(&self) -> Vec<(GroupId, String)> {
        let core = self.core();
        core.groups()
            .map(|(g, r)| (*g, r.state().map(|s| s.name.clone()).unwrap_or_default()))
            .collect()
    }

    /// Whether this member left `group` (`Action::Leave`): its history,
    /// if kept, is read-only.
    pub fn has_left(&self, group: &GroupId) -> bool {
        self.core().has_left(group)
    }

    /// The groups whose relays this node is connected to: every group it
    /// belongs to that has relays, and a group it left only until its
    /// leave message is delivered.
    pub fn followed_groups(&self) -> Vec<GroupId> {
        let mut groups: Vec<GroupId> = self.relays().keys().copied().collect();
        groups.sort_unstable();
        groups
    }

    /// Reads one group's replica.
    pub fn with_replica<R>(
        &self,
        group: &GroupId,
        f: impl FnOnce(&Replica) -> R,
    ) -> Result<R, NodeError> {
        Ok(f(self.core().replica(group)?))
    }

    /// A copy of one group's state.
    pub fn state(&self, group: &GroupId) -> Result<GroupState, NodeError> {
        self.with_replica(group, |r| r.state().cloned())?.ok_or(NodeError::UnknownGroup)
    }

    /// Founds a group with `rules` and `relays` (relay addresses).
    pub(super) fn create_group(
        &self,
        name: &str,
        rules: &Rules,
        relays: Vec<String>,
    ) -> Result<GroupId, NodeError> {
        let (group, queued) = {
            let mut core = self.core();
            let (group, queued) = core.create_group(name, rules, relays, now())?;
            // The relay tasks start under the same hold of `core` (then
            // `online`, in lock order): no other action sees the new group
            // before its relay connections exist, and they start from the
            // relay list and mailboxes the group was founded with.
            if let Some(plan) = RelayPlan::of(&core, &group) {
                self.start_relays_with(group, plan);
            }
            (group, queued)
        };
        self.dispatch(queued);
        Ok(group)
    }

    /// Writes `body` to `group`; it is in the outbox before this returns.
    pub(super) fn write(&self, group: GroupId, body: Body) -> Result<MessageId, NodeError> {
        self.build_and_write(group, |_| Ok(body))
    }

    /// Sends a chat line (replying to `reply_to`, if given).
    pub(super) fn chat(
        &self,
        group: GroupId,
        text: &str,
        reply_to: Option<MessageId>,
    ) -> Result<MessageId, NodeError> {
        self.write(group, Body::Chat(Chat { text: text.into(), reply_to }))
    }

    /// Goes online: listens for peers (the onion service once Tor is up),
    /// connects every group's relays (posting what the outbox holds) and
    /// watches for withholding relays.
    pub async fn start(&self) {
        self.relays().stopped = false;
        let node = self.clone();
        self.spawn(async move {
            let emitter = node.clone();
            let emit = Arc::new(move |e| emitter.emit(e));
            match node.net().listen(node.identity(), emit).await {
                Ok(listener) => node.serve_peers(listener),
                Err(e) => tracing::error!("cannot listen for peers: {e}"),
            }
        });
        let groups = self.core().relay_groups();
        for g in groups {
            self.start_relays(g);
        }
        let waiting = self.core().outbox().unwrap_or_default();
        self.dispatch(waiting);
        let grace = self.inner.withhold_grace;
        self.every(grace.min(Duration::from_secs(5)), move |n| n.check_withholding(grace));
        let node = self.clone();
        self.spawn(async move {
            let mut tick = tokio::time::interval(node.inner.sync_every);
            loop {
                tick.tick().await;
                node.resync_all().await;
            }
        });
        self.every(self.inner.erase_every, Node::erase_expired_keys);
        self.every(self.inner.key_duty_every, Node::rekey_when_due);
    }

    /// Runs `work` every `period` (the first time at once) until
    /// [`Node::shutdown`], off the async workers (it may commit).
    fn every(&self, period: Duration, work: impl Fn(&Node) + Send + Sync + 'static) {
        let node = self.clone();
        let work = Arc::new(work);
        self.spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                let work = work.clone();
                node.off_workers(move |n| work(n)).await;
            }
        });
    }

    /// Posts the rekeys that are due: a scheduled rotation, or the healing
    /// of an epoch a former member still knows (`node.md`, "Key duty").
    pub fn rekey_when_due(&self) {
        self.stranded_duties();
        let schedule = &self.inner.rekey_schedule;
        let due = self.core().due_rekeys(now(), schedule);
        for group in due {
            // Judged again under the lock that writes: a rekey that arrived
            // since the first look (another member's turn) makes this one
            // no longer due, and two rotations would be one too many.
            let rotated = self.decide_and_write(group, |core| {
                if !core.rekey_due(group, now(), schedule)? {
                    return Ok(None);
                }
                let (rekey, _) = core.replica_mut(&group)?.build_rekey(&mut os_rng(), None, &[])?;
                Ok(Some(Body::Rekey(rekey)))
            });
            match rotated {
                Ok(Some(_)) => {
                    tracing::info!("rotated the keys of a group, as scheduled or to heal")
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("a due rekey failed: {e}"),
            }
        }
    }

    /// Erases every key superseded longer ago than the key grace period.
    pub fn erase_expired_keys(&self) {
        let grace = self.inner.key_grace.as_secs();
        match self.core().erase_expired(now(), grace) {
            Ok(0) => {}
            Ok(n) => tracing::info!("erased {n} expired keys"),
            Err(e) => tracing::warn!("cannot erase expired keys: {e}"),
        }
    }

    /// Spawns a long-running task that [`Node::shutdown`] stops.
    pub(crate) fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(task).abort_handle();
        let mut online = self.relays();
        // Short background exchanges come and go: keep only the running.
        online.tasks.retain(|t| !t.is_finished());
        online.tasks.push(handle);
    }

    /// Goes offline: stops listening (the onion service with it), the
    /// relay connections and the periodic work. What is stored stays; the
    /// profile stays locked until the last handle is dropped.
    pub fn shutdown(&self) {
        let mut online = self.relays();
        online.stopped = true;
        for task in online.tasks.drain(..) {
            task.abort();
        }
        online.groups.clear();
    }

    /// Resyncs every group from a few members.
    pub async fn resync_all(&self) {
        let groups: Vec<GroupId> = {
            let core = self.core();
            core.groups().map(|(g, _)| *g).filter(|g| !core.has_left(g)).collect()
        };
        for g in groups {
            if let Err(e) = self.resync_group(g).await {
                tracing::debug!("resync: {e}");
            }
        }
    }
}

/// Locks `m`. A panic while holding a lock leaves state whose last
/// operation did not commit; the store is still consistent, so carry on.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod test {
    use cairn_proto::identity::KdfParams;

    use super::*;
    use crate::TorNetwork;

    /// A node in Tor mode (arti created, not bootstrapped: nothing is
    /// contacted).
    async fn tor_node(dir: &std::path::Path) -> Node {
        super::super::create_profile(dir, b"pass", KdfParams::MIN).expect("profile");
        let config = NodeConfig::new(dir.to_path_buf(), Network::Tor(TorNetwork::Public));
        Node::open(config, Zeroizing::new(b"pass".to_vec())).await.expect("open")
    }

    #[tokio::test]
    async fn a_view_that_subscribes_after_tor_bootstrapped_reads_tor_ready() {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = tor_node(dir.path()).await;
        assert!(!node.health().tor_ready(), "not bootstrapped yet");
        let (_, mut early) = node.subscribe();
        node.emit(NodeEvent::TorBootstrap { percent: 100, blocked: None });
        node.emit(NodeEvent::Listening { address: "x.onion:7448".into() });
        // A view that starts now has missed both events, and reads the state.
        let (health, mut late) = node.subscribe();
        assert!(health.tor_ready(), "{health:?}");
        assert_eq!(health.listening.as_deref(), Some("x.onion:7448"));
        assert!(late.try_recv().is_err(), "no change is delivered twice");
        // One that started early folds the same events to the same state.
        let mut folded = Health::new(true);
        while let Ok(e) = early.try_recv() {
            folded.apply(&e, 0);
        }
        assert_eq!(folded.tor, health.tor);
    }
}
