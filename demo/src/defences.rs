//! `cairn-demo`, second part: the protocol core's defences, every step
//! verified.
//!
//! Two members, Alice and Bob, each with a real profile (Argon2id-sealed key
//! file, encrypted redb store, secrets file). Alice founds a group; both
//! chat through fixed-size sealed envelopes handed over by an in-process
//! stand-in for the relay (it does what a relay does: checks the write
//! signature and keeps bytes), so that the demo can play the hostile relay:
//! it tampers with, withholds and forks messages and shows that each is
//! caught.

use std::path::Path;

use cairn_proto::chain::{ChainEvent, ChainState, Entry, EquivocationProof, verify_batch};
use cairn_proto::identity::{KdfParams, parse_recovery, recovery_string};
use cairn_proto::store::{Batch, Profile, Store, StoredEntry};
use cairn_proto::wire::{
    Body, Chat, Envelope, EpochId, EpochKeys, Genesis, GroupId, Reassembler, SignedMessage,
    seal_message,
};
use rand_core::{Rng, UnwrapErr};
use zeroize::Zeroizing;

use crate::Report;

type OsRng = UnwrapErr<getrandom::SysRng>;

fn os_rng() -> OsRng {
    UnwrapErr(getrandom::SysRng)
}

/// A member in the demo: a profile, its view of the group's chain.
struct Member {
    name: &'static str,
    profile: Profile,
    chain: ChainState,
    reassembler: Reassembler,
}

impl Member {
    fn public(&self) -> cairn_proto::crypto::PublicKey {
        self.profile.identity().public_key()
    }

    /// Signs a body as this member's next message.
    fn write(&self, epoch: EpochId, body: Body) -> SignedMessage {
        let minute = minutes_now();
        let draft = self.chain.draft(&self.public(), epoch, minute, body);
        draft.sign(self.profile.identity().signing_key())
    }

    /// Opens envelopes, verifies the messages in a batch, ingests them and
    /// stores what the chain accepted in one durable commit.
    fn receive(
        &mut self,
        keys: &EpochKeys,
        epoch: EpochId,
        envelopes: &[Envelope],
    ) -> anyhow::Result<Vec<ChainEvent>> {
        let mut whole = Vec::new();
        for env in envelopes {
            if let Some(bytes) = self.reassembler.add(env.open(keys)?)? {
                whole.push(Entry::decode(bytes)?);
            }
        }
        let mut events = Vec::new();
        for verified in verify_batch(&mut os_rng(), whole) {
            events.extend(self.chain.ingest(verified?, epoch));
        }
        let mut batch = Batch::new();
        for event in &events {
            if let ChainEvent::Accepted(e) = event {
                batch = batch.append(StoredEntry {
                    group: self.chain.group().0,
                    author: e.author(),
                    seq: e.seq(),
                    id: e.id().0,
                    lamport: e.message().lamport,
                    bytes: e.bytes().to_vec(),
                });
            }
        }
        self.profile.store_mut().commit(batch)?;
        Ok(events)
    }
}

fn minutes_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 60)
        .unwrap_or(0)
}

/// The relay stand-in: accepts an envelope only if its write signature
/// verifies under the mailbox key it carries, then keeps the bytes.
#[derive(Default)]
struct RelayStandIn {
    stored: Vec<Envelope>,
}

impl RelayStandIn {
    fn post(&mut self, bytes: &[u8]) -> Result<(), String> {
        let env = Envelope::parse(bytes).map_err(|e| e.to_string())?;
        env.verify_write().map_err(|e| e.to_string())?;
        self.stored.push(env);
        Ok(())
    }
}

const PASSPHRASES: [&str; 2] =
    ["alice: correct horse battery staple", "bob: tr0ub4dor&3 but longer"];

fn make_member(root: &Path, name: &'static str, passphrase: &str) -> anyhow::Result<Member> {
    let profile =
        Profile::create(&root.join(name), passphrase.as_bytes(), KdfParams::DEFAULT, os_rng())?;
    let chain = ChainState::new(GroupId([0; 32]));
    Ok(Member { name, profile, chain, reassembler: Reassembler::new() })
}

