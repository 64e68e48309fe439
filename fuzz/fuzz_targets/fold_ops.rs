//! Operation sequences against the group fold: members and a key never
//! admitted write governance messages, citing the heads or backdating;
//! two folds take them in different causal orders and must agree, and the
//! never-admitted key must leave nothing (`cairn_proto::fuzzing::fold_ops`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cairn_proto::fuzzing::fold_ops(data));
