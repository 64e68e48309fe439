//! The incremental snapshot (issue 14): what the screen shows of one group,
//! kept between node events and patched from where the fold changed
//! (`Replica::changed_since`), so that taking in N messages costs the
//! client O(N), not O(N²), and a frame never holds more than the chat
//! window.
//!
//! What is kept: the position of every applied message that shows as a
//! chat-pane line, the renames by author, each task's thread, and what was
//! decrypted (task content, comment text). A patch drops what lies at or
//! after the earliest changed position and re-reads the fold from there;
//! everything before it is as it was. Task rows are rebuilt only for the
//! tasks the re-read messages name, unless something else changed (names,
//! members, keys, an earlier verdict), when every row is rebuilt from the
//! decrypted caches. A rebuild from nothing is the same patch from the
//! first position, so there is one way to compute a view.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use cairn_net::proto::crypto::PublicKey;
use cairn_net::proto::group::{GroupState, Position, TaskContent};
use cairn_net::proto::replica::{ChangeMark, Replica, Since};
use cairn_net::proto::wire::{Body, GroupId, MessageId};

use super::{ChatLine, GroupView, MemberRow, Names, TaskRow, display_name, group_names};
use crate::text;

/// The first position of any timeline.
const FIRST: Position = (0, MessageId([0; 32]));

/// How a kept message shows in the chat pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    Chat,
    /// A member's second or later name ("now goes by …").
    Rename,
    /// A group-layer event ("admitted bob", "rotated the group's keys").
    Event,
}

/// The kept view of one group.
#[derive(Debug, Default)]
pub(crate) struct Live {
    group: Option<GroupId>,
    mark: ChangeMark,
    /// The latest applied position read.
    seen: Option<Position>,
    lines: BTreeMap<Position, Shown>,
    /// Every `Name` message: by author and position, and by position.
    named: BTreeSet<(PublicKey, Position)>,
    named_at: BTreeMap<Position, PublicKey>,
    /// Applied comments by position (with their task), and each thread.
    comments: BTreeMap<Position, MessageId>,
    threads: HashMap<MessageId, BTreeSet<Position>>,
    /// Opened task content (by the message that carries it) and comments.
    content: HashMap<MessageId, TaskContent>,
    comment_text: HashMap<MessageId, String>,
    /// What did not open; tried again once keys may have changed.
    sealed: HashSet<MessageId>,
    /// Task rows by (lamport, id): the board's creation order.
    rows: BTreeMap<Position, TaskRow>,
    /// The names the rows were built with.
    names: Names,
}

/// What a re-read touched.
#[derive(Debug, Default)]
struct Touched {
    /// Tasks whose rows must be rebuilt.
    tasks: HashSet<MessageId>,
    /// Every row must be rebuilt (and sealed content tried again).
    all: bool,
}

impl Live {
    /// Brings the kept view up to `r` and returns the group's view with
    /// the last `window` chat-pane lines (`None`: no group state yet).
    pub(crate) fn view(
        &mut self,
        r: &Replica,
        session: &Names,
        window: usize,
    ) -> Option<GroupView> {
        if self.group != Some(r.group()) {
            *self = Self { group: Some(r.group()), ..Self::default() };
        }
        let (since, mark) = r.changed_since(self.mark);
        self.mark = mark;
        let touched = match since {
            Since::Nothing => Touched::default(),
            Since::From(p) => self.reread(r, p),
            Since::Everything => {
                *self = Self { group: Some(r.group()), mark, ..Self::default() };
                self.reread(r, FIRST)
            }
        };
        let state = r.state()?;
        let me = *r.me();
        let names = group_names(state, &me, session);
        let all = touched.all || names != self.names;
        self.names = names;
        if all {
            self.sealed.clear();
        }
        self.update_rows(r, state, &touched.tasks, all);
        Some(self.group_view(r, state, window))
    }

