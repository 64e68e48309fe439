//! `cairn approve`: answers the join requests that a running `cairn invite`
//! or `cairn run` (a member answering an invitation shared with it) on the
//! same profile waits on, so that inviting and approving can be
//! scripted or done from another terminal. The two talk over a Unix socket
//! inside the profile directory (owner-only), one line each way:
//! `list`, `approve CODE` or `deny CODE`. With nothing running on the
//! profile, it opens the profile itself and answers the join requests other
//! members shared with it (`peer.md`, "Pending joins").

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cairn_net::node::Node;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::{Failure, Global, Outcome};
use crate::text;

/// The socket's file name in the profile directory.
const SOCKET: &str = "approve.sock";

/// A join request waiting for an answer.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) code: String,
    pub(crate) fingerprint: String,
    pub(crate) name: String,
}

/// The join requests `cairn invite` is waiting on.
pub(crate) type Waiting = Arc<Mutex<Vec<Pending>>>;

/// The approval socket of a waiting `cairn invite`; removed on drop.
pub(crate) struct ApprovalSocket {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ApprovalSocket {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Opens the socket in `profile` and answers `cairn approve` from it.
pub(crate) fn serve(
    profile: &Path,
    node: Node,
    waiting: Waiting,
) -> Result<ApprovalSocket, Failure> {
    let path = profile.join(SOCKET);
    // The profile lock is ours: a socket file left here is stale.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).map_err(|e| Failure {
        code: 1,
        message: format!("cannot open {}: {e}", path.display()),
    })?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Failure { code: 1, message: format!("cannot restrict the socket: {e}") })?;
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (node, waiting) = (node.clone(), waiting.clone());
            tokio::spawn(async move {
                let _ = answer(stream, &node, &waiting).await;
            });
        }
    });
    Ok(ApprovalSocket { path, task })
}

async fn answer(stream: UnixStream, node: &Node, waiting: &Waiting) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    // One short request line; anything longer is not ours.
    BufReader::new(read.take_bounded()).read_line(&mut line).await?;
    let reply = match line.trim().split_once(' ') {
        None if line.trim() == "list" => {
            let mut list = waiting.lock().map(|w| w.clone()).unwrap_or_default();
            for shared in shared_joins(node) {
                if !list.iter().any(|p| p.code == shared.code) {
                    list.push(shared);
                }
            }
            rows(&list)
        }
        Some((verb @ ("approve" | "deny"), code)) => {
            let admit = verb == "approve";
            match node.act(cairn_net::node::Action::Approve { code: code.into(), admit }) {
                Ok(_) => {
                    if let Ok(mut w) = waiting.lock() {
                        w.retain(|p| p.code != code);
                    }
                    "ok\n".to_owned()
                }
                Err(e) => format!("error {e}\n"),
            }
        }
        _ => "error unknown request\n".to_owned(),
    };
    write.write_all(reply.as_bytes()).await?;
    write.shutdown().await
}

/// The join requests other members shared with this one, open.
fn shared_joins(node: &Node) -> Vec<Pending> {
    (node.pending_joins().into_iter())
        .map(|(_, n)| Pending {
            code: n.content.short_code.clone(),
            fingerprint: n.content.fingerprint(),
            name: n.content.name.clone(),
        })
        .collect()
}

/// One line per request: code, fingerprint, name (tab-separated).
fn rows(list: &[Pending]) -> String {
    list.iter()
        .map(|p| format!("{}\t{}\t{}\n", p.code, p.fingerprint, text::line(&p.name)))
        .collect()
}

/// Without a running `cairn run` or `cairn invite` on the profile: opens
/// it, takes in what the relays and peers hold, and answers a join request
/// another member shared (or lists them), then sends the answer out.
async fn answer_here(g: &Global, code: Option<&str>, deny: bool) -> Result<String, Failure> {
    let node = g.open().await?;
    node.start().await;
    node.sync(super::SYNC_WAIT).await;
    let reply = match code {
        None => rows(&shared_joins(&node)),
        Some(code) => {
            let answer = cairn_net::node::Action::Approve { code: code.into(), admit: !deny };
            match node.act(answer) {
                Ok(_) => "ok\n".to_owned(),
                Err(e) => format!("error {e}\n"),
            }
        }
    };
    let waiting = node.flush(super::FLUSH_WAIT).await;
    if waiting > 0 {
        eprintln!("cairn: the answer waits in the outbox; it goes out on the next run");
    }
    Ok(reply)
}

/// Bounds what one request may send.
trait TakeBounded: Sized {
    fn take_bounded(self) -> tokio::io::Take<Self>;
}

impl<R: tokio::io::AsyncRead> TakeBounded for R {
    fn take_bounded(self) -> tokio::io::Take<Self> {
        tokio::io::AsyncReadExt::take(self, 256)
    }
}

/// `cairn approve [CODE] [--deny]`: without a code, lists the waiting join
/// requests; with one, admits (or refuses) the person who shows that code.
pub(crate) async fn approve(g: &Global, code: Option<String>, deny: bool) -> Outcome {
    let profile = g.profile();
    if !profile.join("profile.key").exists() {
        return Err(Failure { code: 3, message: "no profile here: `cairn init` makes one".into() });
    }
    let request = match &code {
        Some(c) => format!("{} {c}\n", if deny { "deny" } else { "approve" }),
        None => "list\n".to_owned(),
    };
    let reply = match ask(&profile.join(SOCKET), &request).await? {
        Some(reply) => reply,
        None => answer_here(g, code.as_deref(), deny).await?,
    };
    match code {
        Some(code) => match reply.trim().strip_prefix("error ") {
            Some(why) => Err(Failure::input(format!("{why} (code {code})"))),
            None if deny => {
                println!("refused {code}");
                Ok(())
            }
            None => {
                println!("admitted {code}");
                Ok(())
            }
        },
        None => {
            list(g, &reply);
            Ok(())
        }
    }
}

fn list(g: &Global, reply: &str) {
    let rows: Vec<Vec<&str>> = reply.lines().map(|l| l.split('\t').collect()).collect();
    if g.json {
        let v: Vec<_> = rows
            .iter()
            .filter(|r| r.len() == 3)
            .map(|r| serde_json::json!({ "code": r[0], "fingerprint": r[1], "name": r[2] }))
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return;
    }
    if rows.is_empty() {
        println!("no join request is waiting");
    }
    for r in rows.iter().filter(|r| r.len() == 3) {
        println!("{:?} wants to join: fingerprint {}, code {}", r[2], r[1], r[0]);
    }
}

/// Asks the running `cairn invite` or `cairn run`; `None` if none runs.
async fn ask(socket: &Path, request: &str) -> Result<Option<String>, Failure> {
    use tokio::io::AsyncReadExt as _;
    let Ok(mut stream) = UnixStream::connect(socket).await else { return Ok(None) };
    let io = |e: std::io::Error| Failure { code: 1, message: format!("cairn invite: {e}") };
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    let mut reply = String::new();
    stream.take(1 << 16).read_to_string(&mut reply).await.map_err(io)?;
    Ok(Some(reply))
}
