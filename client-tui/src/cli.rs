//! The command line: shared options, opening the node, output and exit
//! codes. One file per command group under `cli/`.
//!
//! Exit codes (also in the README):
//!
//! | code | meaning |
//! |---:|---|
//! | 0 | done |
//! | 1 | failed (the message says why) |
//! | 2 | bad usage (unknown option, missing argument) |
//! | 3 | no profile here, or wrong passphrase |
//! | 4 | the profile is in use by another cairn process |
//! | 5 | bad input: unknown group or member, malformed invite, refused by the group's rules |

use std::path::PathBuf;
use std::process::ExitCode;

use cairn_net::node::{LockError, Network, Node, NodeConfig, NodeError};
use cairn_net::proto::store::StoreError;
use cairn_net::proto::wire::GroupId;
use zeroize::Zeroizing;

pub(crate) mod admin;
pub(crate) mod approve;
pub(crate) mod chat;
pub(crate) mod group;
pub(crate) mod identity;
pub(crate) mod invite;
pub(crate) mod run;
pub(crate) mod task;

/// How long a command waits for its messages to reach the relays (they
/// stay in the outbox otherwise).
pub(crate) const FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(20);
/// How long a command fetches what is new before it acts or reads.
pub(crate) const SYNC_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Options every command takes.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Global {
    /// The profile directory: one identity and its groups (default
    /// `~/.cairn/default`). Nothing ever acts on another profile.
    #[arg(long, global = true)]
    profile: Option<PathBuf>,
    /// Read the passphrase from this file (first line) instead of asking.
    #[arg(long, global = true)]
    pub(crate) passphrase_file: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Use a private Tor network described by this arti configuration file
    /// (tests and demos); without it, the public Tor network.
    #[arg(long, global = true)]
    pub(crate) tor_network: Option<PathBuf>,
    /// INSECURE: no Tor. Plain TCP on 127.0.0.1, peers found through this
    /// shared directory. For tests and local demos only.
    #[arg(long, global = true)]
    pub(crate) insecure_loopback: Option<PathBuf>,
}

/// A failure with its exit code.
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn input(message: impl Into<String>) -> Self {
        Self { code: 5, message: message.into() }
    }
}

impl From<NodeError> for Failure {
    fn from(e: NodeError) -> Self {
        let code = match &e {
            NodeError::Lock(LockError::InUse { .. }) => 4,
            NodeError::Store(StoreError::NoProfile { .. } | StoreError::KeyFile { .. }) => 3,
            NodeError::UnknownGroup
            | NodeError::Replica(_)
            | NodeError::Left
            | NodeError::LeaveNeedsHistory => 5,
            _ => 1,
        };
        Self { code, message: e.to_string() }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self { code: 1, message: format!("{e:#}") }
    }
}

pub(crate) type Outcome = Result<(), Failure>;

/// Prints the failure and turns it into the exit code.
pub(crate) fn finish(outcome: Outcome) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("cairn: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

impl Global {
    /// The profile directory.
    pub(crate) fn profile(&self) -> PathBuf {
        self.profile.clone().unwrap_or_else(|| {
            let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
            home.join(".cairn").join("default")
        })
    }

    /// The passphrase: from `--passphrase-file`, else asked on the terminal.
    pub(crate) fn passphrase(&self, prompt: &str) -> Result<Zeroizing<Vec<u8>>, Failure> {
        let text = match &self.passphrase_file {
            Some(path) => Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                Failure::input(format!("cannot read the passphrase file {}: {e}", path.display()))
            })?),
            None => read_secret(prompt)
                .map_err(|e| Failure::input(format!("cannot read the passphrase: {e}")))?,
        };
        // The first line, in NFC (`identity.md`, "Passphrase bytes").
        let bytes = cairn_net::proto::identity::passphrase_bytes(&text);
        if bytes.is_empty() {
            return Err(Failure::input("the passphrase is empty"));
        }
        Ok(bytes)
    }

    /// Which network the node uses.
    pub(crate) fn network(&self) -> Network {
        match (&self.insecure_loopback, &self.tor_network) {
            (Some(dir), _) => {
                eprintln!("cairn: WARNING: insecure loopback mode: no Tor, nothing is anonymous");
                Network::LoopbackInsecure { directory: dir.clone() }
            }
            (None, Some(file)) => Network::Tor(cairn_net::TorNetwork::Custom(file.clone())),
            (None, None) => Network::Tor(cairn_net::TorNetwork::Public),
        }
    }

    /// Opens the node on this profile.
    pub(crate) async fn open(&self) -> Result<Node, Failure> {
        let passphrase = self.passphrase("passphrase")?;
        let config = NodeConfig::new(self.profile(), self.network());
        Ok(Node::open(config, passphrase).await?)
    }
}

