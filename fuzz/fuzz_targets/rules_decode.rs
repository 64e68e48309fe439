//! Decode-only and round-trip, on arbitrary bytes: `Rules::decode` never
//! panics, accepts only canonical encodings (re-encoding gives back the
//! input), and rules it accepts survive the TOML form unchanged
//! (`cairn_proto::fuzzing::rules_decode`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cairn_proto::fuzzing::rules_decode(data));
