//! Decode-only and round-trip, on arbitrary UTF-8 text: `parse_recovery`
//! never panics, and a seed that parses re-encodes with `recovery_string` to
//! text that parses back to the same seed (`cairn_proto::fuzzing::recovery`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| cairn_proto::fuzzing::recovery(text));
