//! `cairn-demo`, first part: the system on a network, every step verified.
//!
//! A private Tor network on loopback (Debian's `tor`; `cairn-tornet`) when
//! `tor` is installed, else loopback TCP, announced as not anonymous. A real
//! relay (the `cairn-relay` server, in this process, on its own onion
//! service), and three members with real profiles and real nodes, each on
//! its own onion service: Alice founds a group, invites Bob (approved after
//! comparing the short code) and Carol (automatic), they chat and reply,
//! work a task sealed to their roles, the relay is shown to hold only
//! ciphertext, Carol is removed and reads nothing new, and Bob, offline
//! for a while, catches up. Without `--headless` Alice's terminal UI opens
//! at the end, with Bob answering.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cairn_net::node::invites::Approval;
use cairn_net::node::{Action, Network, Node, NodeConfig, NodeEvent, create_profile};
use cairn_net::proto::group::{TaskContent, templates};
use cairn_net::proto::identity::KdfParams;
use cairn_net::proto::wire::{GroupId, MessageId};
use cairn_net::{Listener, TcpLoopbackListener};
use cairn_relay::config::Config as RelayConfig;
use cairn_relay::listener::onion::OnionRelayListener;
use cairn_relay::listener::onion_key;
use cairn_relay::server::Relay;
use cairn_tornet::{Layout, TorNet};
use tokio::sync::{broadcast, oneshot};
use zeroize::Zeroizing;

use crate::Report;

/// How long one step may take (onion services on a young private network
/// take a few seconds to become reachable).
const STEP: Duration = Duration::from_secs(90);
const PASSPHRASE: &str = "demo passphrase: correct horse battery staple";

/// The network the demo runs on.
enum DemoNet {
    Tor(TorNet),
    Loopback(PathBuf),
}

impl DemoNet {
    fn network(&self) -> Network {
        match self {
            DemoNet::Tor(t) => {
                Network::Tor(cairn_net::TorNetwork::Custom(t.arti_config_path().to_owned()))
            }
            DemoNet::Loopback(dir) => Network::LoopbackInsecure { directory: dir.clone() },
        }
    }
}

/// The relay, running in this process until `stop` is sent.
struct RunningRelay {
    address: String,
    data_dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

/// Runs the networked part. With `tui`, opens Alice's terminal UI at the
/// end. Returns whether the network was Tor (`false`: loopback).
pub(crate) async fn script(
    root: &Path,
    loopback: bool,
    tui: bool,
    report: &mut Report,
) -> Result<bool> {
    let net = start_network(root, loopback, report).await?;
    let mut relay = start_relay(&root.join("relay"), &net).await?;
    report.check("relay up", true, format!("the cairn-relay server listens on {}", relay.address));
    let story = Story::begin(root, &net, &relay, tui, report).await;
    let outcome = match story {
        Ok(story) => story.play(root, &relay, report).await,
        Err(e) => Err(e),
    };
    if let Some(stop) = relay.stop.take() {
        let _ = stop.send(());
    }
    let _ = tokio::time::timeout(Duration::from_secs(15), &mut relay.task).await;
    outcome?;
    Ok(matches!(net, DemoNet::Tor(_)))
}

async fn start_network(root: &Path, loopback: bool, report: &mut Report) -> Result<DemoNet> {
    if loopback || !tor_installed() {
        let why = if loopback { "--loopback asked for" } else { "tor is not installed" };
        report.check(
            "network",
            true,
            format!(
                "{why}: loopback TCP, NOT anonymous (with Debian's tor installed the demo runs \
                 on a private Tor network)"
            ),
        );
        return Ok(DemoNet::Loopback(root.join("loopback")));
    }
    eprintln!("cairn-demo: starting a private Tor network on 127.0.0.1 (20–60 s)…");
    let t0 = Instant::now();
    let net = tokio::task::spawn_blocking(|| TorNet::start(Layout::default()))
        .await
        .context("the Tor network task")??;
    report.check(
        "network",
        true,
        format!(
            "private Tor network up in {:.1} s (3 directory authorities, 3 relays, all on \
             127.0.0.1); every member and the relay run their own onion service",
            t0.elapsed().as_secs_f64()
        ),
    );
    Ok(DemoNet::Tor(net))
}

fn tor_installed() -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|d| d.join("tor").is_file())
}

