//! Runs the real `cairn-relay` binary on loopback and talks to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cairn_proto::crypto::XofRng;
use cairn_proto::relay_proto::RelayEvent;
use cairn_proto::wire::{Envelope, EpochKeys, fragment_message};
use cairn_relay::Config;
use cairn_relay::client::RelayClient;
use zeroize::Zeroizing;

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_cairn-relay");

/// A relay process serving a data directory.
pub(crate) struct RelayProc {
    child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) metrics: SocketAddr,
    /// `ADDRESS.onion:PORT` when the onion listener is on.
    pub(crate) onion: Option<String>,
    pub(crate) config: PathBuf,
    pub(crate) dir: PathBuf,
}

/// The test configuration: loopback, free ports, quick sweeps, `tune`d.
pub(crate) fn config(dir: &Path, tune: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config { data_dir: dir.join("data"), ..Config::default() };
    c.listen.tcp = vec!["127.0.0.1:0".parse().expect("addr")];
    c.listen.metrics = "127.0.0.1:0".parse().expect("addr");
    c.log.level = cairn_relay::config::LogLevel::Warn;
    c.storage.cache_bytes = 4 << 20;
    tune(&mut c);
    c
}

impl RelayProc {
    /// Starts a relay on `dir` (its config and data live there).
    pub(crate) fn start(dir: &Path, tune: impl FnOnce(&mut Config)) -> Self {
        Self::start_config(dir, config(dir, tune))
    }

    /// Starts a relay with exactly `config`.
    pub(crate) fn start_config(dir: &Path, config: Config) -> Self {
        Self::spawn(dir, config, None)
    }

    /// Starts a relay whose files cannot grow beyond `bytes` (`ulimit -f`,
    /// with `SIGXFSZ` ignored so a write past it fails as on a full disk).
    pub(crate) fn start_with_file_limit(dir: &Path, config: Config, bytes: u64) -> Self {
        Self::spawn(dir, config, Some(bytes))
    }

    fn spawn(dir: &Path, config: Config, file_limit: Option<u64>) -> Self {
        let path = dir.join("relay.toml");
        std::fs::write(&path, toml::to_string(&config).expect("config to toml")).expect("write");
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(dir.join("relay.log"))
            .expect("log file");
        let mut command = match file_limit {
            None => Command::new(BIN),
            Some(bytes) => {
                let mut sh = Command::new("sh");
                let blocks = (bytes / 512).to_string();
                sh.args(["-c", r#"trap "" XFSZ; ulimit -f "$0"; exec "$@""#, &blocks, BIN]);
                sh
            }
        };
        let mut child = command
            .arg("run")
            .arg("--config")
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn cairn-relay");
        let ready = wait_ready(&mut child, dir);
        Self {
            child,
            addr: ready.addr.expect("a tcp listener"),
            metrics: ready.metrics.expect("metrics"),
            onion: ready.onion,
            config: path,
            dir: dir.to_owned(),
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the relay process.
    pub(crate) fn rss(&self) -> u64 {
        cairn_relay::metrics::rss_of(&self.pid().to_string()).expect("VmRSS")
    }

    /// A counter from the metrics endpoint.
    pub(crate) fn metric(&self, name: &str) -> u64 {
        let text = cairn_relay::metrics::fetch(self.metrics).expect("metrics");
        cairn_relay::metrics::value_of(&text, name).unwrap_or_else(|| panic!("no metric {name}"))
    }

    /// Still running?
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL and reap.
    pub(crate) fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
    }

    /// SIGTERM, then wait for the exit (at most `within`).
    pub(crate) fn terminate(mut self, within: Duration) -> ExitStatus {
        let pid = self.pid().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
        assert!(sent.success());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(start.elapsed() < within, "relay did not exit within {within:?} of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The relay's log so far (for failure messages).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("relay.log")).unwrap_or_default()
    }
}

impl Drop for RelayProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the relay printed at start.
#[derive(Default)]
struct Ready {
    addr: Option<SocketAddr>,
    metrics: Option<SocketAddr>,
    onion: Option<String>,
}

/// Reads the start lines: `listening tcp ADDR`, `listening onion ADDR`,
/// `metrics http://ADDR/metrics`, `ready`.
fn wait_ready(child: &mut Child, dir: &Path) -> Ready {
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut ready = Ready::default();
    loop {
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
            let log = std::fs::read_to_string(dir.join("relay.log")).unwrap_or_default();
            panic!("relay did not get ready; log:\n{log}")
        });
        if let Some(a) = line.strip_prefix("listening tcp ") {
            ready.addr = Some(a.parse().expect("listen addr"));
        } else if let Some(a) = line.strip_prefix("listening onion ") {
            ready.onion = Some(a.to_owned());
        } else if let Some(m) = line.strip_prefix("metrics http://") {
            ready.metrics = Some(m.trim_end_matches("/metrics").parse().expect("metrics addr"));
        } else if line == "ready" {
            return ready;
        }
    }
}

/// Runs a future on a fresh two-thread runtime.
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// The epoch keys of test mailbox `n`.
pub(crate) fn keys(n: u32) -> EpochKeys {
    let mut secret = [0u8; 32];
    secret[..4].copy_from_slice(&n.to_le_bytes());
    secret[31] = 0xe2;
    EpochKeys::derive(&Zeroizing::new(secret))
}

/// Makes signed envelopes for one mailbox.
pub(crate) struct Sealer {
    keys: EpochKeys,
    rng: XofRng,
    n: u64,
}

impl Sealer {
    pub(crate) fn new(mailbox: u32, seed: &[u8]) -> Self {
        Self { keys: keys(mailbox), rng: XofRng::from_seed(seed), n: 0 }
    }

    pub(crate) fn keys(&self) -> &EpochKeys {
        &self.keys
    }

    /// The next envelope (distinct every time).
    pub(crate) fn next(&mut self) -> Envelope {
        self.n += 1;
        let text = format!("message {}", self.n);
        let frag = fragment_message(&mut self.rng, text.as_bytes()).expect("split").remove(0);
        Envelope::seal(&mut self.rng, &self.keys, &frag)
    }
}

/// Connects a relay client.
pub(crate) async fn connect(addr: SocketAddr) -> RelayClient {
    RelayClient::connect(addr).await.expect("connect and handshake")
}

/// The cursor of a `Posted` reply.
pub(crate) fn posted(event: &RelayEvent) -> u64 {
    match event {
        RelayEvent::Posted { cursor, .. } => *cursor,
        other => panic!("expected Posted, got {other:?}"),
    }
}

/// Raw TCP to the relay, with timeouts.
pub(crate) fn raw(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    s.set_write_timeout(Some(Duration::from_secs(10))).expect("timeout");
    s
}

/// Reads until the relay closes the connection; returns what it sent.
pub(crate) fn until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) => out,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => out,
        Err(e) => panic!("relay did not close the connection: {e}"),
    }
}

/// Writes ignoring a reset (the relay may close first).
pub(crate) fn send_raw(s: &mut TcpStream, bytes: &[u8]) {
    let _ = s.write_all(bytes);
}