    /// Drops what lies at or after `from` and reads the fold from there.
    fn reread(&mut self, r: &Replica, from: Position) -> Touched {
        let mut touched = Touched {
            // An earlier verdict changed: what it took away is unknown.
            all: self.seen.is_some_and(|seen| from <= seen),
            ..Touched::default()
        };
        let _ = self.lines.split_off(&from);
        for (at, author) in self.named_at.split_off(&from) {
            self.named.remove(&(author, at));
        }
        for (at, task) in self.comments.split_off(&from) {
            if let Some(thread) = self.threads.get_mut(&task) {
                thread.remove(&at);
            }
        }
        for (id, m) in r.fold().timeline_from(from) {
            let at = (m.lamport, id);
            // Only ever grows: a later re-read at or before it may take
            // away something read here.
            self.seen = self.seen.max(Some(at));
            let shown = match &m.body {
                Body::Chat(_) => Some(Shown::Chat),
                Body::Name(_) => {
                    let earlier = self.named.range((m.author, FIRST)..(m.author, at)).next();
                    let renamed = earlier.is_some();
                    self.named.insert((m.author, at));
                    self.named_at.insert(at, m.author);
                    touched.all = true;
                    renamed.then_some(Shown::Rename)
                }
                Body::TaskComment(c) => {
                    self.comments.insert(at, c.task);
                    self.threads.entry(c.task).or_default().insert(at);
                    touched.tasks.insert(c.task);
                    None
                }
                Body::TaskCreate(_) => touched_task(&mut touched, id),
                Body::TaskEdit(e) => touched_task(&mut touched, e.task),
                Body::TaskAssign(a) => touched_task(&mut touched, a.task),
                Body::TaskClose(t) | Body::TaskReopen(t) => touched_task(&mut touched, t.task),
                body => {
                    // Members, roles, keys, rules: anything may have moved.
                    touched.all = true;
                    let shows = super::history::event(body, &m.author, &|_| String::new());
                    shows.is_some().then_some(Shown::Event)
                }
            };
            if let Some(shown) = shown {
                self.lines.insert(at, shown);
            }
        }
        touched
    }

    fn update_rows(
        &mut self,
        r: &Replica,
        state: &GroupState,
        tasks: &HashSet<MessageId>,
        all: bool,
    ) {
        let lamport =
            |id: &MessageId| r.chain().entry(id).map_or(u64::MAX, |e| e.message().lamport);
        if all || self.rows.len() != state.tasks.len() {
            self.rows.retain(|(_, id), _| state.tasks.contains_key(id));
        }
        let rebuild: Vec<MessageId> = if all {
            state.tasks.keys().copied().collect()
        } else {
            tasks.iter().filter(|t| state.tasks.contains_key(t)).copied().collect()
        };
        for id in rebuild {
            let row = self.task_row(r, state, &id);
            self.rows.insert((lamport(&id), id), row);
        }
        for (number, row) in self.rows.values_mut().enumerate() {
            row.number = number + 1;
        }
    }

    fn task_row(&mut self, r: &Replica, state: &GroupState, id: &MessageId) -> TaskRow {
        let t = &state.tasks[id];
        let me = *r.me();
        let content = self.open_content(r, id, t.content);
        let thread: Vec<MessageId> = self
            .threads
            .get(id)
            .map(|positions| positions.iter().map(|(_, c)| *c).collect())
            .unwrap_or_default();
        let comments = thread
            .iter()
            .map(|c| (self.author_of(r, c).unwrap_or_default(), self.open_comment(r, c)))
            .collect();
        let name_of = |k: &PublicKey| display_name(k, &me, &self.names);
        TaskRow {
            id: *id,
            number: 0,
            title: content.as_ref().map(|c| text::line(&c.title)),
            description: content.as_ref().map(|c| text::lines(&c.description)).unwrap_or_default(),
            labels: content
                .map(|c| c.labels.iter().map(|l| text::line(l)).collect())
                .unwrap_or_default(),
            open: t.open,
            assignees: t.assignees.iter().map(name_of).collect(),
            mine: t.assignees.contains(&me),
            readable_by: t.readable_by.iter().map(|r| text::line(r)).collect(),
            comments,
        }
    }

    /// A task's content, opened once per message that carries it.
    fn open_content(
        &mut self,
        r: &Replica,
        task: &MessageId,
        carrier: MessageId,
    ) -> Option<TaskContent> {
        if let Some(c) = self.content.get(&carrier) {
            return Some(c.clone());
        }
        if self.sealed.contains(&carrier) {
            return None;
        }
        match r.task_content(task) {
            Ok(c) => Some(self.content.entry(carrier).or_insert(c).clone()),
            Err(_) => {
                self.sealed.insert(carrier);
                None
            }
        }
    }

