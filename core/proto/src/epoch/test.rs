//! Tests of the epoch module: each would fail if the property it names were
//! false (`protocol-spec/keys.md`, "Guarantees and their tests").

use super::*;
use crate::crypto::{AeadKey, PublicKey, X25519Public, XofRng, context, derive_key, open_from};
use crate::wire::{DecodeError, EpochId, GroupId, MAX_MESSAGE_LEN, MessageId};

const G: GroupId = GroupId([1; 32]);
const E0: EpochId = EpochId([2; 32]);
const BINDING: [u8; 32] = [3; 32];

/// A member's key package, its id (owner key `[n; 32]`) and secret.
fn member(rng: &mut XofRng, n: u8) -> (KeyPackageId, KeyPackage, KeyPackageSecret) {
    let (kp, secret) = KeyPackage::generate(G, rng);
    (KeyPackageId::owned_by(&PublicKey([n; 32]), &kp), kp, secret)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---- epoch secrets and role keys ----

#[test]
fn epoch_keys_match_the_wire_derivation() {
    let secret = EpochSecret::from_bytes([9; 32]);
    let keys = secret.keys();
    let direct = crate::wire::EpochKeys::derive(&zeroize::Zeroizing::new([9; 32]));
    assert_eq!(keys.mailbox, direct.mailbox);
    assert_eq!(keys.group_key, direct.group_key);
    assert!(!format!("{secret:?}").contains("09"));
}

#[test]
fn role_ratchet_is_deterministic_and_separates_roles_epochs_and_keys() {
    let r = RoleKey::from_bytes([4; 32]);
    let e1 = EpochSecret::from_bytes([5; 32]);
    let e2 = EpochSecret::from_bytes([6; 32]);
    let a = r.ratchet(&e1, "admin");
    assert_eq!(a, r.ratchet(&e1, "admin"));
    assert_ne!(a, r.ratchet(&e1, "editor"));
    assert_ne!(a, r.ratchet(&e2, "admin"));
    assert_ne!(a, RoleKey::from_bytes([7; 32]).ratchet(&e1, "admin"));
    assert_ne!(a, r);
    // Known answer from the spec's encoding: R ‖ E ‖ u64le(len) ‖ role.
    let mut material = vec![4u8; 32];
    material.extend_from_slice(&[5; 32]);
    material.extend_from_slice(&5u64.to_le_bytes());
    material.extend_from_slice(b"admin");
    let expected = blake3::derive_key("cairn 2026 keys v1 role key ratchet", &material);
    assert_eq!(a.as_bytes(), &expected);
    // The length prefix keeps ("ab", …) and ("a", …) apart even when the
    // rest of the material is chosen to collide.
    assert_ne!(r.ratchet(&e1, "ab"), r.ratchet(&e1, "a"));
}

#[test]
fn context_strings_and_associated_data_prefixes_are_distinct() {
    let contexts = [
        context::ROLE_KEY_RATCHET,
        context::KEY_PACKAGE_ID,
        context::REKEY_CONFIRMATION,
        context::ROLE_GRANT_CONFIRMATION,
        context::ROLE_WRAP_KEY,
    ];
    let set: std::collections::BTreeSet<_> = contexts.iter().collect();
    assert_eq!(set.len(), contexts.len());
    // (The full list, old contexts included, is checked by
    // crypto::kdf::test::contexts_are_distinct.)
    let prefixes: [&[u8]; 4] = [
        b"cairn rekey wrap v1\0",
        b"cairn role key grant wrap v1\0",
        b"cairn sealed content key wrap v1\0",
        b"cairn sealed content v1\0",
    ];
    for (i, a) in prefixes.iter().enumerate() {
        for (j, b) in prefixes.iter().enumerate() {
            assert!(i == j || !b.starts_with(a), "prefix {i} is a prefix of {j}");
        }
    }
}

// ---- key packages ----

#[test]
fn key_package_round_trips_and_its_id_binds_the_owner() {
    let mut rng = XofRng::from_seed(b"kp");
    let (kp, secret) = KeyPackage::generate(G, &mut rng);
    assert_eq!(kp.validate(&G), Ok(()));
    assert_eq!(secret.public(), kp.x25519);
    let bytes = crate::wire::encode(&kp);
    assert_eq!(bytes.len(), 66);
    assert_eq!(crate::wire::decode_canonical::<KeyPackage>(&bytes, 66), Ok(kp.clone()));
    let a = KeyPackageId::owned_by(&PublicKey([1; 32]), &kp);
    assert_eq!(a, KeyPackageId::owned_by(&PublicKey([1; 32]), &kp));
    // Someone else publishing the same public key gets another id.
    assert_ne!(a, KeyPackageId::owned_by(&PublicKey([2; 32]), &kp));
    let mut material = vec![1u8; 32];
    material.extend_from_slice(&bytes);
    assert_eq!(a.0, blake3::derive_key("cairn 2026 keys v1 key package id", &material));
}

#[test]
fn low_order_non_canonical_and_foreign_key_packages_are_refused() {
    let hex32 =
        |s: &str| -> [u8; 32] { hex::decode(s).expect("hex").try_into().expect("32 bytes") };
    let low_order = [
        [0u8; 32],
        {
            let mut one = [0u8; 32];
            one[0] = 1;
            one
        },
        hex32("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        hex32("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
        hex32("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    ];
    // Twice each: the check remembers keys it passed, never ones it refused.
    for point in low_order.iter().chain(&low_order) {
        let kp = KeyPackage { group: G, x25519: *point };
        assert_eq!(kp.validate(&G), Err(KeyPackageError::LowOrder), "{point:02x?}");
    }
    let non_canonical = [
        hex32("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), // p
        hex32("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), // p + 1
        hex32("0900000000000000000000000000000000000000000000000000000000000080"), // top bit
    ];
    for point in non_canonical {
        let kp = KeyPackage { group: G, x25519: point };
        assert_eq!(kp.validate(&G), Err(KeyPackageError::NonCanonical), "{point:02x?}");
    }
    let mut rng = XofRng::from_seed(b"kp-bad");
    let (good, _) = KeyPackage::generate(G, &mut rng);
    assert_eq!(good.validate(&GroupId([9; 32])), Err(KeyPackageError::WrongGroup));
    // Sealing to a low-order key package is refused before anything is sealed.
    let bad = KeyPackage { group: G, x25519: [0; 32] };
    let id = KeyPackageId([7; 32]);
    let err = Rekey::build(&mut rng, &G, E0, &EpochSecret::from_bytes([1; 32]), &[(id, &bad)]);
    assert_eq!(err, Err(RekeyError::BadRecipient { id, reason: KeyPackageError::LowOrder }));
}

// ---- rekeys ----

#[test]
fn rekey_recipients_open_and_round_trip() {
    let mut rng = XofRng::from_seed(b"rekey");
    let members: Vec<_> = (0..3).map(|n| member(&mut rng, n)).collect();
    let recipients: Vec<_> = members.iter().map(|(id, kp, _)| (*id, kp)).collect();
    let secret = EpochSecret::random(&mut rng);
    let rekey = Rekey::build(&mut rng, &G, E0, &secret, &recipients).expect("build");
    assert_eq!(rekey.check_shape(), Ok(()));
    assert!(rekey.confirms(&G, &secret));
    let material = [&G.0[..], &E0.0, secret.as_bytes()].concat();
    let expected = blake3::derive_key("cairn 2026 keys v1 rekey confirmation", &material);
    assert_eq!(rekey.confirmation, expected);
    for (id, _, sk) in &members {
        assert_eq!(rekey.open(&G, id, sk).expect("open"), secret);
        assert!(rekey.recipients().any(|r| r == id));
    }
    let bytes = rekey.encode();
    assert_eq!(Rekey::decode(&bytes), Ok(rekey.clone()));
    // Bound to the group and the replaced epoch.
    let (id, _, sk) = &members[0];
    assert_eq!(rekey.open(&GroupId([8; 32]), id, sk), Err(RekeyError::WrapDoesNotOpen));
    let mut moved = rekey.clone();
    moved.replaces = EpochId([8; 32]);
    assert_eq!(moved.open(&G, id, sk), Err(RekeyError::WrapDoesNotOpen));
}

#[test]
fn non_recipients_and_removed_members_open_no_wrap() {
    let mut rng = XofRng::from_seed(b"outsider");
    let (a_id, a_kp, _) = member(&mut rng, 0);
    let (b_id, b_kp, _) = member(&mut rng, 1);
    // The removed member's key package is left out of the rekey.
    let (gone_id, _, gone_sk) = member(&mut rng, 2);
    let secret = EpochSecret::random(&mut rng);
    let rekey =
        Rekey::build(&mut rng, &G, E0, &secret, &[(a_id, &a_kp), (b_id, &b_kp)]).expect("build");
    assert!(rekey.recipients().all(|to| *to != gone_id));
    assert_eq!(rekey.open(&G, &gone_id, &gone_sk), Err(RekeyError::NotARecipient));
    // Not an API refusal: the removed member's secret opens no wrap's bytes,
    // whichever recipient id it claims in the associated data.
    let x = gone_sk.x25519();
    for wrap in &rekey.wraps {
        for claimed in rekey.recipients() {
            let ad = [&b"cairn rekey wrap v1\0"[..], &G.0, &E0.0, &claimed.0].concat();
            assert!(open_from(&x, &wrap.sealed, &ad).is_err());
        }
        // Nor does the secret appear in any wrap.
        assert!(!contains(&wrap.sealed, secret.as_bytes()));
    }
    // Claiming someone else's id does not help either.
    let mut forged = rekey.clone();
    forged.wraps.iter_mut().for_each(|w| w.to = if w.to == a_id { gone_id } else { w.to });
    forged.wraps.sort_by_key(|a| a.to);
    assert_eq!(forged.open(&G, &gone_id, &gone_sk), Err(RekeyError::WrapDoesNotOpen));
}

#[test]
fn tampered_wraps_and_confirmations_are_refused() {
    let mut rng = XofRng::from_seed(b"tamper");
    let (id, kp, sk) = member(&mut rng, 0);
    let secret = EpochSecret::random(&mut rng);
    let rekey = Rekey::build(&mut rng, &G, E0, &secret, &[(id, &kp)]).expect("build");
    let at = rekey.wraps.iter().position(|w| w.to == id).expect("own wrap");
    for i in 0..WRAP_LEN {
        let mut bad = rekey.clone();
        bad.wraps[at].sealed[i] ^= 0x01;
        assert_eq!(bad.open(&G, &id, &sk), Err(RekeyError::WrapDoesNotOpen), "byte {i}");
    }
    let mut bad = rekey.clone();
    bad.confirmation[0] ^= 1;
    assert_eq!(bad.open(&G, &id, &sk), Err(RekeyError::ConfirmationMismatch));
}

#[test]
fn split_view_rekey_is_refused_with_confirmation_mismatch() {
    // The rotator commits to `secret` for everyone but gives B another one.
    let mut rng = XofRng::from_seed(b"split");
    let (a_id, a_kp, a_sk) = member(&mut rng, 0);
    let (b_id, b_kp, b_sk) = member(&mut rng, 1);
    let secret = EpochSecret::random(&mut rng);
    let other = EpochSecret::random(&mut rng);
    let mut rekey =
        Rekey::build(&mut rng, &G, E0, &secret, &[(a_id, &a_kp), (b_id, &b_kp)]).expect("build");
    let for_b = Rekey::build(&mut rng, &G, E0, &other, &[(b_id, &b_kp)]).expect("build");
    let b_wrap = for_b.wraps.iter().find(|w| w.to == b_id).expect("wrap").clone();
    let at = rekey.wraps.iter().position(|w| w.to == b_id).expect("b's wrap");
    rekey.wraps[at] = b_wrap;
    assert_eq!(rekey.check_shape(), Ok(()));
    assert_eq!(rekey.open(&G, &a_id, &a_sk), Ok(secret));
    assert_eq!(rekey.open(&G, &b_id, &b_sk), Err(RekeyError::ConfirmationMismatch));
}

#[test]
fn wrap_lists_are_padded_to_a_power_of_two_with_same_length_dummies() {
    let mut rng = XofRng::from_seed(b"pad");
    let members: Vec<_> = (0..9).map(|n| member(&mut rng, n)).collect();
    let secret = EpochSecret::random(&mut rng);
    for n in 0..=members.len() {
        let recipients: Vec<_> = members[..n].iter().map(|(id, kp, _)| (*id, kp)).collect();
        let rekey = Rekey::build(&mut rng, &G, E0, &secret, &recipients).expect("build");
        assert_eq!(rekey.wraps.len(), padded_len(n));
        assert!(rekey.wraps.len().is_power_of_two() && rekey.wraps.len() >= n.max(1));
        assert!(rekey.wraps.iter().all(|w| w.sealed.len() == WRAP_LEN));
        assert!(rekey.wraps.windows(2).all(|w| w[0].to < w[1].to));
        // A dummy starts with a real curve point, as a real wrap does: an
        // x25519 exchange with it is contributory.
        for w in rekey.wraps.iter().filter(|w| members.iter().all(|m| m.0 != w.to)) {
            let point: [u8; 32] = w.sealed[..32].try_into().expect("32");
            let probe = crate::crypto::X25519Secret::from_bytes([3; 32]);
            assert!(probe.diffie_hellman(&X25519Public(point)).is_ok());
            assert_eq!(point[31] & 0x80, 0);
        }
    }
    assert_eq!([padded_len(0), padded_len(1), padded_len(5), padded_len(512)], [1, 1, 8, 512]);
}

#[test]
fn rekey_shape_and_size_limits() {
    let mut rng = XofRng::from_seed(b"shape");
    let members: Vec<_> = (0..3).map(|n| member(&mut rng, n)).collect();
    let recipients: Vec<_> = members.iter().map(|(id, kp, _)| (*id, kp)).collect();
    let secret = EpochSecret::random(&mut rng);
    let rekey = Rekey::build(&mut rng, &G, E0, &secret, &recipients).expect("build");
    let mut three = rekey.clone();
    three.wraps.pop();
    assert_eq!(three.check_shape(), Err("wrap count is not a power of two"));
    let mut unsorted = rekey.clone();
    unsorted.wraps.swap(0, 1);
    assert_eq!(unsorted.check_shape(), Err("wrap recipients not strictly ascending"));
    let mut short = rekey.clone();
    short.wraps[0].sealed.pop();
    assert_eq!(short.check_shape(), Err("wrap of the wrong length"));
    assert!(matches!(Rekey::decode(&short.encode()), Err(DecodeError::Malformed(_))));
    let mut empty = rekey.clone();
    empty.wraps.clear();
    assert_eq!(empty.check_shape(), Err("no wraps"));
    let mut dup = rekey.clone();
    dup.wraps[1].to = dup.wraps[0].to;
    assert!(dup.check_shape().is_err());
    let (id, kp, _) = &members[0];
    assert_eq!(
        Rekey::build(&mut rng, &G, E0, &secret, &[(*id, kp), (*id, kp)]),
        Err(RekeyError::DuplicateRecipient(*id))
    );
    let many = vec![(*id, kp); MAX_WRAPS + 1];
    assert_eq!(
        Rekey::build(&mut rng, &G, E0, &secret, &many),
        Err(RekeyError::TooManyRecipients(MAX_WRAPS + 1))
    );
    // The largest rekey fits in a message with room to spare.
    let full = Rekey {
        replaces: E0,
        wraps: (0..MAX_WRAPS)
            .map(|i| Wrap {
                to: KeyPackageId(*blake3::hash(&i.to_le_bytes()).as_bytes()),
                sealed: vec![0; WRAP_LEN],
            })
            .collect(),
        confirmation: [0; 32],
    };
    assert!(full.encode().len() < MAX_MESSAGE_LEN * 2 / 3, "{}", full.encode().len());
}

// ---- role-key grants ----

#[test]
fn role_key_grants_deliver_the_confirmed_key_to_recipients_only() {
    let mut rng = XofRng::from_seed(b"grant");
    let (id, kp, sk) = member(&mut rng, 0);
    let (other_id, _, other_sk) = member(&mut rng, 1);
    let key = RoleKey::random(&mut rng);
    let grant = RoleKeyGrant::build(&mut rng, &G, "editor", E0, &key, &[(id, &kp)]).expect("build");
    assert_eq!(grant.open(&G, &id, &sk), Ok(key.clone()));
    assert!(grant.confirms(&G, &key));
    let mut material = [&G.0[..], &E0.0, key.as_bytes()].concat();
    material.extend_from_slice(&6u64.to_le_bytes());
    material.extend_from_slice(b"editor");
    let expected = blake3::derive_key("cairn 2026 keys v1 role key grant confirmation", &material);
    assert_eq!(grant.confirmation, expected);
    assert!(!grant.confirms(&G, &RoleKey::random(&mut rng)));
    assert_eq!(grant.open(&G, &other_id, &other_sk), Err(RekeyError::NotARecipient));
    assert_eq!(RoleKeyGrant::decode(&grant.encode()), Ok(grant.clone()));
    // The role and the epoch are bound into the wrap.
    let mut renamed = grant.clone();
    renamed.role = "admin".into();
    assert_eq!(renamed.open(&G, &id, &sk), Err(RekeyError::WrapDoesNotOpen));
    let mut moved = grant.clone();
    moved.epoch = EpochId([9; 32]);
    assert_eq!(moved.open(&G, &id, &sk), Err(RekeyError::WrapDoesNotOpen));
    // A granter who delivers another key than it confirms is caught.
    let fake = RoleKey::random(&mut rng);
    let liar = RoleKeyGrant::build(&mut rng, &G, "editor", E0, &fake, &[(id, &kp)]).expect("build");
    let mut split = grant.clone();
    split.wraps = liar.wraps;
    assert_eq!(split.open(&G, &id, &sk), Err(RekeyError::ConfirmationMismatch));
    assert_eq!(
        RoleKeyGrant::build(&mut rng, &G, "", E0, &key, &[(id, &kp)]),
        Err(RekeyError::BadRole("empty role name"))
    );
}

#[test]
fn a_grant_wrap_does_not_open_as_a_rekey_wrap() {
    // Same recipient, same 32-byte secret, same group and epoch id: only the
    // associated data differs, and it keeps the two uses apart.
    let mut rng = XofRng::from_seed(b"cross");
    let (id, kp, sk) = member(&mut rng, 0);
    let key = RoleKey::random(&mut rng);
    let grant = RoleKeyGrant::build(&mut rng, &G, "editor", E0, &key, &[(id, &kp)]).expect("build");
    let as_epoch = EpochSecret::from_bytes(*key.as_bytes());
    let honest = Rekey::build(&mut rng, &G, E0, &as_epoch, &[(id, &kp)]).expect("build");
    let replayed = Rekey { wraps: grant.wraps.clone(), ..honest };
    assert_eq!(replayed.open(&G, &id, &sk), Err(RekeyError::WrapDoesNotOpen));
}

// ---- sealed content ----

fn two_role_content(rng: &mut XofRng) -> (SealedContent, RoleKey, RoleKey) {
    let editor = RoleKey::random(rng);
    let admin = RoleKey::random(rng);
    let sealed = SealedContent::seal(
        rng,
        &G,
        &BINDING,
        E0,
        b"the plan",
        &[("editor", &editor), ("admin", &admin)],
    )
    .expect("seal");
    (sealed, editor, admin)
}

#[test]
fn sealed_content_opens_for_each_role_and_round_trips() {
    let mut rng = XofRng::from_seed(b"sealed");
    let (sealed, editor, admin) = two_role_content(&mut rng);
    assert_eq!(sealed.check_shape(), Ok(()));
    assert_eq!(sealed.open(&G, &BINDING, "editor", &editor).expect("open").as_slice(), b"the plan");
    assert_eq!(sealed.open(&G, &BINDING, "admin", &admin).expect("open").as_slice(), b"the plan");
    let roles: Vec<_> = sealed.roles().map(|(r, _)| r).collect();
    assert_eq!(roles, ["admin", "editor"]);
    assert_eq!(SealedContent::decode(&sealed.encode()), Ok(sealed.clone()));
    assert!(!contains(&sealed.encode(), b"the plan"));
}

#[test]
fn a_member_without_the_role_cannot_open_role_sealed_content() {
    let mut rng = XofRng::from_seed(b"no-role");
    let (sealed, _, _) = two_role_content(&mut rng);
    let outsider = RoleKey::random(&mut rng);
    // Claiming the role with another key fails in the AEAD, not by lookup.
    assert_eq!(sealed.open(&G, &BINDING, "editor", &outsider), Err(SealError::DoesNotOpen));
    assert_eq!(sealed.open(&G, &BINDING, "viewer", &outsider), Err(SealError::NoWrapForRole));
    // Raw check: a key derived from the outsider's role key opens no wrap
    // under any role's associated data, and does not open the ciphertext.
    let wrap_key = AeadKey::from_bytes(*derive_key(context::ROLE_WRAP_KEY, outsider.as_bytes()));
    for w in &sealed.wraps {
        for (role, epoch) in sealed.roles() {
            let mut ad =
                [&b"cairn sealed content key wrap v1\0"[..], &G.0, &BINDING, &epoch.0].concat();
            ad.extend_from_slice(&(role.len() as u64).to_le_bytes());
            ad.extend_from_slice(role.as_bytes());
            assert!(wrap_key.open(&w.sealed_key, &ad).is_err());
        }
    }
    let content_ad = [&b"cairn sealed content v1\0"[..], &G.0, &BINDING, &E0.0].concat();
    assert!(
        AeadKey::from_bytes(*outsider.as_bytes()).open(&sealed.ciphertext, &content_ad).is_err()
    );
    assert!(wrap_key.open(&sealed.ciphertext, &content_ad).is_err());
}

#[test]
fn tampered_or_moved_sealed_content_does_not_open() {
    let mut rng = XofRng::from_seed(b"sealed-tamper");
    let (sealed, editor, _) = two_role_content(&mut rng);
    for i in 0..sealed.ciphertext.len() {
        let mut bad = sealed.clone();
        bad.ciphertext[i] ^= 0x80;
        assert_eq!(bad.open(&G, &BINDING, "editor", &editor), Err(SealError::DoesNotOpen));
    }
    for i in 0..ROLE_WRAP_LEN {
        let mut bad = sealed.clone();
        let at = bad.wraps.iter().position(|w| w.role == "editor").expect("editor");
        bad.wraps[at].sealed_key[i] ^= 0x01;
        assert_eq!(bad.open(&G, &BINDING, "editor", &editor), Err(SealError::DoesNotOpen));
    }
    let other_binding = [4u8; 32];
    assert_eq!(sealed.open(&G, &other_binding, "editor", &editor), Err(SealError::DoesNotOpen));
    assert_eq!(
        sealed.open(&GroupId([5; 32]), &BINDING, "editor", &editor),
        Err(SealError::DoesNotOpen)
    );
    let mut relabelled = sealed.clone();
    relabelled.epoch = EpochId([6; 32]);
    assert_eq!(relabelled.open(&G, &BINDING, "editor", &editor), Err(SealError::DoesNotOpen));
    // The role name is bound into its wrap: a wrap relabelled for another
    // role does not open, even with the right key.
    let mut renamed = sealed.clone();
    let at = renamed.wraps.iter().position(|w| w.role == "editor").expect("editor");
    renamed.wraps[at].role = "zeditor".into();
    assert_eq!(renamed.check_shape(), Ok(()));
    assert_eq!(renamed.open(&G, &BINDING, "zeditor", &editor), Err(SealError::DoesNotOpen));
    // The ciphertext itself is bound to group, binding and epoch: even the
    // right content key does not open it elsewhere.
    let k = sealed.content_key(&G, &BINDING, "editor", &editor).expect("content key");
    assert_eq!(k.open(&sealed, &G, &BINDING).expect("open").as_slice(), b"the plan");
    assert_eq!(k.open(&sealed, &G, &other_binding), Err(SealError::DoesNotOpen));
    assert_eq!(k.open(&sealed, &GroupId([5; 32]), &BINDING), Err(SealError::DoesNotOpen));
    assert_eq!(k.open(&relabelled, &G, &BINDING), Err(SealError::DoesNotOpen));
    // Truncated garbage is an error, never a panic.
    let mut garbage = sealed.clone();
    garbage.ciphertext.truncate(3);
    garbage.wraps.iter_mut().for_each(|w| w.sealed_key.truncate(1));
    assert!(garbage.open(&G, &BINDING, "editor", &editor).is_err());
    assert!(garbage.check_shape().is_err());
}

#[test]
fn content_keys_are_rewrapped_for_a_new_role_in_a_later_epoch() {
    let mut rng = XofRng::from_seed(b"rewrap");
    let (mut sealed, editor, _) = two_role_content(&mut rng);
    let e1 = EpochId([7; 32]);
    let reviewer = RoleKey::random(&mut rng);
    let wrap = sealed
        .rewrap_for(&mut rng, &G, &BINDING, ("editor", &editor), ("reviewer", e1, &reviewer))
        .expect("rewrap");
    assert_eq!(wrap.epoch, e1);
    assert_eq!(
        sealed.open_wrap(&G, &BINDING, &wrap, &reviewer).expect("open").as_slice(),
        b"the plan"
    );
    assert_eq!(sealed.open(&G, &BINDING, "reviewer", &reviewer), Err(SealError::NoWrapForRole));
    sealed.add_role_wrap(wrap.clone()).expect("add");
    assert_eq!(sealed.add_role_wrap(wrap), Err(SealError::DuplicateRole));
    assert_eq!(sealed.check_shape(), Ok(()));
    assert_eq!(
        sealed.open(&G, &BINDING, "reviewer", &reviewer).expect("open").as_slice(),
        b"the plan"
    );
    // Via a key ring that holds the reviewer key of e1 only.
    let mut ring = KeyRing::new(G);
    assert_eq!(sealed.open_with(&G, &BINDING, &ring), Err(SealError::NoWrapForRole));
    ring.insert_role_key("reviewer", e1, reviewer);
    assert_eq!(sealed.open_with(&G, &BINDING, &ring).expect("open").as_slice(), b"the plan");
    // A member without the role cannot re-wrap.
    let stranger = RoleKey::random(&mut rng);
    assert_eq!(
        sealed.rewrap_for(&mut rng, &G, &BINDING, ("editor", &stranger), ("x", e1, &stranger)),
        Err(SealError::DoesNotOpen)
    );
}

#[test]
fn sealing_refuses_bad_role_lists() {
    let mut rng = XofRng::from_seed(b"roles");
    let k = RoleKey::random(&mut rng);
    assert_eq!(SealedContent::seal(&mut rng, &G, &BINDING, E0, b"x", &[]), Err(SealError::NoRoles));
    assert_eq!(
        SealedContent::seal(&mut rng, &G, &BINDING, E0, b"x", &[("a", &k), ("a", &k)]),
        Err(SealError::DuplicateRole)
    );
    let long = "r".repeat(MAX_ROLE_LEN + 1);
    assert_eq!(
        SealedContent::seal(&mut rng, &G, &BINDING, E0, b"x", &[(&long, &k)]),
        Err(SealError::BadRole("role name too long"))
    );
    let names: Vec<String> = (0..=MAX_CONTENT_ROLES).map(|i| format!("r{i}")).collect();
    let roles: Vec<_> = names.iter().map(|n| (n.as_str(), &k)).collect();
    assert_eq!(
        SealedContent::seal(&mut rng, &G, &BINDING, E0, b"x", &roles),
        Err(SealError::TooManyWraps)
    );
}

// ---- the key ring ----

#[test]
fn key_ring_advances_role_keys_by_the_ratchet() {
    let mut rng = XofRng::from_seed(b"ring");
    let mut ring = KeyRing::genesis(&mut rng, G, E0, &["admin", "editor"]);
    let admin0 = ring.role_key("admin", &E0).expect("admin").clone();
    let e1 = EpochId([8; 32]);
    let secret1 = EpochSecret::random(&mut rng);
    let missing = ring.advance(&E0, e1, secret1.clone(), &["admin", "viewer"], 100);
    assert_eq!(missing, ["viewer"]);
    assert_eq!(ring.role_key("admin", &e1), Some(&admin0.ratchet(&secret1, "admin")));
    assert_eq!(ring.role_key("editor", &e1), None);
    assert_eq!(ring.epoch_secret(&e1), Some(&secret1));
    assert_eq!(ring.epochs().count(), 2);
    assert_eq!(KeyRing::decode(&ring.encode()).expect("decode").encode(), ring.encode());
}

#[test]
fn erase_expired_removes_old_secret_bytes_from_the_encoding() {
    let mut rng = XofRng::from_seed(b"erase");
    let mut ring = KeyRing::genesis(&mut rng, G, E0, &["admin"]);
    let old_epoch = ring.epoch_secret(&E0).expect("e0").clone();
    let old_role = ring.role_key("admin", &E0).expect("r0").clone();
    let (kp_id, _, kp_sk) = member(&mut rng, 0);
    let kp_bytes = *kp_sk.as_bytes();
    ring.insert_key_package(kp_id, kp_sk);
    let e1 = EpochId([8; 32]);
    ring.advance(&E0, e1, EpochSecret::random(&mut rng), &["admin"], 1_000);
    ring.retire_key_package(&kp_id, 1_000);
    let current = ring.epoch_secret(&e1).expect("e1").clone();
    let before = ring.encode();
    for secret in [old_epoch.as_bytes(), old_role.as_bytes(), &kp_bytes, current.as_bytes()] {
        assert!(contains(&before, secret));
    }
    // Not yet: one second short of the grace period.
    let grace = DEFAULT_GRACE_SECS;
    assert_eq!(ring.erase_expired(1_000 + grace - 1, grace), Erased::default());
    let erased = ring.erase_expired(1_000 + grace, grace);
    assert_eq!(erased, Erased { epochs: 1, role_keys: 1, key_packages: 1 });
    let after = ring.encode();
    for secret in [old_epoch.as_bytes(), old_role.as_bytes(), &kp_bytes] {
        assert!(!contains(&after, secret));
    }
    assert!(contains(&after, current.as_bytes()));
    assert_eq!(ring.epoch_secret(&E0), None);
    assert!(ring.role_key("admin", &e1).is_some());
    // Current material is never erased, however late.
    assert_eq!(ring.erase_expired(u64::MAX, grace), Erased::default());
    // A later mark does not move the first one.
    ring.supersede_epoch(&e1, 5_000);
    ring.supersede_epoch(&e1, 9_000);
    assert_eq!(ring.erase_expired(5_000 + grace, grace).epochs, 1);
}

#[test]
fn key_ring_decoding_is_strict() {
    let mut rng = XofRng::from_seed(b"ring-decode");
    let ring = KeyRing::genesis(&mut rng, G, E0, &["admin"]);
    let bytes = ring.encode();
    let mut v2 = bytes.to_vec();
    v2[0] = 2;
    assert!(matches!(KeyRing::decode(&v2), Err(DecodeError::UnknownVersion(2))));
    let mut trailing = bytes.to_vec();
    trailing.push(0);
    assert!(matches!(KeyRing::decode(&trailing), Err(DecodeError::TrailingBytes(1))));
    assert!(matches!(KeyRing::decode(&bytes[..bytes.len() - 1]), Err(DecodeError::Incomplete)));
    assert!(matches!(KeyRing::decode(&[]), Err(DecodeError::Incomplete)));
    let debug = format!("{ring:?}");
    let secret = ring.epoch_secret(&E0).expect("e0").as_bytes();
    assert!(debug.contains("<redacted>") && !debug.contains(&format!("{:?}", &secret[..4])));
}

// ---- concurrent rekeys ----

#[test]
fn membership_rekeys_beat_plain_ones_then_the_lowest_id_wins() {
    use core::cmp::Ordering;
    let c = |id: u8, kind| RekeyCandidate { id: MessageId([id; 32]), kind };
    let (plain_low, plain_high) = (c(1, RekeyKind::Plain), c(2, RekeyKind::Plain));
    let (member_low, member_high) = (c(3, RekeyKind::Membership), c(4, RekeyKind::Membership));
    assert_eq!(rekey_precedence(&member_high, &plain_low), Ordering::Less);
    assert_eq!(rekey_precedence(&plain_low, &member_high), Ordering::Greater);
    assert_eq!(rekey_precedence(&plain_low, &plain_high), Ordering::Less);
    assert_eq!(rekey_precedence(&member_low, &member_high), Ordering::Less);
    assert_eq!(rekey_precedence(&member_low, &member_low), Ordering::Equal);
    let all = [plain_low, member_high, plain_high, member_low];
    let winner = all.iter().min_by(|a, b| rekey_precedence(a, b));
    assert_eq!(winner, Some(&member_low));
}

// ---- properties ----

mod prop {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Rekey::decode(&bytes);
            let _ = RoleKeyGrant::decode(&bytes);
            let _ = SealedContent::decode(&bytes);
            let _ = KeyRing::decode(&bytes);
        }

        #[test]
        fn sealed_content_round_trips(
            seed in any::<u64>(),
            plaintext in proptest::collection::vec(any::<u8>(), 0..300),
            role in "[a-z]{1,16}",
        ) {
            let mut rng = XofRng::from_seed(&seed.to_le_bytes());
            let key = RoleKey::random(&mut rng);
            let sealed = SealedContent::seal(&mut rng, &G, &BINDING, E0, &plaintext, &[(&role, &key)])
                .expect("seal");
            let decoded = SealedContent::decode(&sealed.encode()).expect("decode");
            prop_assert_eq!(&decoded, &sealed);
            let opened = decoded.open(&G, &BINDING, &role, &key).expect("open");
            prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
        }

        #[test]
        fn every_rekey_bit_flip_is_refused_or_harmless(seed in any::<u64>(), bit in 0usize..4096) {
            // Decoding a flipped rekey either fails, or opening fails, or the
            // flip hit a dummy and the recipient still gets the same secret.
            let mut rng = XofRng::from_seed(&seed.to_le_bytes());
            let (id, kp, sk) = member(&mut rng, 0);
            let (id2, kp2, _) = member(&mut rng, 1);
            let (id3, kp3, _) = member(&mut rng, 2);
            let secret = EpochSecret::random(&mut rng);
            let rekey = Rekey::build(&mut rng, &G, E0, &secret, &[(id, &kp), (id2, &kp2), (id3, &kp3)])
                .expect("build");
            let mut bytes = rekey.encode();
            let bit = bit % (bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            if let Ok(flipped) = Rekey::decode(&bytes)
                && let Ok(got) = flipped.open(&G, &id, &sk)
            {
                prop_assert_eq!(got, secret);
            }
        }
    }
}
