//! Role-sealed content: the content layer of a task or message, encrypted
//! under a fresh content key that is wrapped for each reading role
//! (`protocol-spec/keys.md`, "Sealed content").
//!
//! ```text
//! wrap key   = BLAKE3-derive_key(ROLE_WRAP_KEY, R(role, wrap epoch))
//! sealed_key = XChaCha20-Poly1305(wrap key, content key,
//!              "cairn sealed content key wrap v1\0" ‖ group ‖ binding ‖ wrap epoch ‖
//!              u64le(len(role)) ‖ role)
//! ciphertext = XChaCha20-Poly1305(content key, plaintext,
//!              "cairn sealed content v1\0" ‖ group ‖ binding ‖ epoch)
//! ```

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{KeyRing, RoleKey, SealError, check_role, put_str};
use crate::crypto::{AeadKey, NONCE_LEN, TAG_LEN, context, derive_key};
use crate::wire::{DecodeError, EpochId, GroupId, MAX_MESSAGE_LEN, decode_canonical, encode};

/// The most role wraps one sealed content may carry.
pub const MAX_CONTENT_ROLES: usize = 32;
/// Length of every role wrap's `sealed_key`: nonce ‖ 32-byte key ‖ tag.
pub const ROLE_WRAP_LEN: usize = NONCE_LEN + 32 + TAG_LEN;
const WRAP_AD: &[u8] = b"cairn sealed content key wrap v1\0";
const CONTENT_AD: &[u8] = b"cairn sealed content v1\0";

crate::crypto::secret_bytes!(
    /// The content key of one sealed content (spec: "content key"): fresh and
    /// random for every sealed content; wrapped under role keys.
    ContentKey
);

/// The content key wrapped for one role, under that role's key in `epoch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleWrap {
    /// The role whose holders may read.
    pub role: String,
    /// The epoch of the role key the content key is wrapped under.
    pub epoch: EpochId,
    /// `nonce ‖ AEAD(wrap key, content key, associated data) ‖ tag`,
    /// [`ROLE_WRAP_LEN`] bytes.
    #[serde(with = "serde_bytes")]
    pub sealed_key: Vec<u8>,
}

/// Content readable by the holders of some roles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedContent {
    /// The epoch the content was sealed in.
    pub epoch: EpochId,
    /// The content key wrapped per role, strictly ascending by (role, epoch).
    pub wraps: Vec<RoleWrap>,
    /// `nonce ‖ AEAD(content key, plaintext, associated data) ‖ tag`.
    #[serde(with = "serde_bytes")]
    pub ciphertext: Vec<u8>,
}

fn wrap_key(key: &RoleKey) -> AeadKey {
    AeadKey::from_bytes(*derive_key(context::ROLE_WRAP_KEY, key.as_bytes()))
}

fn wrap_ad(group: &GroupId, binding: &[u8; 32], epoch: &EpochId, role: &str) -> Vec<u8> {
    let mut ad = [WRAP_AD, &group.0, binding, &epoch.0].concat();
    put_str(&mut ad, role);
    ad
}

fn content_ad(group: &GroupId, binding: &[u8; 32], epoch: &EpochId) -> Vec<u8> {
    [CONTENT_AD, &group.0, binding, &epoch.0].concat()
}

impl ContentKey {
    /// Wraps this content key for `role` under its key in `epoch`.
    pub fn wrap_for(
        &self,
        rng: &mut (impl CryptoRng + ?Sized),
        group: &GroupId,
        binding: &[u8; 32],
        role: &str,
        epoch: EpochId,
        key: &RoleKey,
    ) -> Result<RoleWrap, SealError> {
        check_role(role).map_err(SealError::BadRole)?;
        let sealed_key = wrap_key(key).seal(rng, &self.0, &wrap_ad(group, binding, &epoch, role));
        Ok(RoleWrap { role: role.to_owned(), epoch, sealed_key })
    }

    /// Unwraps the content key from `wrap` with the role key of its epoch.
    fn unwrap(
        group: &GroupId,
        binding: &[u8; 32],
        wrap: &RoleWrap,
        key: &RoleKey,
    ) -> Result<ContentKey, SealError> {
        let ad = wrap_ad(group, binding, &wrap.epoch, &wrap.role);
        let plain = Zeroizing::new(
            wrap_key(key).open(&wrap.sealed_key, &ad).map_err(|_| SealError::DoesNotOpen)?,
        );
        let mut bytes = ContentKey::from_bytes([0; 32]);
        if plain.len() != bytes.0.len() {
            return Err(SealError::DoesNotOpen);
        }
        bytes.0.copy_from_slice(&plain);
        Ok(bytes)
    }

    /// Decrypts `sealed` with this content key.
    pub fn open(
        &self,
        sealed: &SealedContent,
        group: &GroupId,
        binding: &[u8; 32],
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let ad = content_ad(group, binding, &sealed.epoch);
        AeadKey::from_bytes(self.0)
            .open(&sealed.ciphertext, &ad)
            .map(Zeroizing::new)
            .map_err(|_| SealError::DoesNotOpen)
    }
}

impl SealedContent {
    /// Seals `plaintext` under a fresh content key wrapped for each of
    /// `roles` (role name and its key in `epoch`), bound to `group`,
    /// `binding` and `epoch`.
    pub fn seal(
        rng: &mut (impl CryptoRng + ?Sized),
        group: &GroupId,
        binding: &[u8; 32],
        epoch: EpochId,
        plaintext: &[u8],
        roles: &[(&str, &RoleKey)],
    ) -> Result<SealedContent, SealError> {
        if roles.is_empty() {
            return Err(SealError::NoRoles);
        }
        if roles.len() > MAX_CONTENT_ROLES {
            return Err(SealError::TooManyWraps);
        }
        let content_key = ContentKey::random(rng);
        let ciphertext = AeadKey::from_bytes(content_key.0).seal(
            rng,
            plaintext,
            &content_ad(group, binding, &epoch),
        );
        let mut sealed =
            SealedContent { epoch, wraps: Vec::with_capacity(roles.len()), ciphertext };
        for (role, key) in roles {
            let wrap = content_key.wrap_for(rng, group, binding, role, epoch, key)?;
            sealed.add_role_wrap(wrap)?;
        }
        Ok(sealed)
    }

