//! The figures: a history is written once at the largest size; `apply`,
//! `write`, `persist` and `causal` are read at every size on the way
//! through it (a prefix of the history is a history: each writer read the
//! wire before writing), then `fold` on a large group.

use std::time::{Duration, Instant};

use cairn_proto::crypto::{AeadKey, XofRng};
use cairn_proto::replica::Replica;
use cairn_proto::store::{Batch, RedbStore, Store};
use cairn_proto::wire::{Body, MemberRemove};

use crate::limits::{Limits, redb_batch_write};
use crate::report::Report;
use crate::world::{NOW, World, chat, chat_text, write_history};

/// Members writing the history (besides the founder, who only admits).
const WRITERS: usize = 3;

/// Runs everything and returns the report (its lines already printed).
pub(crate) fn run(sizes: &[usize], members: usize, budget: Duration) -> Report {
    let mut report = Report::default();
    let max = *sizes.last().expect("at least one size");
    let mut world = World::new(b"cairn-bench history");
    for _ in 0..WRITERS {
        world.admit();
    }
    world.settle();
    let setup = world.wire.len();
    let t = Instant::now();
    write_history(&mut world, WRITERS, max);
    eprintln!("history of {max} messages written in {:.1} s", t.elapsed().as_secs_f64());
    let history = &world.wire[setup..];
    let mean_bytes = history.iter().map(|p| p.bytes).sum::<usize>() / history.len();
    let envelopes: usize = history.iter().map(|p| p.envelopes.len()).sum();
    eprintln!("mean message {mean_bytes} B, {envelopes} envelopes");

    let limits = Limits::measure(budget, mean_bytes, WRITERS);
    report.limit("ed25519_verify_single", limits.verify_single, "/s");
    report.limit(&format!("ed25519_verify_batch64_{WRITERS}keys"), limits.verify_batch, "/s");
    report.limit("ed25519_sign", limits.sign, "/s");
    report.limit("xchacha20poly1305_seal_2000B", limits.seal, "/s");
    report.limit("xchacha20poly1305_open_2000B", limits.open, "/s");
    report.limit("x25519_dh", limits.x25519, "/s");
    report.limit("tcp_loopback_rtt", crate::relay::tcp_round_trip(budget), "µs");

    apply(&mut report, &world, setup, sizes, &limits, mean_bytes);
    write(&mut report, &world, sizes, &limits);
    fold(&mut report, members, &limits);
    crate::sync::run(&mut report, sizes, &limits);
    crate::relay::run(&mut report, sizes);
    report
}

/// Per-message seconds at each size, for the growth lines.
fn growth(report: &mut Report, figure: &str, sizes: &[usize], costs: &[f64]) {
    for (size, cost) in sizes.iter().zip(costs) {
        report.growth(figure, *size, *cost, costs[0]);
    }
}

/// A fresh replica of the founder as it stood before the history: every
/// epoch key, none of the history.
fn founder(world: &World, rng: &mut XofRng) -> Replica {
    let r = &world.people[0].replica;
    let genesis = r.state().expect("state").genesis;
    Replica::open(&world.store, rng, r.group(), genesis).expect("reopen founder")
}

/// `apply`, `persist` and `causal`: the founder, who wrote none of the
/// history, takes it in from envelopes and commits it to a redb store at
/// every size.
fn apply(
    report: &mut Report,
    world: &World,
    setup: usize,
    sizes: &[usize],
    limits: &Limits,
    mean_bytes: usize,
) {
    let mut rng = XofRng::from_seed(b"cairn-bench apply");
    let mut reader = founder(world, &mut rng);
    let dir = tempfile::tempdir().expect("temp dir");
    let key = AeadKey::from_bytes([9; 32]);
    let store_rng = Box::new(XofRng::from_seed(b"cairn-bench store"));
    let store_dir = dir.path().join("store");
    std::fs::create_dir_all(&store_dir).expect("store dir");
    let mut store = RedbStore::open(&store_dir, &key, store_rng).expect("store");
    // The store starts where the founder's stood: the setup's messages.
    let group = reader.group().0;
    let mut batch = Batch::new();
    for (author, top) in world.store.version_vector(&group).expect("read") {
        for e in world.store.range(&group, &author, 0..=top).expect("read") {
            batch = batch.append(e);
        }
    }
    store.commit(batch).expect("setup commit");
    let held_before = reader.chain().len();
    let mut elapsed = Duration::ZERO;
    let (mut apply_costs, mut persist_costs, mut causal) = (Vec::new(), Vec::new(), Vec::new());
    let mut done = 0;
    for &size in sizes {
        let t = Instant::now();
        for post in &world.wire[setup + done..setup + size] {
            for env in &post.envelopes {
                reader.receive_envelope(&mut rng, env, NOW).expect("envelope applies");
            }
        }
        elapsed += t.elapsed();
        let rate = size as f64 / elapsed.as_secs_f64();
        report.figure(
            format!("apply.{size}"),
            rate,
            "msg/s",
            "raw ed25519 verify_batch64",
            limits.verify_batch,
        );
        apply_costs.push(1.0 / rate);

        let segment = size - done;
        let t = Instant::now();
        reader.persist(&mut store, Batch::new()).expect("persist");
        let commit = segment as f64 / t.elapsed().as_secs_f64();
        let raw = redb_batch_write(dir.path(), segment, mean_bytes);
        report.figure(
            format!("persist.{size}"),
            commit,
            "msg/s",
            format!("raw redb commit of {segment} rows"),
            raw,
        );
        persist_costs.push(1.0 / commit);

        let held = reader.chain().len() - held_before;
        assert_eq!(held, size, "every message of the history was accepted");
        let per = reader.fold().causal_bytes() as f64 / reader.chain().len() as f64;
        report.figure(
            format!("causal.{size}"),
            per,
            "B/msg",
            "mean message bytes",
            mean_bytes as f64,
        );
        causal.push(per);
        done = size;
    }
    growth(report, "apply", sizes, &apply_costs);
    growth(report, "persist", sizes, &persist_costs);
    growth(report, "causal", sizes, &causal);
}

