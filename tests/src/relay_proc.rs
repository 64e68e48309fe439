//! Runs the real `cairn-relay` binary for tests outside the relay package.
//!
//! The binary is found next to the test executable's target directory
//! (`target/<profile>/cairn-relay`, built by any workspace test run) or at
//! `$CAIRN_RELAY_BIN`; if neither exists it is built once with cargo.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

/// A relay process on loopback (and optionally its onion service).
pub struct RelayProc {
    child: Child,
    /// `127.0.0.1:PORT` of its TCP listener, if it has one.
    pub tcp: Option<String>,
    /// `ADDRESS.onion:PORT` when the onion listener is on.
    pub onion: Option<String>,
    /// Its directory (config, data, log).
    pub dir: PathBuf,
}

/// The relay binary to run.
pub fn relay_binary() -> Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| find_or_build().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

fn find_or_build() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("CAIRN_RELAY_BIN") {
        return Ok(PathBuf::from(p));
    }
    // target/<profile>/deps/<test binary> → target/<profile>/cairn-relay
    let exe = std::env::current_exe()?;
    let profile_dir = exe.parent().and_then(Path::parent).context("test binary location")?;
    let bin = profile_dir.join("cairn-relay");
    if !bin.exists() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-j2", "-p", "cairn-relay", "--bin", "cairn-relay"])
            .status()
            .context("build cairn-relay")?;
        if !status.success() || !bin.exists() {
            bail!("cairn-relay could not be built at {}", bin.display());
        }
    }
    Ok(bin)
}

impl RelayProc {
    /// Starts a relay in `dir` listening on loopback TCP; `extra` is added
    /// to its TOML configuration (for example an `[tor]` section).
    pub fn start(dir: &Path, tcp: bool, onion: bool, extra: &str) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let data = dir.join("data");
        let tcp_line = if tcp { r#"tcp = ["127.0.0.1:0"]"# } else { "tcp = []" };
        let config = format!(
            "data_dir = {data:?}\n[listen]\n{tcp_line}\nonion = {onion}\nmetrics = \"127.0.0.1:0\"\n[log]\nlevel = \"warn\"\n{extra}"
        );
        let path = dir.join("relay.toml");
        std::fs::write(&path, config)?;
        let log = std::fs::File::options().create(true).append(true).open(dir.join("relay.log"))?;
        let mut child = Command::new(relay_binary()?)
            .args(["run", "--config"])
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("spawn cairn-relay")?;
        let (tcp, onion) = wait_ready(&mut child, dir)?;
        Ok(Self { child, tcp, onion, dir: dir.to_owned() })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the relay at once (SIGKILL) and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The relay's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("relay.log")).unwrap_or_default()
    }
}

impl Drop for RelayProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the start lines up to `ready`: the TCP and onion addresses.
fn wait_ready(child: &mut Child, dir: &Path) -> Result<(Option<String>, Option<String>)> {
    let stdout = child.stdout.take().context("relay stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(std::result::Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut tcp, mut onion) = (None, None);
    loop {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(120)) else {
            let log = std::fs::read_to_string(dir.join("relay.log")).unwrap_or_default();
            bail!("relay did not get ready; log:\n{log}");
        };
        if let Some(a) = line.strip_prefix("listening tcp ") {
            tcp = Some(a.to_owned());
        } else if let Some(a) = line.strip_prefix("listening onion ") {
            onion = Some(a.to_owned());
        } else if line == "ready" {
            return Ok((tcp, onion));
        }
    }
}
