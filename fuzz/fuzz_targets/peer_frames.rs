//! Byte streams into peer-channel sessions in every phase (before the
//! hello, before the welcome, open: raw and sealed by the peer): nothing
//! panics, every session is closed at the end of the stream, and a peer
//! message that decodes re-encodes to the same bytes
//! (`cairn_proto::fuzzing::peer_frames`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cairn_proto::fuzzing::peer_frames(data));