/// `write`: the founder, reopened, writes chats of the history's lengths.
fn write(report: &mut Report, world: &World, sizes: &[usize], limits: &Limits) {
    let mut rng = XofRng::from_seed(b"cairn-bench write");
    let mut writer = founder(world, &mut rng);
    let key = world.people[0].id.signing_key();
    let raw = 1.0 / (1.0 / limits.sign + 1.0 / limits.seal);
    let mut elapsed = Duration::ZERO;
    let mut costs = Vec::new();
    let mut done = 0;
    for &size in sizes {
        let t = Instant::now();
        for i in done..size {
            writer.write(&mut rng, key, chat(chat_text(i)), NOW).expect("write");
        }
        elapsed += t.elapsed();
        let rate = size as f64 / elapsed.as_secs_f64();
        report.figure(format!("write.{size}"), rate, "msg/s", "raw ed25519 sign + AEAD seal", raw);
        costs.push(1.0 / rate);
        done = size;
    }
    growth(report, "write", sizes, &costs);
}

/// `fold`: a group of `members`; the founder removes one with a rekey to
/// the rest, and a remaining member applies the removal.
fn fold(report: &mut Report, members: usize, limits: &Limits) {
    let t = Instant::now();
    let mut world = World::new(b"cairn-bench fold");
    for n in 1..members {
        let who = world.admit();
        // Only the last two joiners keep a replica: one is removed, the
        // other applies the removal.
        if who + 2 < members {
            world.forget(who);
        }
        if n % 50 == 0 {
            eprintln!("fold: {n} members admitted ({:.0} s)", t.elapsed().as_secs_f64());
        }
    }
    eprintln!("fold: group of {members} built in {:.1} s", t.elapsed().as_secs_f64());
    let (stays, leaves) = (members - 2, members - 1);
    world.read_wire(stays);
    world.read_wire(0);
    let member = world.people[leaves].id.public_key();

    let founder = &mut world.people[0];
    let t = Instant::now();
    let (rekey, _) = founder.replica.build_rekey(&mut world.rng, None, &[member]).expect("rekey");
    let recipients = rekey.recipients().count();
    let body = Body::MemberRemove(MemberRemove { member, rekey: Some(rekey) });
    let key = founder.id.signing_key();
    let written = founder.replica.write(&mut world.rng, key, body, NOW).expect("removal");
    let remove = t.elapsed().as_secs_f64();
    let envelopes = written.envelopes.len();
    let raw = recipients as f64 / limits.x25519;
    report.figure(
        format!("fold.remove.{members}"),
        remove * 1e3,
        "ms",
        format!("raw x25519 x {recipients} recipients"),
        raw * 1e3,
    );
    report.figure(
        format!("fold.remove_envelopes.{members}"),
        envelopes as f64,
        "envelopes",
        "rekey recipients",
        recipients as f64,
    );

    let stayer = &mut world.people[stays].replica;
    let t = Instant::now();
    for env in &written.envelopes {
        stayer.receive_envelope(&mut world.rng, env, NOW).expect("removal applies");
    }
    let applied = t.elapsed().as_secs_f64();
    assert_eq!(
        stayer.epoch(),
        world.people[0].replica.epoch(),
        "the member stays in the new epoch"
    );
    let raw = 1.0 / limits.x25519 + envelopes as f64 / limits.open;
    report.figure(
        format!("fold.apply_removal.{members}"),
        applied * 1e3,
        "ms",
        format!("raw x25519 + {envelopes} AEAD opens"),
        raw * 1e3,
    );
}
