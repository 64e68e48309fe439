//! The figures: a history is written once at the largest size; `apply`,
//! `write`, `persist`, `causal` and `open` are read at every size on the way
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

/// Envelopes delivered together: about what one relay fetch returns
/// (`MAX_RESPONSE_FRAME` of 160 KiB holds 81 envelopes).
const RELAY_PAGE: usize = 64;

/// Runs everything and returns the report (its lines already printed).
/// The figure groups `--only` chooses from.
pub(crate) const GROUPS: [&str; 7] = ["apply", "write", "fold", "client", "sync", "relay", "onion"];

pub(crate) fn run(
    sizes: &[usize],
    members: usize,
    budget: Duration,
    sync_max: usize,
    only: &[String],
) -> Report {
    let runs = |group: &str| only.iter().any(|g| g == group);
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

    if runs("apply") {
        apply(&mut report, &world, setup, sizes, &limits, mean_bytes);
    }
    if runs("write") {
        write(&mut report, &world, sizes, &limits);
    }
    if runs("fold") {
        fold(&mut report, members, &limits);
    }
    if runs("client") {
        crate::client::run(&mut report, &world, setup, sizes);
    }
    let sync_sizes: Vec<usize> = sizes.iter().copied().filter(|s| *s <= sync_max).collect();
    if runs("sync") && !sync_sizes.is_empty() {
        crate::sync::run(&mut report, &sync_sizes, &limits);
    }
    if runs("relay") {
        crate::relay::run(&mut report, sizes);
    }
    if runs("onion") {
        crate::onion::run(&mut report);
    }
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
pub(crate) fn founder(world: &World) -> Replica {
    let r = &world.people[0].replica;
    let genesis = r.state().expect("state").genesis;
    Replica::open(&world.store, r.group(), genesis).expect("reopen founder")
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
    let mut reader = founder(world);
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
    let mut open_costs = Vec::new();
    let rss_before = resident_mib();
    let genesis = reader.state().expect("state").genesis;
    let mut done = 0;
    for &size in sizes {
        let envelopes: Vec<_> = world.wire[setup + done..setup + size]
            .iter()
            .flat_map(|post| post.envelopes.iter().cloned())
            .collect();
        let t = Instant::now();
        for page in envelopes.chunks(RELAY_PAGE) {
            let delivery = reader.receive_envelopes(&mut rng, page, NOW);
            assert!(delivery.refused.is_empty(), "every envelope applies");
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
        // The crypto a member cannot skip: one signature (batched) and
        // one AEAD open per envelope.
        let crypto = 1.0 / (1.0 / limits.verify_batch + 1.0 / limits.open);
        report.figure(
            format!("apply_vs_crypto.{size}"),
            rate,
            "msg/s",
            "raw verify_batch64 + AEAD open, per message",
            crypto,
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

        // Resident memory grown since before the reader was opened: its
        // replica and store (the history's writers were all built before).
        report.figure(
            format!("memory.{size}"),
            resident_mib() - rss_before,
            "MiB",
            "target (issue 14): client RSS within",
            150.0,
        );

        let t = Instant::now();
        let reopened = Replica::open(&store, reader.group(), genesis).expect("reopens");
        let open_ms = t.elapsed().as_secs_f64() * 1e3;
        assert_eq!(reopened.fold().state_hash(), reader.fold().state_hash());
        drop(reopened);
        report.figure(
            format!("open.{size}"),
            open_ms,
            "ms",
            "target (issue 14): first screen within",
            1000.0,
        );
        open_costs.push(open_ms / size as f64);
        done = size;
    }
    growth(report, "apply", sizes, &apply_costs);
    growth(report, "open", sizes, &open_costs);
    growth(report, "persist", sizes, &persist_costs);
    growth(report, "causal", sizes, &causal);
}

/// `write`: the founder, reopened, writes chats of the history's lengths.
fn write(report: &mut Report, world: &World, sizes: &[usize], limits: &Limits) {
    let mut rng = XofRng::from_seed(b"cairn-bench write");
    let mut writer = founder(world);
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

/// This process's resident memory (VmRSS), MiB.
pub(crate) fn resident_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}
