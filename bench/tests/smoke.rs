//! CI smoke of the benchmark: tiny sizes, the JSON shape of every line and
//! every figure present. Asserts nothing about speed.

#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn every_line_is_a_figure_and_every_figure_is_there() {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn-bench"))
        .args(["--sizes", "200,400", "--members", "6", "--budget-ms", "20"])
        .output()
        .expect("cairn-bench runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut names = Vec::new();
    for line in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let o = v.as_object().expect("an object");
        let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["limit_name", "limit_value", "name", "ratio", "unit", "value"], "{line}");
        for k in ["value", "limit_value", "ratio"] {
            assert!(o[k].as_f64().is_some_and(f64::is_finite), "{k} in {line}");
        }
        for k in ["name", "unit", "limit_name"] {
            assert!(o[k].is_string(), "{k} in {line}");
        }
        names.push(o["name"].as_str().unwrap().to_owned());
    }
    let mut expected: Vec<String> = [
        "limit.ed25519_verify_single",
        "limit.ed25519_verify_batch64_3keys",
        "limit.ed25519_sign",
        "limit.xchacha20poly1305_seal_2000B",
        "limit.xchacha20poly1305_open_2000B",
        "limit.x25519_dh",
        "limit.tcp_loopback_rtt",
        "fold.remove.6",
        "fold.remove_envelopes.6",
        "fold.apply_removal.6",
    ]
    .map(String::from)
    .to_vec();
    for figure in ["apply", "write", "persist", "causal", "open", "sync.peer", "sync.relay"] {
        for size in [200, 400] {
            expected.push(format!("{figure}.{size}"));
            expected.push(format!("{figure}.growth.{size}"));
        }
    }
    for figure in ["apply_vs_crypto", "memory"] {
        expected.extend([200, 400].map(|size| format!("{figure}.{size}")));
    }
    for figure in ["first_screen", "first_view", "rebuild", "rss", "key_p50", "key_p99"] {
        expected.extend([200, 400].map(|size| format!("client.{figure}.{size}")));
    }
    expected.push("client.rss_10_groups.200".into());
    for figure in ["relay.ingest", "relay.fetch", "relay.disk", "relay.rss"] {
        expected.extend([200, 400].map(|size| format!("{figure}.{size}")));
    }
    for name in &expected {
        assert!(names.contains(name), "{name} missing from:\n{stdout}");
    }
    assert_eq!(names.len(), expected.len(), "unexpected figures:\n{stdout}");
}

#[test]
fn an_unknown_figure_group_is_refused_with_the_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn-bench"))
        .args(["--only", "apply,nonsense"])
        .output()
        .expect("cairn-bench runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no figure group nonsense") && stderr.contains("usage"), "{stderr}");
    assert!(out.stdout.is_empty(), "figures printed before the refusal");
}
