//! The UI's state and what keys do to it. No terminal and no node here:
//! keys come in, [`Request`]s for the backend go out, [`Update`]s from the
//! backend come back. That keeps it testable key by key.

use cairn_net::node::{Action, Health as NodeHealth, NodeEvent, SecurityWarning};
use cairn_net::proto::crypto::PublicKey;
use cairn_net::proto::group::TaskContent;
use cairn_net::proto::wire::{GroupId, MessageId};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::command::{self, Command, Input};
use super::snapshot::{Column, GroupView, Snapshot, TaskRow};
use crate::cli::hex;

/// The main pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    Chat,
    Tasks,
    Members,
    Warnings,
}

/// Which tasks the board shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TaskFilter {
    All,
    Mine,
    Open,
    Label(String),
}

impl TaskFilter {
    fn keeps(&self, t: &TaskRow) -> bool {
        match self {
            TaskFilter::All => true,
            TaskFilter::Mine => t.mine,
            TaskFilter::Open => t.open,
            TaskFilter::Label(l) => t.labels.iter().any(|x| x == l),
        }
    }

    pub(crate) fn name(&self) -> String {
        match self {
            TaskFilter::All => "all".into(),
            TaskFilter::Mine => "mine".into(),
            TaskFilter::Open => "open".into(),
            TaskFilter::Label(l) => format!("label {l}"),
        }
    }
}

/// What the backend is asked to do: a node [`Action`], or one of the
/// things that wait on the network or a person. `typed` (in [`Job`]) is
/// the input line that asked for it, given back if it fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// Show this group (and send snapshots of it).
    Select(Option<GroupId>),
    /// One step the node does ([`cairn_net::node::Node::act`]).
    Act(Action),
    Invite {
        group: GroupId,
        roles: Vec<String>,
        auto: bool,
    },
    Join {
        invite: String,
        name: String,
    },
    Resync,
    /// Carry more chat-pane lines, older ones (the user scrolled past the
    /// top of those carried).
    Older,
}

/// A request with the input line that asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Job {
    pub request: Request,
    pub typed: Option<String>,
}

/// What the backend tells the UI.
#[derive(Debug, Clone)]
pub(crate) enum Update {
    Snapshot(Snapshot),
    /// The node's health when the backend started (events change it).
    Health(NodeHealth),
    Event(NodeEvent),
    /// A job finished: what to say, or why it failed (and the input to
    /// give back).
    Done {
        result: Result<String, String>,
        typed: Option<String>,
    },
    /// An invite to hand over.
    Invite {
        text: String,
        minutes: u64,
    },
    /// Something to tell the user (the demo's narration).
    Notice(String),
    /// The outbox count moved (no new snapshot needed for that).
    Outbox(usize),
    /// The node is going down (the backend failed).
    Fatal(String),
}

/// A popup over the main pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Popup {
    Invite { text: String, minutes: u64 },
    JoinRequest { name: String, fingerprint: String, code: String },
    Joining { code: String, inviter: String },
}

/// A warning or notable event, with what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Warning {
    pub at: u64,
    pub summary: String,
    pub detail: String,
}

/// Network health for the status bar: the node's [`NodeHealth`], read
/// when the backend starts and then kept by folding the node's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Health {
    pub node: NodeHealth,
    /// Loopback mode: no Tor, said loudly.
    pub insecure: bool,
}
/// The whole UI state.
#[derive(Debug)]
pub(crate) struct App {
    pub profile: String,
    /// The profile's colour (chosen with `cairn tui --color`).
    pub colour: ratatui::style::Color,
    pub view: View,
    pub help: bool,
    pub input: String,
    pub snapshot: Snapshot,
    pub selected: Option<GroupId>,
    /// Selected chat line (index into the chat); `None` follows the end.
    pub chat_sel: Option<usize>,
    pub task_sel: usize,
    pub member_sel: usize,
    pub warning_sel: usize,
    pub filter: TaskFilter,
    pub health: Health,
    pub warnings: Vec<Warning>,
    /// The last thing said on the notice line, and whether it is an error.
    pub notice: Option<(bool, String)>,
    pub popup: Option<Popup>,
    pub quit: bool,
    /// The current time (Unix seconds), set on every tick.
    pub now: u64,
}

