//! Writes the protocol test vectors to `protocol-spec/vectors/`.
//!
//! Run from the repository root:
//! `cargo run -p cairn-proto --example gen_vectors`
//! The output is deterministic; `tests/vectors.rs` fails if the committed
//! files differ from what the code produces.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs, unreachable_pub)]

#[path = "../tests/common/vectors.rs"]
mod vectors;

fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../protocol-spec/vectors");
    std::fs::create_dir_all(&dir)?;
    for (name, value) in vectors::all() {
        std::fs::write(dir.join(name), vectors::render(&value))?;
        println!("wrote protocol-spec/vectors/{name}");
    }
    Ok(())
}
