//! The backend task: owns the node, does what the UI asks, forwards the
//! node's events and sends fresh snapshots. The UI never waits on the node.

use std::time::Duration;

use cairn_net::node::invites::Approval;
use cairn_net::node::{Action, Done, Node, NodeError, NodeEvent};
use cairn_net::proto::wire::GroupId;
use tokio::sync::{broadcast, mpsc};

use super::app::{Job, Request, Update};
use super::snapshot::{self, CHAT_PAGE, CHAT_WINDOW, Live, Names};

/// How long leaving waits for the relays to take the outbox.
const LEAVE_FLUSH: Duration = Duration::from_secs(5);
/// How long an invite made in the TUI stays valid.
const INVITE_TTL: Duration = Duration::from_secs(30 * 60);

struct Backend {
    node: Node,
    selected: Option<GroupId>,
    names: Names,
    /// The kept view of the selected group, patched from where the fold
    /// changed: a node event costs what it brought, not the history.
    live: Live,
    /// How many chat-pane lines the snapshot carries.
    window: usize,
    /// Outbox items waiting (the store's count).
    outbox: usize,
    /// The name given in the latest join request (recorded for the key
    /// once the invite reports who was admitted).
    asked_name: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    ui: mpsc::UnboundedSender<Update>,
    named: mpsc::UnboundedSender<(cairn_net::proto::crypto::PublicKey, String)>,
}