impl App {
    pub(crate) fn new(profile: String, insecure: bool) -> Self {
        Self {
            colour: super::view::profile_colour(&profile),
            profile,
            view: View::Chat,
            help: false,
            input: String::new(),
            snapshot: Snapshot::default(),
            selected: None,
            chat_sel: None,
            task_sel: 0,
            member_sel: 0,
            warning_sel: 0,
            filter: TaskFilter::All,
            health: Health { node: NodeHealth::new(!insecure), insecure },
            warnings: Vec::new(),
            notice: None,
            popup: None,
            quit: false,
            now: 0,
        }
    }

    /// The selected group's view.
    pub(crate) fn group(&self) -> Option<&GroupView> {
        self.snapshot.group.as_ref()
    }

    /// How a member of `group` is shown: its name when that group is the
    /// one on screen, else the first digits of its key.
    fn member_name(&self, group: &GroupId, key: &PublicKey) -> String {
        let shown = self.group().filter(|g| g.id == *group);
        let row = shown.and_then(|g| g.members.iter().find(|m| m.key == *key));
        row.map_or_else(|| hex(&key.0)[..12].to_string(), |m| m.name.clone())
    }

    /// The tasks the board shows, column by column.
    pub(crate) fn visible_tasks(&self) -> Vec<&TaskRow> {
        let Some(g) = self.group() else { return Vec::new() };
        let mut tasks: Vec<&TaskRow> = g.tasks.iter().filter(|t| self.filter.keeps(t)).collect();
        tasks.sort_by_key(|t| (column_order(t.column()), t.number));
        tasks
    }

    fn say(&mut self, text: impl Into<String>) {
        self.notice = Some((false, text.into()));
    }

    fn fail(&mut self, text: impl Into<String>) {
        self.notice = Some((true, text.into()));
    }

    /// Takes a backend update.
    pub(crate) fn update(&mut self, u: Update) {
        match u {
            Update::Snapshot(s) => {
                // A join request answered elsewhere (another window, a
                // script): the member is in, the question is moot.
                let members = |s: &Snapshot| s.group.as_ref().map_or(0, |g| g.members.len());
                let asking = matches!(self.popup, Some(Popup::JoinRequest { .. }));
                if asking && members(&s) > members(&self.snapshot) {
                    self.popup = None;
                }
                self.selected = s.group.as_ref().map(|g| g.id);
                // The window of lines moves (new lines, older ones
                // brought in): the selection stays on its line.
                let chosen = self.chat_sel.and_then(|i| self.group()?.chat.get(i).map(|c| c.id));
                self.snapshot = s;
                if let Some(id) = chosen {
                    let chat = self.group().map(|g| g.chat.as_slice()).unwrap_or_default();
                    self.chat_sel = chat.iter().rposition(|c| c.id == id).or(self.chat_sel);
                }
                self.clamp_selections();
            }
            Update::Health(h) => self.health.node = h,
            Update::Event(e) => self.event(e),
            Update::Done { result: Ok(text), .. } if text.is_empty() => {}
            Update::Done { result: Ok(text), .. } => self.say(text),
            Update::Done { result: Err(why), typed } => {
                // What the user typed is never lost: it comes back to the
                // input line (or, if they typed on meanwhile, is quoted).
                match typed {
                    Some(t) if self.input.is_empty() => {
                        self.input = t;
                        self.fail(format!("{why} (your text is back in the input line)"));
                    }
                    Some(t) => self.fail(format!("{why}; not sent: {t}")),
                    None => self.fail(why),
                }
            }
            Update::Invite { text, minutes } => {
                self.popup = Some(Popup::Invite { text, minutes });
                self.say("invite made: hand it over privately; Esc closes the popup");
            }
            Update::Fatal(why) => self.fail(why),
            Update::Notice(text) => self.say(text),
            Update::Outbox(n) => self.snapshot.outbox = n,
        }
    }