/// Runs the protocol-core steps with profiles under `root`.
pub(crate) fn script(root: &Path, report: &mut Report) -> anyhow::Result<()> {
    std::fs::create_dir_all(root)?;
    let mut alice = make_member(root, "alice", PASSPHRASES[0])?;
    let mut bob = make_member(root, "bob", PASSPHRASES[1])?;
    report.check(
        "profiles created",
        true,
        "two Argon2id-sealed identities with encrypted redb stores",
    );
    identity_steps(root, &alice, report)?;

    // Alice founds the group; the first epoch's id is the genesis id.
    let mut rng = os_rng();
    let group = GroupId({
        let mut g = [0u8; 32];
        rng.fill_bytes(&mut g);
        g
    });
    alice.chain = ChainState::new(group);
    bob.chain = ChainState::new(group);
    let genesis_body = Body::Genesis(Genesis {
        name: "bastion".into(),
        rules: cairn_proto::group::templates::organizer_member_observer().encode(),
    });
    let genesis = alice.write(EpochId::GENESIS, genesis_body);
    let epoch = EpochId(genesis.id().0);
    let secret = Zeroizing::new({
        let mut s = [0u8; 32];
        rng.fill_bytes(&mut s);
        s
    });
    let keys = EpochKeys::derive(&secret);
    alice.profile.store_mut().put_secret(&epoch.0, &secret[..])?;
    let mut relay = RelayStandIn::default();
    exchange(&mut alice, &mut bob, &mut relay, &keys, epoch, genesis, report, "genesis delivered")?;

    let hello = alice.write(epoch, chat("Meeting moved to the north bastion."));
    exchange(&mut alice, &mut bob, &mut relay, &keys, epoch, hello, report, "alice -> bob chat")?;
    let reply = bob.write(epoch, chat("Understood. Bringing the maps."));
    exchange(&mut bob, &mut alice, &mut relay, &keys, epoch, reply, report, "bob -> alice chat")?;
    let long = alice.write(epoch, chat(&"A long briefing. ".repeat(400)));
    exchange(
        &mut alice,
        &mut bob,
        &mut relay,
        &keys,
        epoch,
        long,
        report,
        "6.8 KiB message in 4 envelopes",
    )?;

    attack_steps(&mut alice, &mut bob, &mut relay, &keys, epoch, report)?;
    persistence_steps(root, bob, report)
}

fn chat(text: &str) -> Body {
    Body::Chat(Chat { text: text.into(), reply_to: None })
}

#[allow(clippy::too_many_arguments)]
fn exchange(
    from: &mut Member,
    to: &mut Member,
    relay: &mut RelayStandIn,
    keys: &EpochKeys,
    epoch: EpochId,
    message: SignedMessage,
    report: &mut Report,
    step: &'static str,
) -> anyhow::Result<()> {
    let envelopes = seal_message(&mut os_rng(), keys, &message)?;
    for env in &envelopes {
        relay.post(env.as_bytes()).map_err(anyhow::Error::msg)?;
    }
    let own = from.receive(keys, epoch, &envelopes)?;
    let theirs = to.receive(keys, epoch, &envelopes)?;
    let accepted = |ev: &[ChainEvent]| {
        ev.iter().any(|e| matches!(e, ChainEvent::Accepted(a) if a.id() == message.id()))
    };
    let ok =
        accepted(&own) && accepted(&theirs) && envelopes.iter().all(|e| e.as_bytes().len() == 2000);
    report.check(
        step,
        ok,
        format!(
            "{} -> {}: {} envelope(s) of 2000 bytes, signature and chain link verified",
            from.name,
            to.name,
            envelopes.len()
        ),
    );
    Ok(())
}

fn identity_steps(root: &Path, alice: &Member, report: &mut Report) -> anyhow::Result<()> {
    let id = alice.profile.identity();
    let words = recovery_string(id.seed());
    let restored_seed = parse_recovery(&words)?;
    let restored = Profile::restore(
        &root.join("alice-restored"),
        restored_seed,
        b"new passphrase",
        KdfParams::DEFAULT,
        os_rng(),
    )?;
    let same = restored.identity().public_key() == id.public_key()
        && restored.identity().onion_address() == id.onion_address();
    report.check(
        "identity restored from its recovery string",
        same,
        format!("same key and onion address {}", id.onion_address()),
    );
    let mut typo: Vec<char> = words.chars().collect();
    typo[3] = if typo[3] == 'x' { 'y' } else { 'x' };
    let typo: String = typo.into_iter().collect();
    report.check(
        "recovery string with one typo refused",
        parse_recovery(&typo).is_err(),
        "checksum caught it",
    );
    let wrong = Profile::open(&root.join("alice"), b"not the passphrase", os_rng());
    let refused = matches!(&wrong, Err(e) if e.to_string().contains("passphrase"));
    report.check(
        "wrong passphrase refused",
        refused,
        wrong.err().map(|e| e.to_string()).unwrap_or_default(),
    );
    Ok(())
}