async fn start_relay(dir: &Path, net: &DemoNet) -> Result<RunningRelay> {
    std::fs::create_dir_all(dir)?;
    let mut config = RelayConfig { data_dir: dir.to_owned(), ..RelayConfig::default() };
    config.listen.tcp = Vec::new();
    config.listen.metrics_enabled = false;
    let mut listeners: Vec<Box<dyn Listener>> = Vec::new();
    let address = match net {
        DemoNet::Tor(t) => {
            config.listen.onion = true;
            config.tor.network_config = Some(t.arti_config_path().to_owned());
            let key = onion_key::load_or_create(dir)?;
            let l = OnionRelayListener::new(&config, key)?;
            let address = l.address().to_string();
            listeners.push(Box::new(l));
            address
        }
        DemoNet::Loopback(_) => {
            let l = TcpLoopbackListener::bind(([127, 0, 0, 1], 0).into()).await?;
            let address = l.local_addr().to_string();
            // The config names what it listens on; the listener is ours.
            config.listen.tcp = vec![l.socket_addr()];
            listeners.push(Box::new(l));
            address
        }
    };
    let relay = Relay::open(&config)?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(e) = relay.run(listeners, None, shutdown).await {
            eprintln!("cairn-demo: the relay stopped: {e}");
        }
    });
    Ok(RunningRelay { address, data_dir: dir.to_owned(), stop: Some(stop), task })
}

/// The three members and their group.
struct Story {
    alice: Node,
    bob: Node,
    carol: Node,
    group: GroupId,
    network: Network,
    /// Alice's TUI, when the demo is watched live.
    tui: Option<tokio::task::JoinHandle<()>>,
}

async fn member(root: &Path, name: &str, network: &Network) -> Result<Node> {
    let dir = root.join(name);
    let pass = PASSPHRASE.as_bytes();
    let d = dir.clone();
    tokio::task::spawn_blocking(move || create_profile(&d, pass, KdfParams::DEFAULT))
        .await
        .context("profile task")??;
    open(&dir, network).await
}

async fn open(dir: &Path, network: &Network) -> Result<Node> {
    let mut config = NodeConfig::new(dir.to_owned(), network.clone());
    config.sync_every = Duration::from_secs(5);
    let node = Node::open(config, Zeroizing::new(PASSPHRASE.as_bytes().to_vec())).await?;
    node.start().await;
    Ok(node)
}

/// Polls `check` until it holds or `within` passes.
async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