    fn event(&mut self, e: NodeEvent) {
        self.health.node.apply(&e, self.now);
        match e {
            NodeEvent::JoinRequest { fingerprint, short_code, name, .. } => {
                let name = crate::text::line(&name);
                self.popup = Some(Popup::JoinRequest { name, fingerprint, code: short_code });
            }
            NodeEvent::Joining { short_code, inviter } => {
                self.popup = Some(Popup::Joining { code: short_code, inviter });
            }
            NodeEvent::JoinAnswered { group, short_code, name, admitted, by } => {
                // Answered by another member (or here): the question is
                // moot; everyone who could answer it is told.
                if matches!(&self.popup, Some(Popup::JoinRequest { code, .. }) if *code == short_code)
                {
                    self.popup = None;
                }
                let who = self.member_name(&group, &by);
                let what = if admitted { "admitted" } else { "declined" };
                let name = crate::text::line(&name);
                self.say(format!("join request {short_code} ({name}) {what} by {who}"));
            }
            NodeEvent::Warning(w) => self.warn(&w),
            NodeEvent::PostRefused { relay, reason, .. } => {
                self.notice = Some((true, format!("relay {relay} refused a message: {reason}")));
            }
            _ => {}
        }
    }

    fn warn(&mut self, w: &SecurityWarning) {
        let (summary, detail) = describe_warning(w);
        self.notice = Some((true, format!("warning: {summary} (F5 for details)")));
        self.warnings.push(Warning { at: self.now, summary, detail });
    }

    fn clamp_selections(&mut self) {
        let tasks = self.visible_tasks().len();
        let members = self.group().map_or(0, |g| g.members.len());
        let chat = self.group().map_or(0, |g| g.chat.len());
        self.task_sel = self.task_sel.min(tasks.saturating_sub(1));
        self.member_sel = self.member_sel.min(members.saturating_sub(1));
        self.chat_sel = self.chat_sel.filter(|i| *i < chat);
    }

    /// Handles one key; returns what the backend must do.
    pub(crate) fn key(&mut self, k: KeyEvent) -> Vec<Job> {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        match k.code {
            KeyCode::Char('c') if ctrl => self.interrupt(),
            KeyCode::Char('n') if ctrl => return self.switch_group(1),
            KeyCode::Char('p') if ctrl => return self.switch_group(-1),
            KeyCode::Char('u') if ctrl => self.input.clear(),
            KeyCode::Char(c) if !ctrl => return self.typed(c),
            KeyCode::Backspace => {
                self.input.pop();
            }
            KeyCode::Enter => return self.submit(),
            KeyCode::Tab => self.complete(),
            KeyCode::Esc => self.escape(),
            KeyCode::Up => return self.move_selection(-1),
            KeyCode::Down => return self.move_selection(1),
            KeyCode::PageUp => return self.move_selection(-10),
            KeyCode::PageDown => return self.move_selection(10),
            KeyCode::F(1) => self.help = !self.help,
            KeyCode::F(2) => self.show(View::Chat),
            KeyCode::F(3) => self.show(View::Tasks),
            KeyCode::F(4) => self.show(View::Members),
            KeyCode::F(5) => self.show(View::Warnings),
            _ => {}
        }
        Vec::new()
    }

    fn typed(&mut self, c: char) -> Vec<Job> {
        if self.input.is_empty() {
            // Single keys act only on an empty input line.
            match (c, &self.popup) {
                ('?', _) => {
                    self.help = !self.help;
                    return Vec::new();
                }
                ('y' | 'n', Some(Popup::JoinRequest { code, .. })) => {
                    let code = code.clone();
                    self.popup = None;
                    return vec![job(
                        Request::Act(Action::Approve { code, admit: c == 'y' }),
                        None,
                    )];
                }
                _ => {}
            }
        }
        self.input.push(c);
        Vec::new()
    }

    fn interrupt(&mut self) {
        if self.input.is_empty() {
            self.quit = true;
        } else {
            self.input.clear();
            self.say("input cleared; Ctrl-C again leaves");
        }
    }

    fn escape(&mut self) {
        if self.help {
            self.help = false;
        } else if self.popup.is_some() {
            self.popup = None;
        } else {
            self.chat_sel = None;
        }
    }

