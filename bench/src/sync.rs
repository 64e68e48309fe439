//! `sync`: a new member catching up a history, with real nodes
//! (`cairn_net::node::Node`, real redb profiles) over real loopback
//! sockets, beside verifying the same number of messages one signature at a
//! time (the raw limit issue 14 compares it with, target ≤ 2×).
//!
//! * `sync.peer.N`: a member joins a relay-less group of N chat lines and
//!   resyncs from the founder's peer service until it holds everything the
//!   founder held when it joined (the invite, the admission and the pages
//!   of 256 messages, 64 pages per session).
//! * `sync.relay.N`: a member who joined the relayed group before its
//!   history, offline while it was written, comes online with the founder
//!   offline (no peer to ask) and takes everything in from a real
//!   `cairn-relay` (in this process, over loopback TCP).
//!
//! Both groups grow to each size in turn; every size has a fresh joiner.

use std::path::Path;
use std::time::{Duration, Instant};

use cairn_net::node::invites::Approval;
use cairn_net::node::{Action, Network, Node, NodeConfig, NodeEvent, create_profile};
use cairn_net::proto::group::templates;
use cairn_net::proto::identity::KdfParams;
use cairn_net::proto::wire::GroupId;
use zeroize::Zeroizing;

use crate::limits::Limits;
use crate::relay::InProcessRelay;
use crate::report::Report;

const PASS: &[u8] = b"cairn-bench profile";

/// Runs the `sync` figures at every size.
pub(crate) fn run(report: &mut Report, sizes: &[usize], limits: &Limits) {
    let rt = crate::relay::runtime();
    rt.block_on(sync(report, sizes, limits));
}

async fn sync(report: &mut Report, sizes: &[usize], limits: &Limits) {
    let root = tempfile::tempdir().expect("temp dir");
    let root = root.path();
    let relay = InProcessRelay::start(&root.join("relay")).await;
    let a = node(root, "founder").await;
    a.start().await;
    let found = |name: &str, relays: Vec<String>| {
        let rules = templates::organizer_member_observer();
        let action = Action::CreateGroup { name: name.into(), rules, relays };
        a.act(action).expect("found").group_id().expect("a group")
    };
    let peer_group = found("peer", Vec::new());
    let relay_group = found("relay", vec![relay.addr.to_string()]);
    // The relay group's readers join before its history and go offline.
    let mut readers = Vec::new();
    for i in 0..sizes.len() {
        let reader = node(root, &format!("relay-reader-{i}")).await;
        admit(&a, &reader, relay_group).await;
        // What it wrote on joining must be on the relay: the founder's
        // history depends on it, and the founder is offline later.
        assert_eq!(reader.flush(Duration::from_secs(120)).await, 0, "the reader's outbox drained");
        reader.shutdown();
        readers.push(reader);
    }
    // The last admitted catches up first. Each admission opens an epoch,
    // and a member admitted later never holds the earlier ones: what an
    // earlier reader writes while it catches up (a fresh key package,
    // sealed under the epoch it has reached so far) would reach a later
    // admitted one only through a peer, and there is none here.
    readers.reverse();
    let (mut peer_costs, mut relay_costs) = (Vec::new(), Vec::new());
    let mut written = 0;
    for (i, &size) in sizes.iter().enumerate() {
        let t = Instant::now();
        write_chats(&a, &[peer_group, relay_group], written, size).await;
        let waiting = a.flush(Duration::from_secs(600)).await;
        assert_eq!(waiting, 0, "the relay stored every message");
        eprintln!(
            "sync: {} messages written to two groups in {:.1} s",
            size - written,
            t.elapsed().as_secs_f64()
        );
        written = size;
        let verify = size as f64 / limits.verify_single;
        let limit = format!("raw ed25519 verify x {size}");

        let joiner = node(root, &format!("peer-joiner-{i}")).await;
        let secs = peer_catch_up(&a, &joiner, peer_group).await;
        joiner.shutdown();
        report.figure(format!("sync.peer.{size}"), secs, "s", limit.clone(), verify);
        peer_costs.push(secs / size as f64);

        // No peer to ask: everything comes from the relay.
        a.shutdown();
        let secs = relay_catch_up(&a, &readers[i], relay_group).await;
        readers[i].shutdown();
        report.figure(format!("sync.relay.{size}"), secs, "s", limit, verify);
        relay_costs.push(secs / size as f64);
        a.start().await;
    }
    for (figure, costs) in [("sync.peer", &peer_costs), ("sync.relay", &relay_costs)] {
        for (size, cost) in sizes.iter().zip(costs.iter()) {
            report.growth(figure, *size, *cost, costs[0]);
        }
    }
    a.shutdown();
    relay.stop().await;
}

