//! Message bodies: what a message does.
//!
//! postcard encodes the variant as a varint index in declaration order, so
//! the order below is part of the wire format (`protocol-spec/wire.md`).
//! Further bodies (tasks, roles, membership, rekeys, key packages,
//! role-sealed payloads) are appended by the group state machine; an index
//! this software does not know is a decoding error.

use serde::{Deserialize, Serialize};

use super::MessageId;

/// The longest group name, in bytes.
pub const MAX_NAME_LEN: usize = 128;
/// The longest chat text, in bytes.
pub const MAX_CHAT_LEN: usize = 16 * 1024;

/// What a message does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// Index 0: the first message of a group.
    Genesis(Genesis),
    /// Index 1: a chat line.
    Chat(Chat),
}

/// The first message of a group: its name and its rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    /// Human-readable group name (at most [`MAX_NAME_LEN`] bytes).
    pub name: String,
    /// The encoded rules (roles and powers); interpreted by the group state
    /// machine.
    #[serde(with = "serde_bytes")]
    pub rules: Vec<u8>,
}

/// A chat line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chat {
    /// The text (at most [`MAX_CHAT_LEN`] bytes).
    pub text: String,
    /// The message this one answers, if any.
    pub reply_to: Option<MessageId>,
}

impl Body {
    /// Checks limits that the encoding alone does not express; `Err` names
    /// the field.
    pub fn check_limits(&self) -> Result<(), &'static str> {
        match self {
            Body::Genesis(g) if g.name.len() > MAX_NAME_LEN => Err("genesis name too long"),
            Body::Chat(c) if c.text.len() > MAX_CHAT_LEN => Err("chat text too long"),
            _ => Ok(()),
        }
    }
}
