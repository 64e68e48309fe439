//! What the screen shows, copied out of the node: plain data, so that the
//! views render (and are tested) without a node, and the UI thread never
//! holds the node's locks.

use std::collections::BTreeMap;

use cairn_net::node::Node;
use cairn_net::proto::crypto::PublicKey;
use cairn_net::proto::group::GroupState;
#[cfg(test)]
use cairn_net::proto::replica::Replica;
use cairn_net::proto::wire::{GroupId, MessageId};

use crate::text;

mod history;
mod live;

pub(crate) use live::Live;

/// How many chat-pane lines a snapshot carries at first: several screens.
/// The user asks for more by scrolling past the top ([`CHAT_PAGE`] each).
pub(crate) const CHAT_WINDOW: usize = 500;
/// How many more lines each scroll past the top brings.
pub(crate) const CHAT_PAGE: usize = 500;

/// Everything the screen shows at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// The groups of this profile, by name.
    pub groups: Vec<(GroupId, String)>,
    /// The selected group, if any.
    pub group: Option<GroupView>,
    /// Outbox items not yet on every relay.
    pub outbox: usize,
    /// A restored identity that does not sign yet.
    pub restored_unconfirmed: bool,
}

/// One group, as this member can read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupView {
    pub id: GroupId,
    pub name: String,
    /// The roles this member holds (empty: not, or no longer, a member).
    pub my_roles: Vec<String>,
    /// The last chat-pane lines (the window the screen may show).
    pub chat: Vec<ChatLine>,
    /// How many lines come before the window (not copied out).
    pub chat_earlier: usize,
    /// Tasks in creation order; `number` is the position in that order.
    pub tasks: Vec<TaskRow>,
    pub members: Vec<MemberRow>,
    pub relays: Vec<String>,
    /// The current epoch (short hex), which changes on every rekey.
    pub epoch: String,
    /// This member holds no key of the current epoch and has asked the
    /// others for it (`keys.md`, "Stranded members").
    pub stranded: bool,
}

/// A chat line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChatLine {
    pub id: MessageId,
    pub author: String,
    pub text: String,
    /// The start of the line it replies to, with its author.
    pub reply_to: Option<String>,
    /// Not chat: what happened to the group ("removed carol; …").
    pub event: bool,
}

/// A task with its thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskRow {
    pub id: MessageId,
    pub number: usize,
    /// `None`: sealed to roles this member does not hold.
    pub title: Option<String>,
    pub description: String,
    pub labels: Vec<String>,
    pub open: bool,
    pub assignees: Vec<String>,
    /// Whether this member is among the assignees.
    pub mine: bool,
    pub readable_by: Vec<String>,
    /// Comments: author and text (`None`: sealed).
    pub comments: Vec<(String, Option<String>)>,
}

impl TaskRow {
    /// Where the board shows it.
    pub(crate) fn column(&self) -> Column {
        match (self.open, self.assignees.is_empty()) {
            (false, _) => Column::Closed,
            (true, true) => Column::Unassigned,
            (true, false) => Column::Assigned,
        }
    }
}

/// The task board's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Unassigned,
    Assigned,
    Closed,
}

/// A member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberRow {
    pub key: PublicKey,
    /// A name this session learned (from a join request), else the key's
    /// first hex digits.
    pub name: String,
    pub roles: Vec<String>,
    pub me: bool,
    /// Has published its onion service key (reachable directly).
    pub reachable: bool,
}

/// Names learned in this session for keys that have not (yet) named
/// themselves in the group (the name a joiner gave its inviter).
pub(crate) type Names = BTreeMap<PublicKey, String>;

/// A member's display name.
pub(crate) fn display_name(key: &PublicKey, me: &PublicKey, names: &Names) -> String {
    if key == me {
        return "you".into();
    }
    names.get(key).map_or_else(|| cairn_proto::hex::short(&key.0, 8), |n| text::line(n))
}

/// The names to show for a group's members, present and former: the name
/// each chose in the group (`Name`), else one learned this session, else
/// the start of the key. A name is self-chosen and proves nothing, so where
/// two would look alike (each other, "you", or a key's start) the chosen
/// ones get the start of their key added: nobody passes for someone else.
fn group_names(state: &GroupState, me: &PublicKey, session: &Names) -> Names {
    let chosen = state.members.iter().map(|(k, m)| (*k, m.name.as_deref()));
    let chosen = chosen.chain(state.former.iter().map(|(k, f)| (*k, f.name.as_deref())));
    names_for(&chosen.collect::<Vec<_>>(), me, session)
}