    fn show(&mut self, v: View) {
        self.view = v;
        self.help = false;
    }

    fn switch_group(&mut self, step: isize) -> Vec<Job> {
        let groups = &self.snapshot.groups;
        if groups.is_empty() {
            return Vec::new();
        }
        let at = groups.iter().position(|(g, _)| Some(*g) == self.selected).unwrap_or(0);
        let next = (at as isize + step).rem_euclid(groups.len() as isize) as usize;
        let g = groups[next].0;
        self.selected = Some(g);
        self.chat_sel = None;
        self.task_sel = 0;
        self.member_sel = 0;
        vec![job(Request::Select(Some(g)), None)]
    }

    /// Moves the selection; past the top of the chat lines carried, asks
    /// the backend for older ones.
    fn move_selection(&mut self, step: isize) -> Vec<Job> {
        let moved = |at: usize, len: usize| -> usize {
            (at as isize + step).clamp(0, len.saturating_sub(1) as isize) as usize
        };
        match self.view {
            View::Chat => {
                let len = self.group().map_or(0, |g| g.chat.len());
                if len == 0 {
                    return Vec::new();
                }
                let at = self.chat_sel.unwrap_or(len);
                let earlier = self.group().map_or(0, |g| g.chat_earlier);
                if earlier > 0 && (at as isize) + step < 0 {
                    self.chat_sel = Some(0);
                    return vec![job(Request::Older, None)];
                }
                let next = (at as isize + step).clamp(0, len as isize) as usize;
                // Moving past the last line follows the end again.
                self.chat_sel = (next < len).then_some(next);
            }
            View::Tasks => self.task_sel = moved(self.task_sel, self.visible_tasks().len()),
            View::Members => {
                let len = self.group().map_or(0, |g| g.members.len());
                self.member_sel = moved(self.member_sel, len);
            }
            View::Warnings => self.warning_sel = moved(self.warning_sel, self.warnings.len()),
        }
        Vec::new()
    }

    fn complete(&mut self) {
        let members: Vec<String> = self
            .group()
            .map(|g| g.members.iter().filter(|m| !m.me).map(|m| m.name.clone()).collect())
            .unwrap_or_default();
        match command::complete(&self.input, &members) {
            Some(line) => self.input = line,
            None => self.say("no single completion"),
        }
    }

    fn submit(&mut self) -> Vec<Job> {
        let typed = std::mem::take(&mut self.input);
        match command::parse(&typed) {
            Ok(input) => match self.act(input) {
                Ok(jobs) => {
                    jobs.into_iter().map(|request| job(request, Some(typed.clone()))).collect()
                }
                Err(why) => {
                    self.input = typed;
                    self.fail(why);
                    Vec::new()
                }
            },
            Err(why) => {
                self.input = typed;
                self.fail(why);
                Vec::new()
            }
        }
    }