/// Runs until the UI hangs up; then flushes the outbox (bounded) and stops
/// the node.
pub(crate) async fn run(
    node: Node,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    ui: mpsc::UnboundedSender<Update>,
    started: bool,
    names: Names,
) {
    // The state first, then its changes: a UI started after Tor
    // bootstrapped or a relay came up shows it at once.
    let (health, mut events) = node.subscribe();
    let _ = ui.send(Update::Health(health));
    if !started {
        node.start().await;
    }
    let (named, mut names_in) = mpsc::unbounded_channel();
    let outbox = node.outbox_len();
    let mut b = Backend {
        node,
        selected: None,
        names,
        live: Live::default(),
        window: CHAT_WINDOW,
        outbox,
        asked_name: std::sync::Arc::default(),
        ui,
        named,
    };
    if b.node.is_restored_unconfirmed() {
        b.send(Update::Event(NodeEvent::Warning(
            cairn_net::node::SecurityWarning::RestoredUnconfirmed,
        )));
    }
    // Join requests other members shared before this UI started.
    for (group, note) in b.node.pending_joins() {
        let asked = NodeEvent::JoinRequest {
            group,
            fingerprint: note.content.fingerprint(),
            short_code: note.content.short_code.clone(),
            name: note.content.name.clone(),
        };
        b.event(asked, Due::default());
    }
    b.refresh();
    loop {
        tokio::select! {
            job = jobs.recv() => match job {
                Some(job) => b.job(job).await,
                None => break,
            },
            event = events.recv() => match event {
                Ok(e) => {
                    // Everything already waiting, then one patch for all.
                    let mut due = b.event(e, Due::default());
                    loop {
                        match events.try_recv() {
                            Ok(e) => due = b.event(e, due),
                            Err(broadcast::error::TryRecvError::Lagged(_)) => due.rebuild = true,
                            Err(_) => break,
                        }
                    }
                    b.settle(due);
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    b.settle(Due { rebuild: true, ..Due::default() });
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            Some((key, name)) = names_in.recv() => {
                b.names.insert(key, name);
                b.refresh();
            }
        }
    }
    b.node.flush(LEAVE_FLUSH).await;
    if !started {
        b.node.shutdown();
    }
}

impl Backend {
    fn send(&self, u: Update) {
        // The UI has gone: nothing to show it to.
        let _ = self.ui.send(u);
    }

    /// Sends a snapshot, patching the kept view from where the fold changed.
    fn refresh(&mut self) {
        let s = snapshot::take(
            &self.node,
            self.selected,
            &self.names,
            &mut self.live,
            self.window,
            self.outbox,
        );
        self.selected = s.group.as_ref().map(|g| g.id);
        self.send(Update::Snapshot(s));
    }

    /// Notes what `e` asks of the screen (done once for a run of events).
    fn event(&mut self, e: NodeEvent, mut due: Due) -> Due {
        match &e {
            // `Synced` follows the `Messages` that carried what it brought;
            // the group list (names) is re-read with the view.
            NodeEvent::Messages { .. } | NodeEvent::Synced { .. } => due.view = true,
            NodeEvent::Queued { .. } | NodeEvent::Delivered { .. } | NodeEvent::RelayUp { .. } => {
                due.outbox = true;
            }
            NodeEvent::JoinRequest { name, .. } => *lock(&self.asked_name) = Some(name.clone()),
            _ => {}
        }
        self.send(Update::Event(e));
        due
    }

    fn settle(&mut self, due: Due) {
        if due.rebuild {
            self.live = Live::default();
        }
        if due.outbox || due.rebuild {
            self.count_outbox();
        }
        if due.view || due.rebuild {
            self.refresh();
        }
    }

    /// Re-reads the outbox count; tells the UI if it moved.
    fn count_outbox(&mut self) {
        let n = self.node.outbox_len();
        if n != self.outbox {
            self.outbox = n;
            self.send(Update::Outbox(n));
        }
    }

    async fn job(&mut self, job: Job) {
        let typed = job.typed;
        let result = self.request(job.request).await;
        let result = result.map_err(|e| e.to_string());
        self.send(Update::Done { result, typed });
        self.count_outbox();
        self.refresh();
    }

    async fn request(&mut self, r: Request) -> Result<String, NodeError> {
        Ok(match r {
            Request::Select(g) => {
                if g != self.selected {
                    self.window = CHAT_WINDOW;
                }
                self.selected = g;
                String::new()
            }
            Request::Older => {
                self.window += CHAT_PAGE;
                String::new()
            }
            Request::Act(action) => {
                let said = said(&action);
                let done = self.node.act(action)?;
                match done {
                    Done::Group(g) => self.selected = Some(g),
                    Done::Message(id) if said == "task created" => {
                        return Ok(format!("task {} created", cairn_proto::hex::short(&id.0, 8)));
                    }
                    _ => {}
                }
                said
            }
            Request::Invite { group, roles, auto } => return self.invite(group, roles, auto).await,
            Request::Join { invite, name } => {
                let n = self.node.clone();
                let ui = self.ui.clone();
                // Joining waits for a person on the other side: not here.
                tokio::spawn(async move {
                    let result = n.join(invite.trim(), &name).await;
                    let result = result.map(|_| "joined".to_owned()).map_err(|e| e.to_string());
                    let _ = ui.send(Update::Done { result, typed: None });
                });
                "redeeming the invite…".into()
            }
            Request::Resync => {
                self.node.resync_all().await;
                "resynced".into()
            }
        })
    }

    async fn invite(
        &mut self,
        group: GroupId,
        roles: Vec<String>,
        auto: bool,
    ) -> Result<String, NodeError> {
        let approval = if auto { Approval::Automatic } else { Approval::Manual };
        let ticket = self.node.invite(group, roles, INVITE_TTL, approval).await?;
        self.send(Update::Invite {
            text: ticket.text.as_str().to_owned(),
            minutes: INVITE_TTL.as_secs() / 60,
        });
        let (asked, named, ui) = (self.asked_name.clone(), self.named.clone(), self.ui.clone());
        tokio::spawn(async move {
            let outcome = ticket.done.await.ok().flatten();
            let message = match outcome {
                Some(key) => {
                    let name = lock(&asked).take().filter(|n| !n.is_empty());
                    let name = name.unwrap_or_else(|| cairn_proto::hex::short(&key.0, 8));
                    let _ = named.send((key, name.clone()));
                    Ok(format!("{name} joined"))
                }
                None => Err("the invite ended without a join".to_owned()),
            };
            let _ = ui.send(Update::Done { result: message, typed: None });
        });
        Ok("invite made".into())
    }
}

/// What a run of node events asks of the screen.
#[derive(Debug, Default, Clone, Copy)]
struct Due {
    /// Patch the view and send a snapshot.
    view: bool,
    /// Count the outbox.
    outbox: bool,
    /// Events were lost (a lagged subscriber): rebuild from nothing.
    rebuild: bool,
}

/// What the notice line says once `action` is done.
fn said(action: &Action) -> String {
    match action {
        Action::Chat { .. } => "sent".into(),
        Action::CreateGroup { name, relays, .. } if relays.is_empty() => {
            format!("group {name} founded without a relay: members sync directly")
        }
        Action::CreateGroup { name, .. } => {
            format!("group {name} founded; /invite to bring people in")
        }
        Action::CreateTask { .. } => "task created".into(),
        Action::AssignTask { .. } => "assigned".into(),
        Action::Comment { .. } => "comment sent".into(),
        Action::CloseTask { close: true, .. } => "closed".into(),
        Action::CloseTask { close: false, .. } => "reopened".into(),
        Action::Approve { admit: true, .. } => "admitting…".into(),
        Action::Approve { admit: false, .. } => "refused".into(),
        Action::Remove { .. } => "removed; the group's keys rotate".into(),
        Action::Role { role, assign, .. } => {
            format!("role {role} {}", if *assign { "given" } else { "taken" })
        }
        Action::SetName { name, .. } => {
            format!("you go by {:?} in this group", crate::text::line(name.trim()))
        }
        Action::Rotate { .. } => "keys rotated".into(),
        Action::Leave { keep_history: true, .. } => {
            "you left; keys erased, the history stays read-only".into()
        }
        Action::Leave { keep_history: false, .. } => "you left; keys and history deleted".into(),
        Action::ConfirmRestored => "this identity signs again".into(),
        _ => "done".into(),
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