    /// Context-free shape rules: 1 to [`MAX_CONTENT_ROLES`] wraps, valid role
    /// names, strictly ascending by (role, epoch), every `sealed_key`
    /// [`ROLE_WRAP_LEN`] bytes, a ciphertext of at least nonce and tag.
    pub fn check_shape(&self) -> Result<(), &'static str> {
        if self.wraps.is_empty() {
            return Err("no role wraps");
        }
        if self.wraps.len() > MAX_CONTENT_ROLES {
            return Err("too many role wraps");
        }
        for w in &self.wraps {
            check_role(&w.role)?;
            if w.sealed_key.len() != ROLE_WRAP_LEN {
                return Err("role wrap of the wrong length");
            }
        }
        if self.wraps.windows(2).any(|w| (&w[0].role, w[0].epoch) >= (&w[1].role, w[1].epoch)) {
            return Err("role wraps not strictly ascending");
        }
        if self.ciphertext.len() < NONCE_LEN + TAG_LEN {
            return Err("ciphertext too short");
        }
        Ok(())
    }

    /// The roles (and epochs) the content key is wrapped for.
    pub fn roles(&self) -> impl Iterator<Item = (&str, &EpochId)> {
        self.wraps.iter().map(|w| (w.role.as_str(), &w.epoch))
    }

    /// Adds a wrap (for example one made by [`SealedContent::rewrap_for`]),
    /// keeping the order; refuses a second wrap for the same role and epoch.
    pub fn add_role_wrap(&mut self, wrap: RoleWrap) -> Result<(), SealError> {
        check_role(&wrap.role).map_err(SealError::BadRole)?;
        if self.wraps.len() >= MAX_CONTENT_ROLES {
            return Err(SealError::TooManyWraps);
        }
        match self.wraps.binary_search_by(|w| (&w.role, w.epoch).cmp(&(&wrap.role, wrap.epoch))) {
            Ok(_) => Err(SealError::DuplicateRole),
            Err(at) => {
                self.wraps.insert(at, wrap);
                Ok(())
            }
        }
    }

    /// The content key, unwrapped with `key`, the key of `role` (in the epoch
    /// of one of the role's wraps: each is tried).
    pub fn content_key(
        &self,
        group: &GroupId,
        binding: &[u8; 32],
        role: &str,
        key: &RoleKey,
    ) -> Result<ContentKey, SealError> {
        let mut found = false;
        for wrap in self.wraps.iter().filter(|w| w.role == role) {
            found = true;
            if let Ok(k) = ContentKey::unwrap(group, binding, wrap, key) {
                return Ok(k);
            }
        }
        Err(if found { SealError::DoesNotOpen } else { SealError::NoWrapForRole })
    }

    /// Decrypts the content as a holder of `role` with its key `key`.
    pub fn open(
        &self,
        group: &GroupId,
        binding: &[u8; 32],
        role: &str,
        key: &RoleKey,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        self.content_key(group, binding, role, key)?.open(self, group, binding)
    }

    /// Decrypts the content with a wrap carried elsewhere (a re-wrap posted
    /// later for a new role or holder) and the role key of its epoch.
    pub fn open_wrap(
        &self,
        group: &GroupId,
        binding: &[u8; 32],
        wrap: &RoleWrap,
        key: &RoleKey,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        ContentKey::unwrap(group, binding, wrap, key)?.open(self, group, binding)
    }

    /// Decrypts the content with any role key of `ring` that one of the
    /// wraps names (role and epoch).
    pub fn open_with(
        &self,
        group: &GroupId,
        binding: &[u8; 32],
        ring: &KeyRing,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let mut found = false;
        for wrap in &self.wraps {
            let Some(key) = ring.role_key(&wrap.role, &wrap.epoch) else { continue };
            found = true;
            if let Ok(plain) = self.open_wrap(group, binding, wrap, key) {
                return Ok(plain);
            }
        }
        Err(if found { SealError::DoesNotOpen } else { SealError::NoWrapForRole })
    }

    /// Re-wraps the content key for a newly assigned role or holder: opens it
    /// with `from` (a role this member holds and its key) and wraps it for
    /// `to` (role, the epoch of its key, the key).
    pub fn rewrap_for(
        &self,
        rng: &mut (impl CryptoRng + ?Sized),
        group: &GroupId,
        binding: &[u8; 32],
        from: (&str, &RoleKey),
        to: (&str, EpochId, &RoleKey),
    ) -> Result<RoleWrap, SealError> {
        let content_key = self.content_key(group, binding, from.0, from.1)?;
        // Refuse to hand out a key that does not open the content.
        content_key.open(self, group, binding)?;
        content_key.wrap_for(rng, group, binding, to.0, to.1, to.2)
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes canonical sealed content of at most [`MAX_MESSAGE_LEN`] bytes
    /// and checks its shape.
    pub fn decode(bytes: &[u8]) -> Result<SealedContent, DecodeError> {
        let sealed: SealedContent = decode_canonical(bytes, MAX_MESSAGE_LEN)?;
        sealed.check_shape().map_err(|e| DecodeError::Malformed(e.into()))?;
        Ok(sealed)
    }
}
