//! `cairn approve`: answers the join requests that a running `cairn invite`
//! or `cairn run` (a member answering an invitation shared with it) on the
//! same profile waits on, so that inviting and approving can be
//! scripted or done from another terminal. The two talk over a Unix socket
//! inside the profile directory (owner-only), one line each way:
//! `list`, `approve CODE` or `deny CODE`.

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
            let list = waiting.lock().map(|w| w.clone()).unwrap_or_default();
            list.iter()
                .map(|p| format!("{}\t{}\t{}\n", p.code, p.fingerprint, text::line(&p.name)))
                .collect()
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
    let reply = ask(&profile.join(SOCKET), &request).await?;
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

async fn ask(socket: &Path, request: &str) -> Result<String, Failure> {
    use tokio::io::AsyncReadExt as _;
    let mut stream = UnixStream::connect(socket).await.map_err(|_| {
        Failure::input(
            "no `cairn invite` or `cairn run` is waiting on this profile: start one \
             (`invite` prints the invite), then answer its join requests here",
        )
    })?;
    let io = |e: std::io::Error| Failure { code: 1, message: format!("cairn invite: {e}") };
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    let mut reply = String::new();
    stream.take(1 << 16).read_to_string(&mut reply).await.map_err(io)?;
    Ok(reply)
}