/// Reads one line from the terminal without echoing it (from a pipe: the
/// first line).
fn read_secret(prompt: &str) -> std::io::Result<Zeroizing<String>> {
    use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
    use ratatui::crossterm::terminal;
    use std::io::IsTerminal;
    eprint!("{prompt}: ");
    let mut line = Zeroizing::new(String::new());
    if !std::io::stdin().is_terminal() {
        std::io::stdin().read_line(&mut line)?;
        return Ok(line);
    }
    terminal::enable_raw_mode()?;
    let read = loop {
        match event::read() {
            Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => match k.code {
                KeyCode::Enter => break Ok(()),
                KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                    break Err(std::io::Error::other("interrupted"));
                }
                KeyCode::Char(c) => line.push(c),
                KeyCode::Backspace => {
                    line.pop();
                }
                _ => {}
            },
            Ok(_) => {}
            Err(e) => break Err(e),
        }
    };
    terminal::disable_raw_mode()?;
    eprintln!();
    read.map(|()| line)
}

/// Finds a group by id (hex, or a unique prefix of it) or by exact name.
pub(crate) fn find_group(node: &Node, which: &str) -> Result<GroupId, Failure> {
    let groups = node.groups();
    let by_name: Vec<_> = groups.iter().filter(|(_, n)| n == which).collect();
    let by_id: Vec<_> =
        groups.iter().filter(|(g, _)| !which.is_empty() && hex(&g.0).starts_with(which)).collect();
    match (by_name.as_slice(), by_id.as_slice()) {
        ([(g, _)], _) | ([], [(g, _)]) => Ok(*g),
        ([], []) => Err(Failure::input(format!(
            "no group {which:?} in this profile; `cairn group list` shows them"
        ))),
        _ => Err(Failure::input(format!("{which:?} names several groups; give more of the id"))),
    }
}

/// Parses a member's identity key (64 hex digits).
pub(crate) fn parse_key(text: &str) -> Result<cairn_net::proto::crypto::PublicKey, Failure> {
    let bad = || Failure::input(format!("{text:?} is not an identity key (64 hex digits)"));
    if text.len() != 64 {
        return Err(bad());
    }
    let mut key = [0u8; 32];
    for (i, b) in key.iter_mut().enumerate() {
        *b = u8::from_str_radix(text.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16)
            .map_err(|_| bad())?;
    }
    Ok(cairn_net::proto::crypto::PublicKey(key))
}

/// Does `action` (the same [`cairn_net::node::Action`] the TUI sends) and
/// returns the message it wrote.
pub(crate) fn act(
    node: &Node,
    action: cairn_net::node::Action,
) -> Result<cairn_net::proto::wire::MessageId, NodeError> {
    node.act(action)?.message_id().ok_or(NodeError::Bug("a message action wrote no message"))
}

/// Waits for the outbox (bounded) and prints what was written.
pub(crate) async fn report(
    g: &Global,
    node: &Node,
    what: &str,
    id: &cairn_net::proto::wire::MessageId,
) {
    let waiting = node.flush(FLUSH_WAIT).await;
    if g.json {
        println!("{}", serde_json::json!({ what: hex(&id.0), "queued": waiting }));
    } else if waiting > 0 {
        println!("{what} {} (queued: no relay reachable yet; sent on the next run)", hex(&id.0));
    } else {
        println!("{what} {}", hex(&id.0));
    }
}

/// Lowercase hex (the workspace's one formatter, `cairn_proto::hex`).
pub(crate) use cairn_proto::hex::encode as hex;