fn attack_steps(
    alice: &mut Member,
    bob: &mut Member,
    relay: &mut RelayStandIn,
    keys: &EpochKeys,
    epoch: EpochId,
    report: &mut Report,
) -> anyhow::Result<()> {
    // A stranger flips one bit of a stored envelope and reposts it.
    let mut bytes = *relay.stored[0].as_bytes();
    bytes[700] ^= 0x08;
    let verdict = relay.post(&bytes);
    report.check(
        "tampered envelope refused by the relay check",
        verdict.is_err(),
        verdict.err().unwrap_or_default(),
    );

    // The relay withholds one of Alice's messages; Bob sees the gap.
    let withheld = alice.write(epoch, chat("the cache is under the third stone"));
    let w_env = seal_message(&mut os_rng(), keys, &withheld)?;
    alice.receive(keys, epoch, &w_env)?;
    let after = alice.write(epoch, chat("did you get my last message?"));
    let a_env = seal_message(&mut os_rng(), keys, &after)?;
    alice.receive(keys, epoch, &a_env)?;
    let events = bob.receive(keys, epoch, &a_env)?;
    let gap = events.iter().find_map(|e| match e {
        ChainEvent::Gap { missing, .. } => Some(missing.clone()),
        _ => None,
    });
    report.check(
        "withheld message detected as a gap",
        gap.is_some(),
        format!("missing seq {gap:?} of alice"),
    );
    let filled = bob.receive(keys, epoch, &w_env)?;
    let n = filled.iter().filter(|e| matches!(e, ChainEvent::Accepted(_))).count();
    report.check(
        "gap filled from another source",
        n == 2,
        format!("{n} messages accepted in causal order"),
    );

    // Alice signs two different messages at one position.
    let honest = alice.write(epoch, chat("vote: yes"));
    let mut fork = honest.message.clone();
    fork.body = chat("vote: no");
    let fork = fork.sign(alice.profile.identity().signing_key());
    bob.receive(keys, epoch, &seal_message(&mut os_rng(), keys, &honest)?)?;
    let events = bob.receive(keys, epoch, &seal_message(&mut os_rng(), keys, &fork)?)?;
    let proof = events.iter().find_map(|e| match e {
        ChainEvent::Equivocation(p) => Some(p.encode()),
        _ => None,
    });
    let third_party =
        proof.as_deref().map(|b| EquivocationProof::decode(b).and_then(|p| p.verify()).is_ok());
    report.check(
        "equivocation detected; proof verifies for a third party",
        third_party == Some(true),
        "two signed messages at one (author, seq)",
    );
    Ok(())
}

fn persistence_steps(root: &Path, bob: Member, report: &mut Report) -> anyhow::Result<()> {
    let group = bob.chain.group();
    let live = bob.chain.version_vector();
    drop(bob.profile);
    let reopened = Profile::open(&root.join("bob"), PASSPHRASES[1].as_bytes(), os_rng())?;
    let stored = reopened.store().version_vector(&group.0)?;
    let same =
        live.iter().all(|(a, s)| stored.get(a) == Some(s)) && stored.len() == live.iter().count();
    report.check(
        "bob's store reopened from disk with the same version vector",
        same,
        format!("{} authors", stored.len()),
    );
    drop(reopened);
    let leaked =
        scan_for(&root.join("bob"), &[b"north bastion", b"Bringing the maps", b"third stone"]);
    report.check(
        "no chat plaintext anywhere in bob's profile files",
        leaked.is_empty(),
        if leaked.is_empty() {
            "raw bytes of every file scanned".to_string()
        } else {
            leaked.join(", ")
        },
    );
    Ok(())
}

/// Names of files under `dir` whose raw bytes contain any needle.
fn scan_for(dir: &Path, needles: &[&[u8]]) -> Vec<String> {
    let mut hits = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return vec!["unreadable profile dir".into()] };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            hits.extend(scan_for(&path, needles));
        } else if let Ok(bytes) = std::fs::read(&path)
            && needles.iter().any(|n| bytes.windows(n.len()).any(|w| w == *n))
        {
            hits.push(path.display().to_string());
        }
    }
    hits
}
