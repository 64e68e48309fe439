//! `onion` figures: a chat line from a writer to a reader through the
//! relay, end to end over a private Tor network on 127.0.0.1 (Debian's
//! `tor`; `cairn-tornet`), every party on its own onion service, against
//! the raw onion round trip to the same relay measured in the same run
//! (relay-protocol pings over one onion stream). Where `tor` is not
//! installed the figures are skipped with a note on stderr.
//!
//! The writer and the reader are real nodes (`cairn_net::node::Node`, real
//! profiles, arti); the relay is the real `cairn-relay` server in this
//! process. A line is timed from `Node::act` on the writer until the
//! reader holds it; peer resync is off, so it can only come through the
//! relay.

use std::time::{Duration, Instant};

use cairn_net::node::relays::isolation;
use cairn_net::node::{Action, Network, Node, NodeEvent};
use cairn_net::proto::group::templates;
use cairn_net::proto::relay_proto::RelayEvent;
use cairn_net::proto::wire::{GroupId, MessageId};
use cairn_net::{PeerAddr, TorNetwork};
use cairn_relay::client::RelayClient;
use cairn_tornet::{Layout, TorNet};

use crate::relay::InProcessRelay;
use crate::report::{Report, quantile};

/// Lines timed (after a few that warm the circuits up).
const PROBES: usize = 40;
const WARM_UP: usize = 3;
/// How long one step may take before the figure is given up.
const WAIT: Duration = Duration::from_secs(180);

/// Runs the `onion` figures, if Tor is installed.
pub(crate) fn run(report: &mut Report) {
    if !tor_installed() {
        eprintln!("onion: Debian's tor is not installed: no onion figures");
        return;
    }
    crate::relay::runtime().block_on(onion(report));
}

fn tor_installed() -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|d| d.join("tor").is_file())
}

async fn onion(report: &mut Report) {
    let t = Instant::now();
    let started = tokio::task::spawn_blocking(|| TorNet::start(Layout::default()));
    let net = started.await.expect("tor task").expect("a private Tor network");
    eprintln!("onion: private Tor network up in {:.1} s", t.elapsed().as_secs_f64());
    let root = net.scratch_dir("cairn-bench").expect("scratch dir");
    let arti = net.arti_config_path().to_owned();
    let relay = InProcessRelay::start_on(&root.join("relay"), Some(&arti)).await;
    let relay_addr = relay.onion.clone().expect("the relay's onion address");
    let tor = Network::Tor(TorNetwork::Custom(arti));
    let writer = crate::sync::node_on(&root, "writer", tor.clone()).await;
    let reader = crate::sync::node_on(&root, "reader", tor).await;
    for n in [&writer, &reader] {
        listening(n).await;
    }
    let rules = templates::organizer_member_observer();
    let action =
        Action::CreateGroup { name: "onion".into(), rules, relays: vec![relay_addr.clone()] };
    let group = writer.act(action).expect("found").group_id().expect("a group");
    let mut up = reader.events();
    crate::sync::admit(&writer, &reader, group).await;
    relay_up(&mut up).await;
    eprintln!(
        "onion: writer, reader and relay on onion services after {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let (mut latencies, mut writes) = (Vec::new(), Vec::new());
    for i in 0..WARM_UP + PROBES {
        let start = Instant::now();
        let text = format!("probe {i}");
        let chat = Action::Chat { group, text, reply_to: None };
        let id = writer.act(chat).expect("chat").message_id().expect("a message");
        let written = start.elapsed();
        holds(&reader, group, id).await;
        if i >= WARM_UP {
            latencies.push(start.elapsed().as_secs_f64() * 1e3);
            writes.push(written.as_secs_f64() * 1e3);
        }
    }
    let raw = raw_round_trips(&reader, &relay_addr, &group, PROBES).await;
    let (raw_p50, raw_p99) = (quantile(&raw, 0.5), quantile(&raw, 0.99));
    let commit = crate::relay::raw_commit_latency(&root, PROBES);
    eprintln!(
        "onion: writer → relay → reader {latencies:.0?} ms; raw onion round trips {raw:.0?} ms"
    );
    eprintln!(
        "onion: of a line's latency, the writer's own durable commit (Node::act) takes {:.1} ms (p50); one raw durable redb commit {commit:.1} ms",
        quantile(&writes, 0.5)
    );
    // What no implementation can beat: the line crosses two onion hops
    // (one round trip) and is durable at the writer and at the relay
    // before it is sent on.
    report.limit("onion_rtt_p50", raw_p50, "ms");
    report.limit("durable_commit_p50", commit, "ms");
    let floor = raw_p50 + 2.0 * commit;
    let limit = "raw onion round trip + 2 durable commits, p50";
    report.figure("onion.latency_vs_floor_p50", quantile(&latencies, 0.5), "ms", limit, floor);
    let limit = "raw onion round trip (relay ping), p50";
    report.figure("onion.latency_p50", quantile(&latencies, 0.5), "ms", limit, raw_p50);
    let limit = "raw onion round trip (relay ping), p99";
    report.figure("onion.latency_p99", quantile(&latencies, 0.99), "ms", limit, raw_p99);
    writer.shutdown();
    reader.shutdown();
    relay.stop().await;
}

/// Starts `n` and waits for its onion service.
async fn listening(n: &Node) {
    let mut events = n.events();
    n.start().await;
    loop {
        match tokio::time::timeout(WAIT, events.recv()).await {
            Ok(Ok(NodeEvent::Listening { .. })) => return,
            Ok(Ok(_)) => {}
            other => panic!("no onion service: {other:?}"),
        }
    }
}

async fn relay_up(events: &mut tokio::sync::broadcast::Receiver<NodeEvent>) {
    loop {
        match tokio::time::timeout(WAIT, events.recv()).await {
            Ok(Ok(NodeEvent::RelayUp { .. })) => return,
            Ok(Ok(_)) => {}
            other => panic!("the reader did not reach the relay: {other:?}"),
        }
    }
}

/// Waits until `n` holds message `id` of `group`.
async fn holds(n: &Node, group: GroupId, id: MessageId) {
    let t = Instant::now();
    while !n.with_replica(&group, |r| r.fold().holds(&id)).expect("group") {
        assert!(t.elapsed() < WAIT, "the reader did not get a line through the relay");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Milliseconds per relay-protocol ping round trip over one onion stream
/// from `n` to the relay, `count` of them after one that warms it up.
async fn raw_round_trips(n: &Node, relay: &str, group: &GroupId, count: usize) -> Vec<f64> {
    let addr: PeerAddr = relay.parse().expect("relay address");
    let stream = n.transport().connect(&addr, &isolation(group)).await.expect("onion stream");
    let mut client = RelayClient::handshake(stream).await.expect("relay handshake");
    let mut times = Vec::new();
    for i in 0..=count {
        let start = Instant::now();
        let pong = client.ping().await.expect("ping");
        assert!(matches!(pong, RelayEvent::Pong { .. }), "{pong:?}");
        if i > 0 {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    times
}
