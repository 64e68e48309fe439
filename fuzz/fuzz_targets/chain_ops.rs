//! Operation sequences against a reference model: writes, deliveries in any
//! order, tampered and foreign messages; after every step the chain's
//! accepted set, pending set and version vector equal the model's
//! (`cairn_proto::fuzzing::chain_ops`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cairn_proto::fuzzing::chain_ops(data));