/// [`group_names`] for `people` (each key with the name it chose).
fn names_for(people: &[(PublicKey, Option<&str>)], me: &PublicKey, session: &Names) -> Names {
    let mut names: Names = people
        .iter()
        .filter_map(|(k, n)| {
            n.or_else(|| session.get(k).map(String::as_str)).map(|n| (*k, text::line(n)))
        })
        .collect();
    let shown: Vec<String> = people.iter().map(|(k, _)| display_name(k, me, &names)).collect();
    let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
    for (key, name) in &mut names {
        let alike = shown.iter().filter(|s| same(s, name)).count();
        if key != me && (alike > 1 || same(name, "you")) {
            *name = format!("{name}~{}", cairn_proto::hex::short(&key.0, 4));
        }
    }
    names
}

/// Copies what the screen needs out of `node`, patching `live` (the kept
/// view of the selected group) and showing its last `window` chat lines;
/// `outbox` is the count the backend keeps.
pub(crate) fn take(
    node: &Node,
    selected: Option<GroupId>,
    names: &Names,
    live: &mut Live,
    window: usize,
    outbox: usize,
) -> Snapshot {
    let groups: Vec<(GroupId, String)> =
        node.groups().into_iter().map(|(g, name)| (g, group_label(node, &g, &name))).collect();
    let selected = selected.filter(|s| groups.iter().any(|(g, _)| g == s));
    let group = selected
        .or_else(|| groups.first().map(|(g, _)| *g))
        .and_then(|g| node.with_replica(&g, |r| live.view(r, names, window)).ok().flatten());
    Snapshot { groups, group, outbox, restored_unconfirmed: node.is_restored_unconfirmed() }
}

/// A group's name as the group list shows it: marked when this member
/// left it (its history is read-only).
fn group_label(node: &Node, group: &GroupId, name: &str) -> String {
    let name = text::line(name);
    if node.has_left(group) { format!("{name} (left)") } else { name }
}

/// "author: first words…" of a quoted line's `text`.
fn quoted(text: &str, author: Option<String>) -> String {
    let short: String = text.chars().take(30).collect();
    let more = if short.len() < text.len() { "…" } else { "" };
    format!("{}: {short}{more}", author.unwrap_or_else(|| "?".into()))
}

/// The view of `r`'s group computed from the whole timeline, the simple
/// way: the oracle the incremental [`Live`] must equal.
#[cfg(test)]
fn group_view_full(r: &Replica, names: &Names, window: usize) -> Option<GroupView> {
    let mut view = group_view(r, names)?;
    view.chat_earlier = view.chat.len().saturating_sub(window);
    view.chat.drain(..view.chat_earlier);
    Some(view)
}

#[cfg(test)]
fn group_view(r: &Replica, names: &Names) -> Option<GroupView> {
    let state = r.state()?;
    let me = *r.me();
    let names = group_names(state, &me, names);
    let name_of = |k: &PublicKey| display_name(k, &me, &names);
    let author_of = |id: &MessageId| r.chain().entry(id).map(|e| name_of(&e.author()));
    let chat = history::lines(r, &name_of, &author_of);
    let mut tasks: Vec<(u64, MessageId)> = state
        .tasks
        .keys()
        .map(|id| (r.chain().entry(id).map_or(u64::MAX, |e| e.message().lamport), *id))
        .collect();
    tasks.sort();
    let tasks = tasks
        .iter()
        .enumerate()
        .map(|(i, (_, id))| task_row(r, state, id, i + 1, &name_of, &author_of))
        .collect();
    let members = state
        .members
        .iter()
        .map(|(k, m)| MemberRow {
            key: *k,
            name: name_of(k),
            roles: m.roles.iter().map(|r| text::line(r)).collect(),
            me: *k == me,
            reachable: m.onion.is_some(),
        })
        .collect();
    let my_roles = state.members.get(&me).map(|m| m.roles.iter().map(|r| text::line(r)).collect());
    Some(GroupView {
        id: state.group,
        name: text::line(&state.name),
        my_roles: my_roles.unwrap_or_default(),
        chat,
        chat_earlier: 0,
        tasks,
        members,
        relays: state.relays.iter().map(|r| text::line(r)).collect(),
        epoch: cairn_proto::hex::short(&state.epoch.id.0, 8),
        stranded: r.keys().stranded(state).is_some(),
    })
}

