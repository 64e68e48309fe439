//! Fold vectors (`protocol-spec/vectors/fold/*.json`): the scripted
//! histories of the insider scenarios, with the verdict of every message
//! and the final state's encoding and hash. A later fold (a faster one, one
//! with more bodies) must reproduce them unchanged: each test that records
//! a history compares it with the committed file. `CAIRN_WRITE_VECTORS=1`
//! writes the files instead (review the diff before committing it).

use serde_json::{Value, json};

use super::*;
use crate::chain::{ChainEvent, ChainState, Entry};
use crate::wire::encode;

/// A verdict as the vectors spell it: `applied`, `rekey-dropped: RULE`,
/// `refused: RULE`, with `cut off by ID` for cut-offs, or `not held`.
fn verdict_text(v: Option<&Verdict>) -> String {
    let refusal = |r: &Refusal| match r {
        Refusal::CutOff { by, because } => {
            format!("cut off by {}: {}", hex::encode(by.0), because.rule())
        }
        other => other.rule().to_string(),
    };
    match v {
        None => "not held".into(),
        Some(Verdict::Applied) => "applied".into(),
        Some(Verdict::RekeyDropped(r)) => format!("rekey-dropped: {}", refusal(r)),
        Some(Verdict::Refused(r)) => format!("refused: {}", refusal(r)),
    }
}

/// Folds `log` into a fresh fold, in the order written (the chain
/// reorders causally), as a member joining with all of it would.
fn refold(log: &[Vec<u8>], genesis: MessageId) -> Fold {
    let (mut chain, mut fold) = (ChainState::new(GROUP), Fold::new(GROUP, genesis));
    for bytes in log {
        let Ok(entry) = Entry::decode(bytes.clone()).and_then(Entry::verify) else { continue };
        let genesis = matches!(entry.message().body, Body::Genesis(_));
        let epoch = if genesis { EpochId(entry.id().0) } else { entry.message().epoch };
        for event in chain.ingest(entry, epoch) {
            match event {
                ChainEvent::Accepted(e) => drop(fold.insert_entry(&e)),
                ChainEvent::Equivocation(p) => {
                    drop(fold.equivocation(p.author(), p.first.message.seq))
                }
                _ => {}
            }
        }
    }
    fold
}

/// The vector of `sim`'s history, as node 0 folded it; checks that a fresh
/// fold of the same messages agrees.
fn vector(name: &str, sim: &Sim) -> Value {
    let fold = &sim.nodes[0].fold;
    let fresh = refold(&sim.log, sim.genesis);
    let mut messages = Vec::new();
    for bytes in &sim.log {
        let id = id_of(bytes);
        let verdict = verdict_text(fold.verdict(&id));
        assert_eq!(verdict, verdict_text(fresh.verdict(&id)), "{name}: refold disagrees");
        messages.push(
            json!({ "bytes": hex::encode(bytes), "id": hex::encode(id.0), "verdict": verdict }),
        );
    }
    let state = fold.state().expect("state");
    assert_eq!(fresh.state(), Some(state), "{name}: refold disagrees on the state");
    json!({
        "name": name,
        "genesis": hex::encode(sim.genesis.0),
        "group": hex::encode(GROUP.0),
        "messages": messages,
        "state": hex::encode(encode(state)),
        "state_hash": hex::encode(state.state_hash()),
    })
}

/// Compares `sim`'s history with `protocol-spec/vectors/fold/NAME.json`
/// (or writes it with `CAIRN_WRITE_VECTORS=1`).
pub(super) fn record(name: &str, sim: &Sim) {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../protocol-spec/vectors/fold");
    let path = dir.join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(&vector(name, sim)).expect("json") + "\n";
    if std::env::var_os("CAIRN_WRITE_VECTORS").is_some() {
        std::fs::create_dir_all(&dir).expect("vectors dir");
        std::fs::write(&path, &text).expect("write vector");
        return;
    }
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (CAIRN_WRITE_VECTORS=1 writes it)", path.display()));
    assert!(committed == text, "{} differs from what the fold gives today", path.display());
}
