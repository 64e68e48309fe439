//! Key material of the private network's nodes: generated with `tor` and
//! `tor-gencert`, cached across runs.
//!
//! The cache holds one directory per node nickname with the files `tor`
//! needs (`keys/*`, `fingerprint`, `fingerprint-ed25519`). A run copies them
//! into its own data directories; `tor` never writes into the cache. Cached
//! keys are regenerated after [`MAX_AGE`] (authority certificates are made
//! valid for 12 months).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

/// Cached keys older than this are regenerated.
const MAX_AGE: Duration = Duration::from_secs(180 * 24 * 3600);

/// The passphrase of the throw-away authority identity keys.
const PASSPHRASE: &str = "cairn private test network";

/// Identities of one node, as read from its key files.
#[derive(Clone, Debug)]
pub(crate) struct NodeKeys {
    /// Directory (in the cache) holding `keys/` and the fingerprint files.
    pub(crate) dir: PathBuf,
    /// RSA identity fingerprint, 40 uppercase hex digits.
    pub(crate) rsa_fingerprint: String,
    /// ed25519 identity, unpadded base64.
    pub(crate) ed25519_identity: String,
    /// Authorities only: the v3 identity (fingerprint of the authority
    /// certificate), 40 uppercase hex digits.
    pub(crate) v3ident: Option<String>,
}

/// Returns the keys of `nickname`, generating them into `cache` if they are
/// missing or too old.
pub(crate) fn node_keys(cache: &Path, nickname: &str, authority: bool) -> Result<NodeKeys> {
    let dir = cache.join(nickname);
    if let Ok(keys) = read_keys(&dir, authority)
        && !too_old(&dir)
    {
        return Ok(keys);
    }
    // Generate beside the final place and rename: several test processes may
    // race here, and a half-written directory must never be used.
    fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    let tmp = cache.join(format!(".{nickname}.{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    generate(&tmp, authority).with_context(|| format!("generating keys for {nickname}"))?;
    let _ = fs::remove_dir_all(&dir);
    if fs::rename(&tmp, &dir).is_err() {
        // Another process won the race: use its keys.
        let _ = fs::remove_dir_all(&tmp);
    }
    read_keys(&dir, authority)
}

fn too_old(dir: &Path) -> bool {
    let created =
        fs::read_to_string(dir.join("created")).ok().and_then(|s| s.trim().parse::<u64>().ok());
    match (created, SystemTime::now().duration_since(UNIX_EPOCH)) {
        (Some(created), Ok(now)) => now.as_secs().saturating_sub(created) > MAX_AGE.as_secs(),
        _ => true,
    }
}

fn generate(dir: &Path, authority: bool) -> Result<()> {
    make_private_dir(dir)?;
    let status = Command::new("tor")
        .args(["--ignore-missing-torrc", "-f", "/nonexistent", "--orport", "1"])
        .arg("--datadirectory")
        .arg(dir)
        .args(["--list-fingerprint", "--quiet"])
        .stdout(Stdio::null())
        .status()
        .context("running `tor --list-fingerprint` (is Debian's `tor` installed?)")?;
    if !status.success() {
        bail!("`tor --list-fingerprint` failed: {status}");
    }
    if authority {
        let keys = dir.join("keys");
        let mut child = Command::new("tor-gencert")
            .args(["--create-identity-key", "--passphrase-fd", "0", "-m", "12"])
            .arg("-i")
            .arg(keys.join("authority_identity_key"))
            .arg("-s")
            .arg(keys.join("authority_signing_key"))
            .arg("-c")
            .arg(keys.join("authority_certificate"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .context("running `tor-gencert`")?;
        if let Some(mut stdin) = child.stdin.take() {
            writeln!(stdin, "{PASSPHRASE}").context("writing the passphrase to tor-gencert")?;
        }
        let status = child.wait().context("waiting for tor-gencert")?;
        if !status.success() {
            bail!("`tor-gencert` failed: {status}");
        }
    }
    let _ = fs::remove_file(dir.join("lock"));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    fs::write(dir.join("created"), format!("{now}\n")).context("writing the creation time")?;
    Ok(())
}

fn read_keys(dir: &Path, authority: bool) -> Result<NodeKeys> {
    let rsa = second_word(&dir.join("fingerprint"))?;
    let ed = second_word(&dir.join("fingerprint-ed25519"))?;
    let v3ident = if authority {
        let cert = dir.join("keys/authority_certificate");
        let text =
            fs::read_to_string(&cert).with_context(|| format!("reading {}", cert.display()))?;
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("fingerprint "))
            .with_context(|| format!("no fingerprint line in {}", cert.display()))?;
        Some(line.trim().to_owned())
    } else {
        None
    };
    Ok(NodeKeys {
        dir: dir.to_owned(),
        rsa_fingerprint: rsa,
        ed25519_identity: ed.trim_end_matches('=').to_owned(),
        v3ident,
    })
}

/// `Unnamed ABCD…` → `ABCD…` (the fingerprint files of `--list-fingerprint`).
fn second_word(path: &Path) -> Result<String> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let word =
        text.split_whitespace().nth(1).with_context(|| format!("malformed {}", path.display()))?;
    Ok(word.to_owned())
}

/// Copies the key files of `keys` into the fresh data directory `data`.
pub(crate) fn install(keys: &NodeKeys, data: &Path) -> Result<()> {
    make_private_dir(data)?;
    make_private_dir(&data.join("keys"))?;
    for name in ["fingerprint", "fingerprint-ed25519"] {
        copy_private(&keys.dir.join(name), &data.join(name))?;
    }
    let src = keys.dir.join("keys");
    for entry in fs::read_dir(&src).with_context(|| format!("listing {}", src.display()))? {
        let entry = entry.context("listing key files")?;
        copy_private(&entry.path(), &data.join("keys").join(entry.file_name()))?;
    }
    Ok(())
}

fn copy_private(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o600))
        .with_context(|| format!("chmod {}", to.display()))
}

/// Creates `dir` with mode 0700 (tor refuses group- or world-readable data
/// directories).
pub(crate) fn make_private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("chmod {}", dir.display()))
}