#[cfg(test)]
fn task_row(
    r: &Replica,
    state: &cairn_net::proto::group::GroupState,
    id: &MessageId,
    number: usize,
    name_of: &impl Fn(&PublicKey) -> String,
    author_of: &impl Fn(&MessageId) -> Option<String>,
) -> TaskRow {
    let t = &state.tasks[id];
    let content = r.task_content(id).ok();
    let comments = r
        .fold()
        .thread(id)
        .iter()
        .map(|c| {
            (author_of(c).unwrap_or_default(), r.comment_text(c).ok().map(|t| text::lines(&t)))
        })
        .collect();
    TaskRow {
        id: *id,
        number,
        title: content.as_ref().map(|c| text::line(&c.title)),
        description: content.as_ref().map(|c| text::lines(&c.description)).unwrap_or_default(),
        labels: content
            .map(|c| c.labels.iter().map(|l| text::line(l)).collect())
            .unwrap_or_default(),
        open: t.open,
        assignees: t.assignees.iter().map(name_of).collect(),
        mine: t.assignees.contains(r.me()),
        readable_by: t.readable_by.iter().map(|r| text::line(r)).collect(),
        comments,
    }
}

/// "author: first words…" of the chat line `id`.
#[cfg(test)]
fn quote(r: &Replica, id: &MessageId, author_of: &impl Fn(&MessageId) -> Option<String>) -> String {
    let text = r
        .fold()
        .chat()
        .iter()
        .find(|(c, _, _)| c == id)
        .map(|(_, _, c)| text::line(&c.text))
        .unwrap_or_else(|| "(a message not held here)".into());
    quoted(&text, author_of(id))
}

/// A group as a test sees it: "bastion" with you (organizer) and bob,
/// three chat lines (one a reply), and one task per board column.
#[cfg(test)]
pub(crate) fn sample() -> Snapshot {
    let me = PublicKey([1; 32]);
    let bob = PublicKey([2; 32]);
    let id = |b: u8| MessageId([b; 32]);
    let chat = |b: u8, author: &str, text: &str, reply_to: Option<&str>| ChatLine {
        id: id(b),
        author: author.into(),
        text: text.into(),
        reply_to: reply_to.map(Into::into),
        event: false,
    };
    let task = |b: u8, number: usize, title: &str, open: bool, assignees: &[&str]| TaskRow {
        id: id(b),
        number,
        title: Some(title.into()),
        description: String::new(),
        labels: vec![],
        open,
        assignees: assignees.iter().map(|s| (*s).to_owned()).collect(),
        mine: assignees.contains(&"you"),
        readable_by: vec!["organizer".into(), "member".into()],
        comments: vec![],
    };
    let mut assigned = task(11, 2, "rotate the signing key", true, &["bob"]);
    assigned.comments = vec![("bob".into(), Some("on it".into())), ("you".into(), None)];
    let group = GroupView {
        id: GroupId([9; 32]),
        name: "bastion".into(),
        my_roles: vec!["organizer".into()],
        chat: vec![
            ChatLine { event: true, ..chat(4, "you", "admitted bob (member)", None) },
            chat(1, "you", "hello bob", None),
            chat(2, "bob", "hi! ready when you are", None),
            chat(3, "you", "then let us start", Some("bob: hi! ready when you are")),
        ],
        chat_earlier: 0,
        tasks: vec![
            task(10, 1, "buy a shovel", true, &[]),
            assigned,
            task(12, 3, "map the trail", false, &["you"]),
        ],
        members: vec![
            MemberRow {
                key: me,
                name: "you".into(),
                roles: vec!["organizer".into()],
                me: true,
                reachable: true,
            },
            MemberRow {
                key: bob,
                name: "bob".into(),
                roles: vec!["member".into()],
                me: false,
                reachable: true,
            },
        ],
        relays: vec!["relay.onion:443".into()],
        epoch: "0a1b2c3d".into(),
        stranded: false,
    };
    Snapshot {
        groups: vec![(GroupId([9; 32]), "bastion".into()), (GroupId([8; 32]), "garden".into())],
        group: Some(group),
        outbox: 0,
        restored_unconfirmed: false,
    }
}

#[cfg(test)]
mod test {
    use cairn_net::proto::crypto::XofRng;
    use cairn_net::proto::group::{TaskContent, templates};
    use cairn_net::proto::identity::{Identity, MasterSeed};
    use cairn_net::proto::wire::{Body, Chat, Name, RoleAssign};

    use super::*;

    const NOW: u64 = 1_800_000_000;
    const HOSTILE: &str = "\x1b]0;owned\x07\x1b[2J\u{202E}fake\nline";