    /// Turns a parsed line into backend requests (or says why not).
    fn act(&mut self, input: Input) -> Result<Vec<Request>, String> {
        let c = match input {
            Input::Chat(text) => {
                let group = self.group_id()?;
                let reply_to = None;
                return Ok(vec![Request::Act(Action::Chat { group, text, reply_to })]);
            }
            Input::Command(c) => c,
        };
        let one = |r: Request| Ok(vec![r]);
        match c {
            Command::Help => self.help = true,
            Command::Quit => self.quit = true,
            Command::View(v) => self.show(v),
            Command::Filter(f) => {
                self.filter = match f.as_str() {
                    "all" => TaskFilter::All,
                    "mine" => TaskFilter::Mine,
                    "open" => TaskFilter::Open,
                    label => TaskFilter::Label(label.to_owned()),
                };
                self.task_sel = 0;
                self.show(View::Tasks);
            }
            Command::Reply(text) => {
                let g = self.group().ok_or("no group selected")?;
                let at = self.chat_sel.ok_or("select a chat line first (Up/Down in the chat)")?;
                let line = g.chat.get(at).ok_or("that line is gone")?;
                if line.event {
                    return Err("that is not a chat line: select one to reply to".into());
                }
                let to = line.id;
                let group = g.id;
                self.chat_sel = None;
                return one(Request::Act(Action::Chat { group, text, reply_to: Some(to) }));
            }
            Command::GroupNew { name, relays } => {
                let rules = cairn_net::proto::group::templates::organizer_member_observer();
                return one(Request::Act(Action::CreateGroup { name, rules, relays }));
            }
            Command::TaskNew(title) => {
                // The node picks the readers (`Node::default_readers`).
                let content = TaskContent { title, ..TaskContent::default() };
                let (readable_by, assignees) = (Vec::new(), Vec::new());
                let group = self.group_id()?;
                return one(Request::Act(Action::CreateTask {
                    group,
                    content,
                    readable_by,
                    assignees,
                }));
            }
            Command::Assign { task, member } => {
                let (group, task) = self.task(task.as_deref())?;
                let member = self.member(Some(&member))?;
                let (assign, unassign) = (vec![member], Vec::new());
                return one(Request::Act(Action::AssignTask { group, task, assign, unassign }));
            }
            Command::Comment { task, text } => {
                let (group, task) = self.task(task.as_deref())?;
                return one(Request::Act(Action::Comment { group, task, text }));
            }
            Command::Close(t) => return self.close(t.as_deref(), true),
            Command::Reopen(t) => return self.close(t.as_deref(), false),
            Command::Invite { role, auto } => {
                let group = self.group_id()?;
                let roles = vec![role.unwrap_or_else(|| "member".into())];
                return one(Request::Invite { group, roles, auto });
            }
            Command::Approve(code) => return self.approve(code, true),
            Command::Deny(code) => return self.approve(code, false),
            Command::Join { invite, name } => return one(Request::Join { invite, name }),
            Command::Remove(who) => {
                let group = self.group_id()?;
                let member = self.member(who.as_deref())?;
                return one(Request::Act(Action::Remove { group, member }));
            }
            Command::Leave { confirmed: false, .. } => {
                let name = self.group().map(|g| g.name.clone()).unwrap_or_default();
                // The line stays in the input: adding " yes" confirms.
                return Err(format!(
                    "leave {name}? add yes (history kept read-only) or yes delete"
                ));
            }
            Command::Leave { confirmed: true, delete_history } => {
                let group = self.group_id()?;
                return one(Request::Act(Action::Leave { group, keep_history: !delete_history }));
            }
            Command::RoleAssign { member, role } => return self.role(&member, role, true),
            Command::RoleRevoke { member, role } => return self.role(&member, role, false),
            Command::Name(name) => {
                return one(Request::Act(Action::SetName { group: self.group_id()?, name }));
            }
            Command::Rotate => {
                return one(Request::Act(Action::Rotate { group: self.group_id()? }));
            }
            Command::Resync => return one(Request::Resync),
            Command::Confirm => return one(Request::Act(Action::ConfirmRestored)),
        }
        Ok(Vec::new())
    }

    fn group_id(&self) -> Result<GroupId, String> {
        self.group().map(|g| g.id).ok_or_else(|| {
            "no group yet: /group new NAME founds one, /join INVITE joins one".into()
        })
    }

    /// The task `which` names (`#3`, `3`, an id prefix), else the selected one.
    fn task(&self, which: Option<&str>) -> Result<(GroupId, MessageId), String> {
        let g = self.group().ok_or("no group selected")?;
        let found = match which {
            None if self.view == View::Tasks => self.visible_tasks().get(self.task_sel).copied(),
            None => return Err("select a task on the board (F3) or give #N".into()),
            Some(w) => {
                let w = w.trim_start_matches('#');
                match w.parse::<usize>() {
                    Ok(n) => g.tasks.iter().find(|t| t.number == n),
                    Err(_) => unique(g.tasks.iter().filter(|t| hex(&t.id.0).starts_with(w))),
                }
            }
        };
        found.map(|t| (g.id, t.id)).ok_or_else(|| "no such task; F3 shows the board".into())
    }