/// The next event that `pick` maps to something, within `within`.
async fn next_event<T>(
    events: &mut broadcast::Receiver<NodeEvent>,
    within: Duration,
    mut pick: impl FnMut(NodeEvent) -> Option<T>,
) -> Option<T> {
    let wait = async {
        loop {
            match events.recv().await {
                Ok(e) => {
                    if let Some(t) = pick(e) {
                        return Some(t);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    };
    tokio::time::timeout(within, wait).await.ok().flatten()
}

fn chat_texts(node: &Node, group: &GroupId) -> Vec<String> {
    node.with_replica(group, |r| r.fold().chat().iter().map(|(_, _, c)| c.text.clone()).collect())
        .unwrap_or_default()
}

fn has_chat(node: &Node, group: &GroupId, text: &str) -> bool {
    chat_texts(node, group).iter().any(|t| t == text)
}

impl Story {
    /// Three members; Alice founds the group, Bob and Carol join.
    async fn begin(
        root: &Path,
        net: &DemoNet,
        relay: &RunningRelay,
        live: bool,
        report: &mut Report,
    ) -> Result<Self> {
        let network = net.network();
        let t0 = Instant::now();
        let alice = member(root, "alice", &network).await?;
        let bob = member(root, "bob", &network).await?;
        let carol = member(root, "carol", &network).await?;
        report.check(
            "three members",
            true,
            format!(
                "alice, bob and carol: profiles sealed with Argon2id, nodes started in {:.1} s",
                t0.elapsed().as_secs_f64()
            ),
        );
        let tui = live.then(|| watch_live(&alice, &bob, &carol, &network, report));
        report.pause().await;
        let mut alice_events = alice.events();
        let rules = templates::organizer_member_observer();
        let relays = vec![relay.address.clone()];
        let founded = alice.act(Action::CreateGroup { name: "bastion".into(), rules, relays })?;
        let group = founded.group_id().context("founding made no group")?;
        // Only a role's holders hold its key (keys.md, "Limits"): the
        // organizer also takes "member" to write tasks members can read.
        let member = alice.identity().public_key();
        alice.act(Action::Role { group, member, role: "member".into(), assign: true })?;
        let up = next_event(&mut alice_events, STEP, |e| {
            matches!(e, NodeEvent::RelayUp { .. }).then_some(())
        })
        .await;
        report.check(
            "found a group",
            up.is_some(),
            "alice founds \"bastion\" (organizer/member/observer rules), also takes the member role, and reaches its relay",
        );
        let story = Self { alice, bob, carol, group, network, tui };
        report.pause().await;
        story.invite_bob(report).await?;
        report.pause().await;
        story.invite_carol(report).await?;
        Ok(story)
    }

    async fn invite_bob(&self, report: &mut Report) -> Result<()> {
        let t0 = Instant::now();
        let mut alice_events = self.alice.events();
        let mut bob_events = self.bob.events();
        let ticket = self
            .alice
            .invite(self.group, vec!["member".into()], Duration::from_secs(600), Approval::Manual)
            .await?;
        let bob = self.bob.clone();
        let text = ticket.text.as_str().to_owned();
        let joining = tokio::spawn(async move { bob.join(&text, "bob").await });
        let asked = next_event(&mut alice_events, STEP, |e| match e {
            NodeEvent::JoinRequest { short_code, name, .. } => Some((short_code, name)),
            _ => None,
        })
        .await
        .context("no join request reached alice")?;
        let shown = next_event(&mut bob_events, STEP, |e| match e {
            NodeEvent::Joining { short_code, .. } => Some(short_code),
            _ => None,
        })
        .await
        .context("bob was not shown a code")?;
        let same = asked.0 == shown;
        report.check(
            "invite, compare, approve",
            same && asked.1 == "bob",
            format!("alice sees {:?} asking with code {}, bob sees {shown}", asked.1, asked.0),
        );
        self.alice.act(Action::Approve { code: asked.0.clone(), admit: same })?;
        let joined = tokio::time::timeout(STEP, joining).await;
        let ok = matches!(joined, Ok(Ok(Ok(g))) if g == self.group);
        report.check(
            "bob joins",
            ok,
            format!(
                "over alice's short-lived invite service, in {:.1} s",
                t0.elapsed().as_secs_f64()
            ),
        );
        if !ok {
            bail!("bob could not join: {joined:?}");
        }
        Ok(())
    }

    async fn invite_carol(&self, report: &mut Report) -> Result<()> {
        let ticket = self
            .alice
            .invite(
                self.group,
                vec!["member".into()],
                Duration::from_secs(600),
                Approval::Automatic,
            )
            .await?;
        let joined = tokio::time::timeout(STEP, self.carol.join(&ticket.text, "carol")).await;
        let ok = matches!(joined, Ok(Ok(g)) if g == self.group);
        report.check("carol joins", ok, "with an invite alice marked automatic");
        if !ok {
            bail!("carol could not join: {joined:?}");
        }
        let members = |n: &Node| n.state(&self.group).map(|s| s.members.len()).unwrap_or(0);
        let all = eventually(STEP, || {
            [&self.alice, &self.bob, &self.carol].iter().all(|n| members(n) == 3)
        })
        .await;
        report.check("everyone agrees", all, "each of the three replicas lists three members");
        Ok(())
    }

    async fn play(self, root: &Path, relay: &RunningRelay, report: &mut Report) -> Result<()> {
        let g = self.group;
        report.pause().await;
        // Chat, with the latency as it happens.
        let line = "the water filter needs checking";
        let t0 = Instant::now();
        let said = self.alice.act(Action::Chat { group: g, text: line.into(), reply_to: None })?;
        let said = said.message_id().context("a chat line wrote no message")?;
        let reached = eventually(STEP, || has_chat(&self.bob, &g, line)).await;
        let latency = t0.elapsed();
        let both = reached && eventually(STEP, || has_chat(&self.carol, &g, line)).await;
        report.check(
            "chat",
            both,
            format!(
                "alice → relay → bob in {} ms (signed, sealed, padded envelopes)",
                latency.as_millis()
            ),
        );
        let text = "I can do it tomorrow".into();
        self.bob.act(Action::Chat { group: g, text, reply_to: Some(said) })?;
        let replied = eventually(STEP, || {
            self.alice
                .with_replica(&g, |r| {
                    r.fold().chat().iter().any(|(_, _, c)| c.reply_to == Some(said))
                })
                .unwrap_or(false)
        })
        .await;
        report.check("reply", replied, "bob's reply reaches alice, linked to her line");
        report.pause().await;
        self.task(report).await?;
        ciphertext_only(relay, &[line, "check the water filter", "filter replaced"], report);
        report.pause().await;
        self.remove_carol(report).await?;
        report.pause().await;
        let Story { alice, bob, carol, network, tui: live, .. } = self;
        let bob = offline_bob(&alice, bob, g, root, &network, report).await?;
        if let Some(live) = live {
            let me = alice.identity().public_key();
            let responder = tokio::spawn(answer_as_bob(bob.clone(), g, me));
            let _ = report.narrator.as_ref().map(|n| {
                n.send(
                    "demo done, all verified. Type to chat (Bob answers); ? help; ^C quits".into(),
                )
            });
            let _ = live.await;
            responder.abort();
            report.narrator = None;
        }
        for n in [&alice, &bob, &carol] {
            n.flush(Duration::from_secs(5)).await;
            n.shutdown();
        }
        Ok(())
    }

    async fn task(&self, report: &mut Report) -> Result<()> {
        let g = self.group;
        let bob_key = self.bob.identity().public_key();
        let content = TaskContent {
            title: "check the water filter".into(),
            description: "the one by the north door".into(),
            ..TaskContent::default()
        };
        let readers = vec!["member".into()];
        let task = Action::CreateTask {
            group: g,
            content: content.clone(),
            readable_by: readers,
            assignees: vec![bob_key],
        };
        let task = self.alice.act(task)?.message_id().context("a task action wrote no task")?;
        let title = |n: &Node| {
            n.with_replica(&g, |r| r.task_content(&task).ok().map(|c| c.title)).ok().flatten()
        };
        let bob_has =
            eventually(STEP, || title(&self.bob).as_deref() == Some(&content.title)).await;
        let assigned = self
            .bob
            .state(&g)
            .is_ok_and(|s| s.tasks.get(&task).is_some_and(|t| t.assignees.contains(&bob_key)));
        report.check(
            "task",
            bob_has && assigned,
            "alice creates a task sealed to the member role and assigns it to bob; bob opens it",
        );
        let text = "done: filter replaced".into();
        self.bob.act(Action::Comment { group: g, task, text })?;
        let comment = |n: &Node| {
            n.with_replica(&g, |r| {
                r.fold()
                    .thread(&task)
                    .iter()
                    .filter_map(|c| r.comment_text(c).ok())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
        };
        let read =
            eventually(STEP, || comment(&self.alice).contains(&"done: filter replaced".into()))
                .await;
        report.pause().await;
        report.check(
            "comment",
            read,
            "bob comments; alice reads it (sealed to the task's readers)",
        );
        self.alice.act(Action::CloseTask { group: g, task, close: true })?;
        let closed = eventually(STEP, || {
            self.carol.state(&g).is_ok_and(|s| s.tasks.get(&task).is_some_and(|t| !t.open))
        })
        .await;
        report.check("close", closed, "alice closes it; carol's board shows it closed");
        Ok(())
    }

    async fn remove_carol(&self, report: &mut Report) -> Result<()> {
        let g = self.group;
        let before = self.carol.with_replica(&g, |r| r.epoch())?;
        let member = self.carol.identity().public_key();
        self.alice.act(Action::Remove { group: g, member })?;
        let rekeyed = eventually(STEP, || {
            let a = self.alice.with_replica(&g, |r| r.epoch()).ok();
            let b = self.bob.with_replica(&g, |r| r.epoch()).ok();
            a.is_some() && a == b && a != Some(before)
        })
        .await;
        report.check("remove", rekeyed, "alice removes carol; alice and bob move to a new epoch");
        let secret = "meet at the north door at nine";
        self.alice.act(Action::Chat { group: g, text: secret.into(), reply_to: None })?;
        let bob_reads = eventually(STEP, || has_chat(&self.bob, &g, secret)).await;
        // Bob has it: the relay has pushed it to every subscriber by now.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let carol_reads = has_chat(&self.carol, &g, secret);
        let now = self.alice.with_replica(&g, |r| r.epoch())?;
        let carol_has_key =
            self.carol.with_replica(&g, |r| r.keys().ring().epoch_secret(&now).is_some())?;
        report.check(
            "removed reads nothing new",
            bob_reads && !carol_reads && !carol_has_key,
            "bob reads alice's next line; carol, still online, cannot (she holds no key to it)",
        );
        Ok(())
    }
}

/// Bob goes offline, Alice writes, Bob comes back and catches up.
async fn offline_bob(
    alice: &Node,
    bob: Node,
    g: GroupId,
    root: &Path,
    network: &Network,
    report: &mut Report,
) -> Result<Node> {
    bob.shutdown();
    // The profile lock goes with the node's last handle.
    drop(bob);
    let line = "written while bob was away";
    alice.act(Action::Chat { group: g, text: line.into(), reply_to: None })?;
    alice.flush(STEP).await;
    let mut reopened = None;
    for _ in 0..100 {
        match open(&root.join("bob"), network).await {
            Ok(n) => {
                reopened = Some(n);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let bob = reopened.context("bob's profile stayed locked")?;
    let caught_up = eventually(STEP, || has_chat(&bob, &g, line)).await;
    report.check(
        "offline member catches up",
        caught_up,
        "bob stops; alice writes; bob restarts from his profile and fetches it from the relay",
    );
    Ok(bob)
}

/// The relay's files hold none of what the members wrote.
fn ciphertext_only(relay: &RunningRelay, needles: &[&str], report: &mut Report) {
    let mut found = Vec::new();
    let mut bytes_seen = 0usize;
    let mut stack = vec![relay.data_dir.clone()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let data = std::fs::read(&p).unwrap_or_default();
            bytes_seen += data.len();
            for n in needles {
                if data.windows(n.len()).any(|w| w == n.as_bytes()) {
                    found.push(format!("{n:?} in {}", p.display()));
                }
            }
        }
    }
    report.check(
        "relay holds ciphertext only",
        found.is_empty() && bytes_seen > 0,
        format!("none of the chat, task or comment text in the relay's {bytes_seen} bytes on disk"),
    );
}

/// Opens Alice's terminal UI now, so that a person watches the rest of
/// the script happen; the steps show in its notice line.
fn watch_live(
    alice: &Node,
    bob: &Node,
    carol: &Node,
    network: &Network,
    report: &mut Report,
) -> tokio::task::JoinHandle<()> {
    let (narrator, narration) = tokio::sync::mpsc::unbounded_channel();
    report.narrator = Some(narrator);
    report.pace = Duration::from_millis(2500);
    let names = [(bob, "bob"), (carol, "carol")]
        .into_iter()
        .map(|(n, name)| (n.identity().public_key(), name.to_owned()))
        .collect();
    let extras = cairn::Extras { started: true, names, narration: Some(narration), colour: None };
    let insecure = matches!(network, Network::LoopbackInsecure { .. });
    let alice = alice.clone();
    tokio::spawn(async move {
        if let Err(e) = cairn::run_tui(alice, "alice".into(), insecure, extras).await {
            eprintln!("cairn-demo: the TUI stopped: {e:#}");
        }
    })
}

/// Bob replies to every new chat line of Alice's.
async fn answer_as_bob(bob: Node, group: GroupId, alice: cairn_net::proto::crypto::PublicKey) {
    let mut answered: std::collections::BTreeSet<MessageId> = bob
        .with_replica(&group, |r| r.fold().chat().iter().map(|(id, _, _)| *id).collect())
        .unwrap_or_default();
    let mut events = bob.events();
    while let Ok(e) = events.recv().await {
        if !matches!(e, NodeEvent::Messages { .. }) {
            continue;
        }
        let new: Vec<(MessageId, String)> = bob
            .with_replica(&group, |r| {
                (r.fold().chat().iter())
                    .filter(|(id, m, _)| m.author == alice && !answered.contains(id))
                    .map(|(id, _, c)| (*id, c.text.clone()))
                    .collect()
            })
            .unwrap_or_default();
        for (id, text) in new {
            answered.insert(id);
            let text = format!("got it: \"{text}\"");
            let _ = bob.act(Action::Chat { group, text, reply_to: Some(id) });
        }
    }
}
