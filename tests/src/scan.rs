//! Scanning files for secrets: raw bytes, hex, and base64 at every
//! alignment (OpenSSH and PEM key files are base64 with line breaks).
//!
//! Tests use it to show that a secret never reached the disk: point it at
//! every directory a component may write to.

use std::fs;
use std::path::{Path, PathBuf};

use data_encoding::{BASE64, BASE64URL_NOPAD, HEXLOWER, HEXUPPER};

/// A secret found in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The file.
    pub path: PathBuf,
    /// The name the caller gave the secret.
    pub secret: String,
    /// How it was encoded there (`raw`, `hex`, `base64`).
    pub encoding: &'static str,
}

/// Every file under `root` (recursively, without following symbolic links)
/// that contains one of `secrets` (name, bytes) in any of the encodings
/// above. Secrets shorter than 16 bytes are refused (false positives).
pub fn find_secrets(root: &Path, secrets: &[(&str, &[u8])]) -> std::io::Result<Vec<Finding>> {
    assert!(secrets.iter().all(|(_, s)| s.len() >= 16), "secret too short to scan for");
    let patterns: Vec<(&str, &'static str, Vec<u8>)> = secrets
        .iter()
        .flat_map(|(name, secret)| encodings(secret).into_iter().map(move |(e, p)| (*name, e, p)))
        .collect();
    let mut findings = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                let bytes = fs::read(entry.path())?;
                // Base64 may be wrapped: also look at the bytes without
                // ASCII whitespace.
                let squeezed: Vec<u8> =
                    bytes.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
                for (name, encoding, pattern) in &patterns {
                    if contains(&bytes, pattern) || contains(&squeezed, pattern) {
                        findings.push(Finding {
                            path: entry.path(),
                            secret: (*name).to_owned(),
                            encoding,
                        });
                    }
                }
            }
        }
    }
    Ok(findings)
}

/// The byte patterns whose presence reveals `secret`.
fn encodings(secret: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut out = vec![
        ("raw", secret.to_vec()),
        ("hex", HEXLOWER.encode(secret).into_bytes()),
        ("hex", HEXUPPER.encode(secret).into_bytes()),
    ];
    // A base64 encoding of any data containing `secret` contains, for the
    // secret's alignment within 3-byte groups, the encoding of the whole
    // groups inside it: try all three alignments.
    for skip in 0..3 {
        let whole = (secret.len() - skip) / 3 * 3;
        let part = &secret[skip..skip + whole];
        out.push(("base64", BASE64.encode(part).into_bytes()));
        out.push(("base64", BASE64URL_NOPAD.encode(part).into_bytes()));
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn finds_raw_hex_and_wrapped_base64_at_any_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect();
        for offset in 0..3 {
            let mut blob = vec![0x55u8; offset];
            blob.extend_from_slice(&secret);
            blob.extend_from_slice(b"tail");
            let text = BASE64.encode(&blob);
            // Wrapped at 70 columns like an OpenSSH key file.
            let wrapped: Vec<String> = text
                .as_bytes()
                .chunks(70)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            let body = format!("-----BEGIN X-----\n{}\n-----END X-----\n", wrapped.join("\n"));
            fs::write(dir.path().join(format!("b64-{offset}")), body).expect("write");
        }
        fs::create_dir(dir.path().join("sub")).expect("mkdir");
        fs::write(dir.path().join("sub/raw"), [b"x".as_slice(), &secret].concat()).expect("write");
        fs::write(dir.path().join("hex"), HEXUPPER.encode(&secret)).expect("write");
        fs::write(dir.path().join("clean"), [0u8; 100]).expect("write");

        let found = find_secrets(dir.path(), &[("k", &secret)]).expect("scan");
        let mut names: Vec<String> = found
            .iter()
            .map(|f| f.path.strip_prefix(dir.path()).expect("prefix").display().to_string())
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(names, ["b64-0", "b64-1", "b64-2", "hex", "sub/raw"]);
    }
}