    /// A comment's text, opened once.
    fn open_comment(&mut self, r: &Replica, comment: &MessageId) -> Option<String> {
        if let Some(t) = self.comment_text.get(comment) {
            return Some(t.clone());
        }
        if self.sealed.contains(comment) {
            return None;
        }
        match r.comment_text(comment) {
            Ok(t) => Some(self.comment_text.entry(*comment).or_insert(text::lines(&t)).clone()),
            Err(_) => {
                self.sealed.insert(*comment);
                None
            }
        }
    }

    fn author_of(&self, r: &Replica, id: &MessageId) -> Option<String> {
        let author = r.chain().entry(id)?.author();
        Some(display_name(&author, r.me(), &self.names))
    }

    fn group_view(&self, r: &Replica, state: &GroupState, window: usize) -> GroupView {
        let me = *r.me();
        let name_of = |k: &PublicKey| display_name(k, &me, &self.names);
        let earlier = self.lines.len().saturating_sub(window);
        let chat = self.lines.iter().skip(earlier).filter_map(|(at, _)| self.line(r, at));
        let members = state.members.iter().map(|(k, m)| MemberRow {
            key: *k,
            name: name_of(k),
            roles: m.roles.iter().map(|r| text::line(r)).collect(),
            me: *k == me,
            reachable: m.onion.is_some(),
        });
        let my_roles = state.members.get(&me).map(|m| m.roles.iter().map(|r| text::line(r)));
        GroupView {
            id: state.group,
            name: text::line(&state.name),
            my_roles: my_roles.map(Iterator::collect).unwrap_or_default(),
            chat: chat.collect(),
            chat_earlier: earlier,
            tasks: self.rows.values().cloned().collect(),
            members: members.collect(),
            relays: state.relays.iter().map(|r| text::line(r)).collect(),
            epoch: cairn_proto::hex::short(&state.epoch.id.0, 8),
            stranded: r.keys().stranded(state).is_some(),
        }
    }

    /// The chat-pane line of the kept message at `at`.
    fn line(&self, r: &Replica, at: &Position) -> Option<ChatLine> {
        let id = at.1;
        let m = r.chain().entry(&id)?.message();
        let me = *r.me();
        let name_of = |k: &PublicKey| display_name(k, &me, &self.names);
        let line = |text: String, event: bool| ChatLine {
            id,
            author: name_of(&m.author),
            text,
            reply_to: None,
            event,
        };
        Some(match &m.body {
            Body::Chat(c) => ChatLine {
                reply_to: c.reply_to.map(|q| self.quote(r, &q)),
                ..line(text::line(&c.text), false)
            },
            Body::Name(n) => {
                let before = self.named.range((m.author, FIRST)..(m.author, *at)).next_back();
                let old = before.and_then(|(_, (_, was))| name_in(r, was)).unwrap_or_default();
                let (old, new) = (text::line(&old), text::line(&n.name));
                line(format!("now goes by {new:?} (was {old:?})"), true)
            }
            body => line(super::history::event(body, &m.author, &name_of)?, true),
        })
    }

    /// "author: first words…" of the chat line `id`.
    fn quote(&self, r: &Replica, id: &MessageId) -> String {
        let entry = r.chain().entry(id);
        let kept = entry.and_then(|e| {
            let at = (e.message().lamport, *id);
            match (&e.message().body, self.lines.get(&at)) {
                (Body::Chat(c), Some(Shown::Chat)) => Some(text::line(&c.text)),
                _ => None,
            }
        });
        let text = kept.unwrap_or_else(|| "(a message not held here)".into());
        super::quoted(&text, self.author_of(r, id))
    }
}

fn touched_task(touched: &mut Touched, task: MessageId) -> Option<Shown> {
    touched.tasks.insert(task);
    None
}

/// The name a `Name` message chose.
fn name_in(r: &Replica, id: &MessageId) -> Option<String> {
    match &r.chain().entry(id)?.message().body {
        Body::Name(n) => Some(n.name.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod test;