/// Seconds from the invite until `joiner` holds everything `a` held.
async fn peer_catch_up(a: &Node, joiner: &Node, group: GroupId) -> f64 {
    let target = heads(a, group);
    let t = Instant::now();
    admit(a, joiner, group).await;
    while !holds(joiner, group, &target) {
        joiner.resync_group(group).await.expect("resync");
    }
    t.elapsed().as_secs_f64()
}

/// Seconds from coming online until `reader` holds everything `a` holds.
async fn relay_catch_up(a: &Node, reader: &Node, group: GroupId) -> f64 {
    let target = heads(a, group);
    let mut events = reader.events();
    let t = Instant::now();
    reader.start().await;
    let deadline =
        Duration::from_secs(120) + Duration::from_millis(5) * target.values().sum::<u64>() as u32;
    let (mut batches, mut downs, mut others) = (0, Vec::new(), Vec::new());
    while !holds(reader, group, &target) {
        // What the connection goes through, for reading the figure.
        while let Ok(e) = events.try_recv() {
            match e {
                NodeEvent::Messages { .. } => batches += 1,
                NodeEvent::RelayDown { error, .. } => downs.push(error),
                NodeEvent::Delivered { .. } => {}
                e => others.push(format!("{e:?}")),
            }
        }
        if t.elapsed() > deadline {
            let pending = reader.with_replica(&group, |r| r.chain().pending_len());
            panic!(
                "the reader did not catch up from the relay in {deadline:?}: it holds {:?} of {target:?}, {pending:?} pending; {batches} batches, relay down {downs:?}; events {others:?}",
                heads(reader, group)
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    eprintln!("sync.relay: {batches} batches accepted, relay down {} times {downs:?}", downs.len());
    secs
}

type Heads = std::collections::BTreeMap<cairn_net::proto::crypto::PublicKey, u64>;

fn heads(n: &Node, group: GroupId) -> Heads {
    n.with_replica(&group, |r| r.chain().version_vector().as_map().clone()).expect("group")
}

fn holds(n: &Node, group: GroupId, target: &Heads) -> bool {
    let have = heads(n, group);
    target.iter().all(|(author, seq)| have.get(author).is_some_and(|s| s >= seq))
}

/// Chat lines `from..to` to each group, through [`Node::act`] (each one
/// durable before the next), off the async workers.
async fn write_chats(a: &Node, groups: &[GroupId], from: usize, to: usize) {
    let (a, groups) = (a.clone(), groups.to_vec());
    tokio::task::spawn_blocking(move || {
        for i in from..to {
            for group in &groups {
                let text = crate::world::chat_text(i);
                a.act(Action::Chat { group: *group, text, reply_to: None }).expect("chat");
            }
        }
    })
    .await
    .expect("writer");
}

/// `inviter` admits `joiner` as a member (automatic approval).
pub(crate) async fn admit(inviter: &Node, joiner: &Node, group: GroupId) {
    let ttl = Duration::from_secs(600);
    let ticket = inviter
        .invite(group, vec!["member".into()], ttl, Approval::Automatic)
        .await
        .expect("invite");
    let joined = joiner.join(&ticket.text, "reader").await.expect("join");
    assert_eq!(joined, group);
}

/// A node on a fresh profile `name` under `root` (not started), on the
/// loopback network every node here shares. Peer resync only when asked.
async fn node(root: &Path, name: &str) -> Node {
    node_on(root, name, Network::LoopbackInsecure { directory: root.join("loopback") }).await
}

/// A node on a fresh profile `name` under `root` (not started), on
/// `network`. Peer resync only when asked.
pub(crate) async fn node_on(root: &Path, name: &str, network: Network) -> Node {
    let dir = root.join(name);
    create_profile(&dir, PASS, KdfParams::MIN).expect("profile");
    let mut config = NodeConfig::new(dir, network);
    config.sync_every = Duration::from_secs(24 * 3600);
    Node::open(config, Zeroizing::new(PASS.to_vec())).await.expect("node")
}
