//! Decode-only and round-trip, on arbitrary bytes: the signed-message and
//! equivocation-proof decoders never panic, accept only canonical encodings
//! (re-encoding gives back the input) and agree on the id
//! (`cairn_proto::fuzzing::message_decode`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cairn_proto::fuzzing::message_decode(data));
