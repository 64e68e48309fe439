//! Decode-only and round-trip, on arbitrary UTF-8 text: `Rules::from_toml`
//! never panics, and rules it accepts read back from their TOML form and
//! their binary form to equal rules, the binary form re-encoding to the same
//! bytes (`cairn_proto::fuzzing::rules_toml`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| cairn_proto::fuzzing::rules_toml(text));
