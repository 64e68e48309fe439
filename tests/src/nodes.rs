//! Running real nodes in a test: profiles in a scratch directory, nodes on
//! loopback TCP or on the private Tor network.

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use cairn_net::node::{Action, Network, Node, NodeConfig, NodeError, NodeEvent, create_profile};
use cairn_net::proto::group::Rules;
use cairn_net::proto::identity::KdfParams;
use cairn_net::proto::wire::{GroupId, MessageId};
use zeroize::Zeroizing;

/// The passphrase of every test profile.
pub const PASS: &[u8] = b"test profile passphrase";

/// Makes a profile `name` under `root` and opens its node (not started).
pub async fn node(root: &Path, name: &str, network: Network) -> Result<Node> {
    let dir = root.join(name);
    create_profile(&dir, PASS, KdfParams::MIN)?;
    open(&dir, network).await
}

/// Opens the node of an existing profile.
pub async fn open(dir: &Path, network: Network) -> Result<Node> {
    open_with(dir, network, |_| {}).await
}

/// Opens the node of an existing profile with a test configuration (short
/// periods) that `configure` may change further.
pub async fn open_with(
    dir: &Path,
    network: Network,
    configure: impl FnOnce(&mut NodeConfig),
) -> Result<Node> {
    let mut config = NodeConfig::new(dir.to_owned(), network);
    config.sync_every = Duration::from_secs(2);
    config.withhold_grace = Duration::from_secs(2);
    configure(&mut config);
    Ok(Node::open(config, Zeroizing::new(PASS.to_vec())).await?)
}

/// Founds a group (through [`Node::act`], as the CLI and the TUI do).
pub fn found(node: &Node, name: &str, rules: &Rules, relays: Vec<String>) -> Result<GroupId> {
    let action = Action::CreateGroup { name: name.into(), rules: rules.clone(), relays };
    let done = node.act(action)?;
    done.group_id().ok_or_else(|| anyhow::anyhow!("founding made no group"))
}

/// Writes a chat line to `group` (through [`Node::act`]); the node's error
/// is kept, for tests that expect a refusal.
pub fn say(node: &Node, group: GroupId, text: &str) -> Result<MessageId, NodeError> {
    let done = node.act(Action::Chat { group, text: text.into(), reply_to: None })?;
    done.message_id().ok_or(NodeError::Bug("a chat line wrote no message"))
}

/// The chat texts of `group` as `node` sees them.
pub fn chat(node: &Node, group: &GroupId) -> Vec<String> {
    node.with_replica(group, |r| r.fold().chat().iter().map(|(_, _, c)| c.text.clone()).collect())
        .unwrap_or_default()
}

/// Polls `check` every 10 ms until it holds or `within` passes.
pub async fn eventually(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> bool,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if check() { Ok(()) } else { bail!("timed out waiting for: {what}") }
}

/// The first event that `pick` turns into a value, within `within` (a
/// lagging receiver skips what it missed and goes on).
pub async fn next_event<T>(
    events: &mut tokio::sync::broadcast::Receiver<NodeEvent>,
    within: Duration,
    mut pick: impl FnMut(NodeEvent) -> Option<T>,
) -> Result<T> {
    use tokio::sync::broadcast::error::RecvError;
    let wait = async {
        loop {
            match events.recv().await {
                Ok(e) => {
                    if let Some(found) = pick(e) {
                        return Ok(found);
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => bail!("the node's events ended"),
            }
        }
    };
    tokio::time::timeout(within, wait)
        .await
        .map_err(|_| anyhow::anyhow!("no such event in time"))?
}

/// `inviter`, a member of `group`, makes an invite giving `roles`, waits
/// (up to `wait` for each) until it knows where `answerer` (a member who
/// may invite) listens and `answerer` can answer the invite, then stops
/// its node for good (`peer.md`, "Joins without the inviter"). Returns the
/// invite string.
pub async fn invite_then_stop(
    inviter: Node,
    answerer: &Node,
    group: GroupId,
    roles: &[&str],
    approval: cairn_net::node::invites::Approval,
    wait: Duration,
) -> Result<Zeroizing<String>> {
    let key = answerer.identity().public_key();
    // The invite names the members who may answer it and can be reached:
    // the answerer's contact must have reached the inviter.
    eventually("the inviter knows where the answerer listens", wait, || {
        inviter.state(&group).is_ok_and(|s| s.members.get(&key).is_some_and(|m| m.onion.is_some()))
    })
    .await?;
    let roles = roles.iter().map(|r| (*r).to_owned()).collect();
    let ticket = inviter.invite(group, roles, Duration::from_secs(600), approval).await?;
    let now = cairn_net::node::profile::now();
    eventually("the answerer can answer the invitation", wait, || {
        answerer.with_replica(&group, |r| !r.open_invitations(now).is_empty()).unwrap_or(false)
    })
    .await?;
    inviter.shutdown();
    Ok(ticket.text)
}
