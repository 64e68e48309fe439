//! Decode-only and round-trip, on arbitrary bytes: envelope parsing, the
//! relay's write-signature check, opening under a fixed epoch key, fragment
//! decoding and reassembly never panic; a fragment that decodes re-encodes to
//! the same bytes (`cairn_proto::fuzzing::envelope_decode`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cairn_proto::fuzzing::envelope_decode(data));