    /// The member `which` names (a name or a key prefix), else the selected one.
    fn member(&self, which: Option<&str>) -> Result<PublicKey, String> {
        let g = self.group().ok_or("no group selected")?;
        let found = match which {
            None if self.view == View::Members => g.members.get(self.member_sel),
            None => return Err("select a member (F4) or name one".into()),
            // Your own entry is listed as "you"; "me" names it too.
            Some("me") => g.members.iter().find(|m| m.name == "you"),
            Some(w) => g.members.iter().find(|m| m.name == w).or_else(|| {
                unique(g.members.iter().filter(|m| w.len() >= 4 && hex(&m.key.0).starts_with(w)))
            }),
        };
        found
            .map(|m| m.key)
            .ok_or_else(|| format!("no member {:?}; F4 lists them", which.unwrap_or_default()))
    }

    fn close(&self, which: Option<&str>, close: bool) -> Result<Vec<Request>, String> {
        let (group, task) = self.task(which)?;
        Ok(vec![Request::Act(Action::CloseTask { group, task, close })])
    }

    /// Answers the join request with `code`, else the one in the popup.
    fn approve(&mut self, code: Option<String>, admit: bool) -> Result<Vec<Request>, String> {
        let code = match (code, &self.popup) {
            (Some(code), _) => code,
            (None, Some(Popup::JoinRequest { code, .. })) => code.clone(),
            (None, _) => return Err("no join request waiting; give the code".into()),
        };
        self.popup = None;
        Ok(vec![Request::Act(Action::Approve { code, admit })])
    }

    fn role(&self, member: &str, role: String, assign: bool) -> Result<Vec<Request>, String> {
        let group = self.group_id()?;
        let member = self.member(Some(member))?;
        Ok(vec![Request::Act(Action::Role { group, member, role, assign })])
    }
}

fn job(request: Request, typed: Option<String>) -> Job {
    Job { request, typed }
}

fn unique<T>(mut it: impl Iterator<Item = T>) -> Option<T> {
    let first = it.next()?;
    it.next().is_none().then_some(first)
}

fn column_order(c: Column) -> u8 {
    match c {
        Column::Unassigned => 0,
        Column::Assigned => 1,
        Column::Closed => 2,
    }
}

/// A warning's one-line summary and what it means for the user.
pub(crate) fn describe_warning(w: &SecurityWarning) -> (String, String) {
    match w {
        SecurityWarning::Withheld { relay, count, .. } => (
            format!("relay {relay} withheld {count} messages"),
            format!(
                "The relay {relay} did not deliver {count} messages that other relays or members \
                 did. It may be failing or hiding messages from you. Nothing was lost: they \
                 arrived another way. If it keeps happening, replace the relay (/relay in the CLI)."
            ),
        ),
        SecurityWarning::Equivocation { author, .. } => (
            format!(
                "{} signed two different messages at one place",
                cairn_proto::hex::short(&author.0, 8)
            ),
            "This member's key signed two different histories: it may be stolen, or the member \
             is showing different members different things. Their messages after the fork are \
             ignored. Talk to them over another channel and consider removing them."
                .into(),
        ),
        SecurityWarning::Rejected { id, reason, .. } => (
            format!("message {} refused: {reason}", cairn_proto::hex::short(&id.0, 8)),
            format!(
                "A message broke the group's rules ({reason}) and was refused. It is kept as \
                 evidence. One such message may be a race (e.g. sent just before a removal); \
                 many point at someone testing the rules."
            ),
        ),
        SecurityWarning::Gap { author, from, to, .. } => (
            format!("messages {from}..{to} of {} missing", cairn_proto::hex::short(&author.0, 8)),
            "Some of this member's messages have not arrived. A relay or peer may be holding \
             them back; cairn keeps asking other members and relays."
                .into(),
        ),
        SecurityWarning::RestoredUnconfirmed => (
            "restored identity: not signing yet".into(),
            "This identity was restored from its recovery string. It does not sign until its \
             own latest messages are back from two sources (or you type /confirm), so that it \
             cannot fork its own history."
                .into(),
        ),
        other => (format!("{other:?}"), format!("{other:?}")),
    }
}

#[cfg(test)]
mod test;
