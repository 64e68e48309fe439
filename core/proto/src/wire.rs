//! Wire formats: the outer envelope a relay sees and the inner signed message
//! members read.
//!
//! * [`Envelope`]: exactly [`ENVELOPE_LEN`] bytes: version, mailbox write
//!   public key, an AEAD-sealed fragment, and the mailbox write signature.
//! * [`Fragment`]: the plaintext inside one envelope: a piece of one message.
//! * [`SignedMessage`]: the inner message, encoded with postcard,
//!   canonical, size-limited, signed over a domain-separated encoding.
//!
//! Every decoder checks the length before it allocates, rejects trailing
//! bytes, unknown versions and non-canonical encodings, and tells an
//! incomplete input from an invalid one. See `protocol-spec/wire.md`.

mod body;
mod codec;
mod envelope;
mod fragment;
mod message;

pub use body::{
    Body, Chat, Contact, EpochRewrap, Genesis, Invitation, InviteId, JoinDeclined, JoinPending,
    KeyRequest, MAX_CHAT_LEN, MAX_MEMBER_LIST, MAX_MEMBER_NAME_LEN, MAX_NAME_LEN, MAX_RELAY_LEN,
    MAX_RELAYS, MAX_ROLE_LEN, MAX_ROLE_LIST, MAX_RULES_BYTES, MAX_SEALED_LEN, MemberAdd,
    MemberRemove, Name, RelayListChange, RoleAssign, RoleRevoke, RuleChange, Sealed, TaskAssign,
    TaskComment, TaskCreate, TaskEdit, TaskRef, forbidden_in_name,
};
pub use codec::{DecodeError, decode_canonical, encode};
pub use envelope::{
    ENVELOPE_LEN, ENVELOPE_PREFIX, EPOCH_SECRET_LEN, Envelope, EnvelopeError, EpochKeys, MailboxId,
    SEALED_PAYLOAD_LEN,
};
pub use fragment::{
    FRAGMENT_DATA_LEN, Fragment, FragmentError, MAX_FRAGMENTS, MAX_PENDING_MESSAGES, Reassembler,
    fragment_message,
};
pub use message::{
    EpochId, GroupId, MAX_MESSAGE_LEN, MAX_PARENTS, MESSAGE_PREFIX, MESSAGE_VERSION, MessageId,
    SignedMessage, UnsignedMessage, message_id,
};

/// Splits a signed message into envelopes sealed for one epoch.
///
/// Every envelope is exactly [`ENVELOPE_LEN`] bytes; a relay cannot tell a
/// chat line from a rekey except by how many envelopes arrive together.
pub fn seal_message(
    rng: &mut (impl rand_core::CryptoRng + ?Sized),
    keys: &EpochKeys,
    message: &SignedMessage,
) -> Result<Vec<Envelope>, FragmentError> {
    let bytes = message.encode();
    let fragments = fragment_message(rng, &bytes)?;
    Ok(fragments.iter().map(|f| Envelope::seal(rng, keys, f)).collect())
}

#[cfg(test)]
mod proptests;
