//! The chat pane's lines: chat, and between them what happened to the
//! group (joins, removals, roles, key rotations, renames), in the order
//! every member folds them.

use cairn_net::proto::crypto::PublicKey;
#[cfg(test)]
use cairn_net::proto::replica::Replica;
use cairn_net::proto::wire::Body;
#[cfg(test)]
use cairn_net::proto::wire::MessageId;

#[cfg(test)]
use super::{ChatLine, quote};
use crate::text;

/// Every line of the chat pane of `r`'s group, read from the whole
/// timeline: what the incremental view ([`super::live`]) must equal.
#[cfg(test)]
pub(super) fn lines(
    r: &Replica,
    name_of: &impl Fn(&PublicKey) -> String,
    author_of: &impl Fn(&MessageId) -> Option<String>,
) -> Vec<ChatLine> {
    let mut named = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    for (id, m) in r.fold().timeline() {
        let author = name_of(&m.author);
        let line = |text: String, event: bool| ChatLine {
            id,
            author: author.clone(),
            text,
            reply_to: None,
            event,
        };
        match &m.body {
            Body::Chat(c) => out.push(ChatLine {
                reply_to: c.reply_to.map(|q| quote(r, &q, author_of)),
                ..line(text::line(&c.text), false)
            }),
            Body::Name(n) => {
                // The first name comes with the join; a change is news
                // (and how someone taking another's name shows).
                if let Some(old) = named.insert(m.author, n.name.clone()) {
                    let (old, new) = (text::line(&old), text::line(&n.name));
                    out.push(line(format!("now goes by {new:?} (was {old:?})"), true));
                }
            }
            body => {
                if let Some(what) = event(body, &m.author, name_of) {
                    out.push(line(what, true));
                }
            }
        }
    }
    out
}

/// What a group-layer message did, in words (`None`: not worth a line).
pub(super) fn event(
    body: &Body,
    author: &PublicKey,
    name_of: &impl Fn(&PublicKey) -> String,
) -> Option<String> {
    Some(match body {
        Body::MemberAdd(a) => {
            let roles = text::line(&a.roles.join(", "));
            let how = if a.invite.is_some() { " with an invitation" } else { "" };
            format!("admitted {} ({roles}){how}", name_of(&a.member))
        }
        Body::Invitation(_) => "shared an invitation with those who may answer it".into(),
        Body::KeyRequest(_) => "holds no key of the epoch and asked for it".into(),
        Body::JoinPending(_) => {
            "holds a join request open for those who may invite to answer".into()
        }
        Body::JoinDeclined(d) => format!("declined the join request of {}", name_of(&d.member)),
        Body::MemberRemove(r) => format!("removed {}; the keys rotated", name_of(&r.member)),
        Body::Leave => "left the group".into(),
        Body::RoleAssign(a) if a.member == *author => {
            format!("took the role {}", text::line(&a.role))
        }
        Body::RoleAssign(a) => {
            format!("gave {} the role {}", name_of(&a.member), text::line(&a.role))
        }
        Body::RoleRevoke(a) => {
            format!("took the role {} from {}", text::line(&a.role), name_of(&a.member))
        }
        Body::Rekey(_) => "rotated the group's keys".into(),
        Body::RuleChange(_) => "changed the group's rules".into(),
        Body::RelayListChange(l) => format!("changed the relays ({} now)", l.relays.len()),
        _ => return None,
    })
}