    #[test]
    fn chosen_names_show_and_look_alikes_get_their_key_added() {
        let (me, a, b, c, d) = (
            PublicKey([1; 32]),
            PublicKey([2; 32]),
            PublicKey([3; 32]),
            PublicKey([4; 32]),
            PublicKey([5; 32]),
        );
        let fallback_of_d = cairn_proto::hex::short(&d.0, 8);
        let people = [
            (me, Some("alice")),
            (a, Some("bob")),
            (b, Some("Bob ")),
            (c, Some(fallback_of_d.as_str())),
            (d, None),
        ];
        let names = names_for(&people, &me, &Names::new());
        let show = |k: &PublicKey| display_name(k, &me, &names);
        assert_eq!(show(&me), "you");
        assert_eq!(show(&a), format!("bob~{}", cairn_proto::hex::short(&a.0, 4)));
        assert_eq!(show(&b), format!("Bob ~{}", cairn_proto::hex::short(&b.0, 4)));
        assert_eq!(show(&c), format!("{fallback_of_d}~{}", cairn_proto::hex::short(&c.0, 4)));
        assert_eq!(show(&d), fallback_of_d);
        let you = names_for(&[(me, None), (a, Some("You"))], &me, &Names::new());
        assert_eq!(
            display_name(&a, &me, &you),
            format!("You~{}", cairn_proto::hex::short(&a.0, 4))
        );
        // A name learned this session stands in until the member names itself.
        let session = Names::from([(d, "dora".to_owned())]);
        let names = names_for(&[(me, None), (d, None)], &me, &session);
        assert_eq!(display_name(&d, &me, &names), "dora");
    }

    #[test]
    fn the_chat_pane_shows_what_happened_to_the_group_between_chat_lines() {
        let mut rng = XofRng::from_seed(b"history tests");
        let me = Identity::from_seed(MasterSeed::random(&mut rng));
        let rules = templates::organizer_member_observer();
        let (mut r, _) = Replica::found(&mut rng, &me, "bastion", &rules, NOW).expect("group");
        let mut write = |body: Body| r.write(&mut rng, me.signing_key(), body, NOW).expect("write");
        write(Body::Name(Name { name: "ana".into() }));
        write(Body::Chat(Chat { text: "hello".into(), reply_to: None }));
        let member = me.public_key();
        write(Body::RoleAssign(RoleAssign { member, role: "member".into() }));
        write(Body::Name(Name { name: "ana b".into() }));
        let view = group_view(&r, &Names::new()).expect("view");
        let shown: Vec<(bool, &str)> =
            view.chat.iter().map(|c| (c.event, c.text.as_str())).collect();
        assert_eq!(
            shown,
            [
                (false, "hello"),
                (true, "took the role member"),
                (true, "now goes by \"ana b\" (was \"ana\")"),
            ]
        );
    }

    #[test]
    fn text_from_members_reaches_the_snapshot_without_terminal_controls() {
        let mut rng = XofRng::from_seed(b"snapshot tests");
        let me = Identity::from_seed(MasterSeed::random(&mut rng));
        let rules = templates::organizer_member_observer();
        let (mut r, _) = Replica::found(&mut rng, &me, HOSTILE, &rules, NOW).expect("group");
        let said = Body::Chat(Chat { text: HOSTILE.into(), reply_to: None });
        r.write(&mut rng, me.signing_key(), said, NOW).expect("chat");
        let content = TaskContent {
            title: HOSTILE.into(),
            description: HOSTILE.into(),
            labels: vec![HOSTILE.into()],
            due_minute: None,
        };
        let readers = vec!["organizer".to_owned()];
        let task = r.task_create_body(&mut rng, &content, readers, vec![], NOW).expect("task");
        r.write(&mut rng, me.signing_key(), task, NOW).expect("task");
        let names = Names::from([(PublicKey([9; 32]), HOSTILE.to_owned())]);
        let view = group_view(&r, &names).expect("view");
        let t = &view.tasks[0];
        let mut shown = vec![view.name.clone(), view.chat[0].text.clone()];
        shown.extend([t.title.clone().expect("readable"), t.labels[0].clone()]);
        shown.push(display_name(&PublicKey([9; 32]), r.me(), &names));
        for s in &shown {
            assert!(!s.chars().any(char::is_control), "{s:?}");
            assert!(s.contains("owned") && !s.contains('\u{202E}'), "{s:?}");
        }
        // A description keeps its line breaks, and nothing else.
        assert_eq!(t.description.lines().count(), 2);
        assert!(!t.description.chars().any(|c| c.is_control() && c != '\n'));
    }
}
