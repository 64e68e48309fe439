//! Nodes on the private Tor network: every member hosts its own onion
//! service, the relay is an onion service too. Three members: invite,
//! join, chat, a task, a removal with rekey after which the removed member
//! reads nothing new; the process holds no socket but loopback ones to the
//! Tor network. Prints the figures of the closing note.

// A test shell: clocks belong here (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::time::{Duration, Instant};

use cairn_net::frames::FrameReader;
use cairn_net::node::invites::Approval;
use cairn_net::node::relays::isolation;
use cairn_net::node::{Action, Network, Node, NodeEvent, restore_profile};
use cairn_net::proto::group::{TaskContent, templates};
use cairn_net::proto::identity::{KdfParams, parse_recovery, recovery_string};
use cairn_net::proto::relay_proto::{ClientHandshake, MAX_RESPONSE_FRAME, RelayEvent};
use cairn_net::proto::wire::GroupId;
use cairn_net::{PeerAddr, TorNetwork, Transport};
use cairn_tests::nodes::{chat, eventually, found, invite_then_stop, next_event, node, say};
use cairn_tests::relay_proc::RelayProc;
use cairn_tests::tornet::TorNet;
use tokio::io::{AsyncRead, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(120);

async fn listening(n: &Node) -> Duration {
    let start = Instant::now();
    let mut events = n.events();
    n.start().await;
    loop {
        match tokio::time::timeout(WAIT, events.recv()).await {
            Ok(Ok(NodeEvent::Listening { .. })) => return start.elapsed(),
            Ok(Ok(_)) => {}
            other => panic!("no onion service: {other:?}"),
        }
    }
}

async fn admit(inviter: &Node, joiner: &Node, group: GroupId, name: &str) -> Duration {
    let start = Instant::now();
    let ticket = inviter
        .invite(group, vec!["member".into()], Duration::from_secs(600), Approval::Automatic)
        .await
        .expect("invite");
    assert_eq!(joiner.join(&ticket.text, name).await.expect("join"), group);
    start.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Relay-protocol ping round trips over a raw onion stream.
async fn raw_round_trips(n: &Node, relay: &str, group: &GroupId, count: usize) -> Vec<Duration> {
    let addr: PeerAddr = relay.parse().expect("relay address");
    let transport: std::sync::Arc<dyn Transport> = n_transport(n);
    let stream = transport.connect(&addr, &isolation(group)).await.expect("connect");
    let (reader, mut stream) = tokio::io::split(stream);
    let mut frames = FrameReader::new(reader, MAX_RESPONSE_FRAME);
    let hs = ClientHandshake::new();
    stream.write_all(&hs.hello_frame()).await.expect("hello");
    stream.flush().await.expect("flush");
    let mut session = hs.handle_raw(&read_frame(&mut frames).await).expect("welcome");
    let mut times = Vec::new();
    for _ in 0..count {
        let start = Instant::now();
        let (_, ping) = session.ping();
        stream.write_all(&ping).await.expect("ping");
        stream.flush().await.expect("flush");
        let pong = session.decode(&read_frame(&mut frames).await).expect("pong");
        assert!(matches!(pong, RelayEvent::Pong { .. }));
        times.push(start.elapsed());
    }
    times
}

fn n_transport(n: &Node) -> std::sync::Arc<dyn Transport> {
    n.transport()
}

async fn read_frame(frames: &mut FrameReader<impl AsyncRead + Unpin>) -> Vec<u8> {
    frames.next().await.expect("read").expect("a frame")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_over_onion_services_and_a_removed_member_reads_nothing_new() {
    let net =
        tokio::task::spawn_blocking(TorNet::shared).await.expect("join").expect("tor network");
    eprintln!("private tor network up in {:?}", net.bring_up().total);
    let tor = Network::Tor(TorNetwork::Custom(net.arti_config_path().to_owned()));
    let root = net.scratch_dir("nodes").expect("scratch");
    let extra = format!("[tor]\nnetwork_config = {:?}\n", net.arti_config_path());
    let relay = RelayProc::start(&root.join("relay"), false, true, &extra).expect("relay");
    let relay_addr = relay.onion.clone().expect("relay onion address");

    let (a, b, c) = (
        node(&root, "alice", tor.clone()).await.expect("alice"),
        node(&root, "bob", tor.clone()).await.expect("bob"),
        node(&root, "carol", tor.clone()).await.expect("carol"),
    );
    for (name, n) in [("alice", &a), ("bob", &b), ("carol", &c)] {
        eprintln!("{name}: onion service launched {:?} after start", listening(n).await);
    }
    let g = found(&a, "bastion", &templates::organizer_member_observer(), vec![relay_addr.clone()])
        .expect("group");
    eprintln!(
        "bob joined in {:?} (invite service, approval, resync)",
        admit(&a, &b, g, "bob").await
    );
    eprintln!("carol joined in {:?}", admit(&a, &c, g, "carol").await);

    // Latency writer → relay → reader, beside raw onion-stream round trips.
    let mut latencies = Vec::new();
    for i in 0..5 {
        let text = format!("latency probe {i}");
        let start = Instant::now();
        say(&a, g, &text).expect("chat");
        eventually("bob reads the probe", WAIT, || chat(&b, &g).contains(&text))
            .await
            .expect("probe");
        latencies.push(start.elapsed());
    }
    let raw = raw_round_trips(&b, &relay_addr, &g, 5).await;
    eprintln!(
        "message latency alice → relay → bob over onion services: median {:?} ({latencies:?}); raw onion-stream round trip to the relay: median {:?}",
        median(latencies.clone()),
        median(raw.clone())
    );

    let carol = c.identity().public_key();
    let content = TaskContent { title: "move the servers".into(), ..TaskContent::default() };
    let readable_by = vec!["member".into()];
    let task = Action::CreateTask { group: g, content, readable_by, assignees: vec![carol] };
    let task = b.act(task).expect("task").message_id().expect("a task");
    eventually("carol sees her task", WAIT, || {
        c.state(&g).is_ok_and(|s| s.tasks.get(&task).is_some_and(|t| t.assignees.contains(&carol)))
    })
    .await
    .expect("task");
    b.act(Action::CloseTask { group: g, task, close: true }).expect("close");
    eventually("alice sees it closed", WAIT, || {
        a.state(&g).is_ok_and(|s| s.tasks.get(&task).is_some_and(|t| !t.open))
    })
    .await
    .expect("closed");

    a.act(Action::Remove { group: g, member: carol }).expect("remove");
    eventually("bob follows the removal", WAIT, || {
        b.state(&g).is_ok_and(|s| !s.members.contains_key(&carol))
    })
    .await
    .expect("removal");
    say(&a, g, "after the removal").expect("chat");
    eventually("bob reads on", WAIT, || chat(&b, &g).contains(&"after the removal".into()))
        .await
        .expect("bob reads");
    let got = c.resync_group(g).await.expect("carol asks her former peers");
    assert_eq!(got, 0, "a peer gave carol messages written after her removal");
    assert!(!chat(&c, &g).contains(&"after the removal".into()));

    // Fail closed: this process (three nodes, their onion services, the
    // relay's clients) holds no socket that is not loopback.
    let sockets = cairn_tests::sockets::sockets_of(std::process::id()).expect("sockets");
    let outside: Vec<_> = sockets.iter().filter(|s| !s.is_loopback_only()).collect();
    assert!(outside.is_empty(), "non-loopback sockets: {outside:?}");
    assert!(sockets.iter().all(|s| s.table.starts_with("tcp")), "UDP socket (DNS?): {sockets:?}");
    eprintln!("{} sockets, all TCP on loopback", sockets.len());

    // Bob loses his laptop: his node goes away and so does every relay.
    // His identity comes back from the recovery string in a fresh profile,
    // at the same onion address, and gets its history from alice.
    let words = recovery_string(b.identity().seed());
    let bob_onion = b.identity().onion_address();
    b.shutdown();
    drop(relay);
    let dir = root.join("bob-restored");
    let seed = parse_recovery(&words).expect("recovery string");
    let profile =
        restore_profile(&dir, seed, cairn_tests::nodes::PASS, KdfParams::MIN).expect("restore");
    assert_eq!(profile.identity().onion_address(), bob_onion);
    drop(profile);
    let restored = cairn_tests::nodes::open(&dir, tor.clone()).await.expect("open restored");
    eprintln!("restored bob: onion service launched {:?} after start", listening(&restored).await);
    let start = Instant::now();
    let groups = restored.recover_from(&a.identity().onion_key().public()).await.expect("recover");
    assert_eq!(groups, vec![g]);
    assert!(chat(&restored, &g).contains(&"after the removal".into()));
    eprintln!(
        "restored bob recovered the group from alice in {:?}, relay stopped",
        start.elapsed()
    );
    assert!(say(&restored, g, "too early").is_err(), "a restored identity signed at once");

    // The restored profile holds no key of the group (`keys.md`, "Stranded
    // members"): once bob confirms, it asks alice over the peer channel,
    // and she re-wraps the current epoch to its fresh key package.
    restored.act(Action::ConfirmRestored).expect("confirm");
    let epoch = a.state(&g).expect("state").epoch.id;
    let start = Instant::now();
    eventually("restored bob is re-wrapped into the epoch", WAIT, || {
        restored
            .with_replica(&g, |r| r.keys().ring().epoch_secret(&epoch).is_some())
            .unwrap_or(false)
    })
    .await
    .expect("re-wrapped");
    eprintln!("restored bob was let back into the epoch {:?} after confirming", start.elapsed());
    say(&restored, g, "back in").expect("bob writes");
    eventually("alice reads bob", WAIT, || chat(&a, &g).contains(&"back in".into()))
        .await
        .expect("alice reads");
}

/// An invite redeemed over onion services while the inviter's node is
/// stopped (`peer.md`, "Joins without the inviter"): bob, a member who may
/// invite, answers on his own onion service; dave joins, writes, and bob
/// reads him. Then a manual join waiting at bob is shown to dave, who
/// admits it ("Pending joins").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_over_onion_services_completes_with_the_inviters_node_stopped() {
    let net =
        tokio::task::spawn_blocking(TorNet::shared).await.expect("join").expect("tor network");
    let tor = Network::Tor(TorNetwork::Custom(net.arti_config_path().to_owned()));
    let root = net.scratch_dir("nodes-offline-inviter").expect("scratch");
    let extra = format!("[tor]\nnetwork_config = {:?}\n", net.arti_config_path());
    let relay = RelayProc::start(&root.join("relay"), false, true, &extra).expect("relay");
    let relay_addr = relay.onion.clone().expect("relay onion address");
    let (a, b, d) = (
        node(&root, "alice", tor.clone()).await.expect("alice"),
        node(&root, "bob", tor.clone()).await.expect("bob"),
        node(&root, "dave", tor.clone()).await.expect("dave"),
    );
    for n in [&a, &b, &d] {
        listening(n).await;
    }
    let g = found(&a, "bastion", &templates::organizer_member_observer(), vec![relay_addr])
        .expect("group");
    admit(&a, &b, g, "bob").await;
    let ticket = invite_then_stop(a, &b, g, &["member"], Approval::Automatic, WAIT)
        .await
        .expect("invite, then alice stops");
    let start = Instant::now();
    assert_eq!(d.join(&ticket, "dave").await.expect("join without alice"), g);
    eprintln!("dave joined through bob in {:?} with alice offline", start.elapsed());
    say(&d, g, "in through bob").expect("dave writes");
    eventually("bob reads dave", WAIT, || chat(&b, &g).contains(&"in through bob".into()))
        .await
        .expect("read");

    // A manual join waiting at bob's invite service is shown to dave, who
    // may invite too, and dave admits it (`peer.md`, "Pending joins").
    let e = node(&root, "erin", tor.clone()).await.expect("erin");
    listening(&e).await;
    let (mut d_events, mut e_events) = (d.events(), e.events());
    let ticket = b
        .invite(g, vec!["member".into()], Duration::from_secs(600), Approval::Manual)
        .await
        .expect("bob invites");
    let joiner = e.clone();
    let join = tokio::spawn(async move { joiner.join(&ticket.text, "erin").await });
    let code = next_event(&mut e_events, WAIT, |ev| match ev {
        NodeEvent::Joining { short_code, .. } => Some(short_code),
        _ => None,
    })
    .await
    .expect("erin shows a code");
    let start = Instant::now();
    let shown = next_event(&mut d_events, WAIT, |ev| match ev {
        NodeEvent::JoinRequest { short_code, .. } if short_code == code => Some(()),
        _ => None,
    })
    .await;
    if let Err(e) = shown {
        let held = d.with_replica(&g, |r| {
            let shared = (r.fold().timeline())
                .filter(|(_, m)| matches!(m.body, cairn_net::proto::wire::Body::JoinPending(_)))
                .count();
            let epoch = r.state().map(|s| s.epoch.id);
            let key = epoch.and_then(|e| r.keys().ring().role_key("member", &e).map(|_| ()));
            (shared, key.is_some(), r.pending_joins(cairn_net::node::profile::now()).len())
        });
        panic!(
            "dave was not shown the request: {e}; (JoinPending held, member key, pending) = {held:?}"
        );
    }
    eprintln!("the request reached dave {:?} after erin saw her code", start.elapsed());
    d.act(Action::Approve { code, admit: true }).expect("dave admits");
    let joined = tokio::time::timeout(WAIT, join).await.expect("in time").expect("task");
    assert_eq!(joined.expect("erin joins"), g);
    eprintln!("erin was in {:?} after erin saw her code", start.elapsed());
    let erin = e.identity().public_key();
    let admitter = e.with_replica(&g, |r| {
        r.fold().timeline().find_map(|(_, m)| match &m.body {
            cairn_net::proto::wire::Body::MemberAdd(add) if add.member == erin => Some(m.author),
            _ => None,
        })
    });
    assert_eq!(admitter.expect("replica"), Some(d.identity().public_key()), "dave admitted erin");
}
