//! Onion services over a private Tor network (`cairn_tests::tornet`).
//!
//! One test function on purpose: nextest runs every test function in its
//! own process, and each process would bring up its own network (~20 s).
//! The phases below share one network and print the figures quoted in
//! `protocol-spec/transport.md`.
//!
//! Run alone with the figures shown:
//! `cargo nextest run -p cairn-tests --test tornet_onion --no-capture`.

// A shell: clocks and the OS RNG belong here, not in cairn-proto.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::future::Future;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arti_client::config::{CfgPath, TorClientConfigBuilder};
use arti_client::{TorClient, TorClientConfig};
use cairn_net::{
    ArtiConfig, ArtiTransport, BootstrapProgress, BoxStream, ErrorKind, IsolationKey, Listener,
    OnionListener, PeerAddr, TorNetwork, Transport,
};
use cairn_proto::identity::{Identity, MasterSeed};
use cairn_tests::scan::find_secrets;
use cairn_tests::tornet::TorNet;
use futures::StreamExt as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tor_llcrypto::pk::ed25519::{ExpandedKeypair, Keypair};

/// The virtual port of the test service.
const PORT: u16 = 7100;
/// Time allowed for any single network step.
const STEP: Duration = Duration::from_secs(60);
/// Time allowed for one connection attempt (a successful one takes about a
/// second here).
const ATTEMPT: Duration = Duration::from_secs(10);
const GROUP_A: IsolationKey = IsolationKey::from_bytes([0xa1; 32]);
const ROUND_TRIPS: usize = 21;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onion_services_on_a_private_tor_network() {
    init_tracing();
    let net = step_within(Duration::from_secs(150), "bring up the network", async {
        tokio::task::spawn_blocking(TorNet::shared).await.expect("join").expect("tor network")
    })
    .await;
    eprintln!("FIGURE {}", net.summary());
    eprint!("{}", net.consensus_flags());

    let identity = Identity::from_seed(MasterSeed::from_bytes([0x5e; 32]));
    let expected = identity.onion_address();
    let addr = PeerAddr::onion(&expected, PORT);

    // Independent clients: A hosts (on its own runtime, see `Host`), B
    // connects; D connects only after the restore.
    let b = ArtiTransport::new(&arti_config(&net, "b")).expect("transport B");
    let d = ArtiTransport::new(&arti_config(&net, "d")).expect("transport D");
    let (a, b_ready, d_ready) = tokio::join!(
        Host::start(arti_config(&net, "a"), identity.clone()),
        step("bootstrap B", b.bootstrap()),
        step("bootstrap D", d.bootstrap()),
    );
    b_ready.expect("bootstrap B");
    d_ready.expect("bootstrap D");
    let progress = &a.progress;
    assert!(progress.last().is_some_and(|p| p.percent == 100 && p.ready), "{progress:?}");
    eprintln!("A bootstrap: {} progress events, last {:?}", progress.len(), progress.last());

    // Reachable from B; framed echo.
    let mut stream = connect_until_reachable(&b, &addr, &GROUP_A).await;
    round_trip(&mut stream, b"first").await;
    let reachable = a.launched.elapsed();
    eprintln!("FIGURE onion service first reachable {:.2} s after launch", reachable.as_secs_f64());

    let mut rtts = Vec::new();
    for i in 0..ROUND_TRIPS {
        let t = Instant::now();
        round_trip(&mut stream, &[i as u8; 64]).await;
        rtts.push(t.elapsed());
    }
    rtts.sort();
    eprintln!(
        "FIGURE onion stream round trip (64-byte framed message): median {:.1} ms, \
         min {:.1} ms, max {:.1} ms over {ROUND_TRIPS}",
        ms(rtts[ROUND_TRIPS / 2]),
        ms(rtts[0]),
        ms(rtts[ROUND_TRIPS - 1]),
    );
    drop(stream);

    fail_closed(&net, &b).await;

    // Restore: A goes away; the same seed is hosted from a brand-new state
    // directory and must be reachable by a client that never saw A (D).
    a.stop().await;
    let c = Host::start(arti_config(&net, "c"), identity.clone()).await;
    let (d, mut stream) = reach_restored(&net, d, &addr).await;
    round_trip(&mut stream, b"after restore").await;
    eprintln!(
        "FIGURE restored onion service reachable from a fresh client {:.2} s after launch",
        c.launched.elapsed().as_secs_f64()
    );
    drop(stream);
    stale_client(&b, &addr, c.launched).await;
    c.stop().await;
    drop((b, d));
    // Let arti's tasks finish writing state before looking at the disk.
    tokio::time::sleep(Duration::from_millis(500)).await;

    no_key_on_disk(&net, &identity);
}

fn arti_config(net: &TorNet, name: &str) -> ArtiConfig {
    let mut config = ArtiConfig::new(
        net.scratch_dir(&format!("{name}-state")).expect("state dir"),
        net.scratch_dir(&format!("{name}-cache")).expect("cache dir"),
        TorNetwork::Custom(net.arti_config_path().to_owned()),
    );
    // A stuck attempt is retried sooner (see `connect_until_reachable`).
    config.connect_timeout = ATTEMPT;
    config
}

/// An onion service hosted with `identity`'s key on a tokio runtime of its
/// own. Stopping it shuts that runtime down, which drops every arti task
/// and closes every channel, as a machine that goes away would. (Dropping
/// only the transport leaves its introduction circuits open for a while:
/// clients holding the old descriptor are then introduced to a service
/// that never answers.)
struct Host {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
    /// When `launch_onion_service` was called.
    launched: Instant,
    /// Bootstrap progress events seen before the launch.
    progress: Vec<BootstrapProgress>,
}

impl Host {
    /// Bootstraps, launches the service, checks its address, and serves a
    /// framed echo until stopped.
    async fn start(config: ArtiConfig, identity: Identity) -> Host {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("host runtime");
            rt.block_on(async move {
                let transport = ArtiTransport::new(&config).expect("host transport");
                let events = collect_progress(&transport);
                step("bootstrap the host", transport.bootstrap()).await.expect("bootstrap host");
                let launched = Instant::now();
                let listener = transport
                    .launch_onion_service("cairn-peer", identity.onion_key(), PORT)
                    .expect("launch");
                assert_eq!(listener.onion_address(), &identity.onion_address(), "our address");
                let progress = events.await.expect("events");
                let _ = ready_tx.send((launched, progress));
                tokio::select! {
                    () = echo_server(listener) => {}
                    _ = stop_rx => {}
                }
                drop(transport);
            });
            rt.shutdown_timeout(Duration::from_secs(2));
        });
        let (launched, progress) = step("start a host", ready_rx).await.expect("host started");
        Host { stop, thread, launched, progress }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .expect("join")
            .expect("host thread panicked");
    }
}

/// Bootstrap progress events of `t` until it is ready.
fn collect_progress(t: &ArtiTransport) -> tokio::task::JoinHandle<Vec<BootstrapProgress>> {
    let mut events = t.bootstrap_events();
    tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(p) = events.next().await {
            let done = p.ready && p.percent == 100;
            seen.push(p);
            if done {
                break;
            }
        }
        seen
    })
}

/// B still holds A's descriptor and its circuits: report (without failing)
/// how long it takes to reach the restored service. arti sometimes keeps
/// waiting on a rendezvous circuit whose far end vanished with A.
async fn stale_client(b: &ArtiTransport, addr: &PeerAddr, launched: Instant) {
    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(Ok(mut stream)) =
                tokio::time::timeout(ATTEMPT + Duration::from_secs(5), b.connect(addr, &GROUP_A))
                    .await
                && write_frame(&mut stream, b"stale").await.is_ok()
                && read_frame(&mut stream).await.is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    match outcome {
        Ok(()) => eprintln!(
            "FIGURE client with A's stale descriptor reached the restored service {:.2} s after \
             launch",
            launched.elapsed().as_secs_f64()
        ),
        Err(_) => eprintln!(
            "FIGURE client with A's stale descriptor did NOT reach the restored service within 30 s"
        ),
    }
}

/// Connects until the service answers (its descriptor may not be on the
/// HSDirs yet): readiness is a successful connection, never arti's status.
async fn connect_until_reachable(
    t: &ArtiTransport,
    addr: &PeerAddr,
    iso: &IsolationKey,
) -> BoxStream {
    let stream = connect_within(t, addr, iso, STEP).await;
    stream.unwrap_or_else(|| panic!("onion service not reachable within {STEP:?}"))
}

/// Connects until the service answers or `limit` has passed.
async fn connect_within(
    t: &ArtiTransport,
    addr: &PeerAddr,
    iso: &IsolationKey,
    limit: Duration,
) -> Option<BoxStream> {
    let deadline = Instant::now() + limit;
    let mut attempts = 0;
    loop {
        attempts += 1;
        match tokio::time::timeout(ATTEMPT + Duration::from_secs(5), t.connect(addr, iso)).await {
            Ok(Ok(stream)) => {
                eprintln!("connected after {attempts} attempt(s)");
                return Some(stream);
            }
            Ok(Err(e)) => eprintln!("attempt {attempts}: {:?}: {}", e.kind(), chain(&e)),
            Err(_) => eprintln!("attempt {attempts}: timed out"),
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Reaches the restored service from a client that never talked to A.
///
/// Such a client can still fetch A's descriptor: C's upload races the
/// client's first fetch, and the HSDirs serve A's until C's replaces it.
/// arti refetches once when A's dead introduction points refuse it, then
/// leaves each HSDir it asked alone for 15 minutes
/// (`hs_dir_requery_interval`), keeping the stale descriptor meanwhile.
/// (The stale-client case is measured on its own below, without failing.)
/// A client stuck that way is replaced by a brand-new one, which also never
/// saw A; the test fails only if none of three reaches the service.
async fn reach_restored(
    net: &TorNet,
    first: ArtiTransport,
    addr: &PeerAddr,
) -> (ArtiTransport, BoxStream) {
    const CLIENTS: usize = 3;
    let mut client = first;
    let mut tried = 1;
    loop {
        if let Some(stream) = connect_within(&client, addr, &GROUP_A, STEP / 2).await {
            return (client, stream);
        }
        assert!(tried < CLIENTS, "the restored service was unreachable from {CLIENTS} new clients");
        eprintln!("restore: client {tried} did not reach the service; a brand-new client tries");
        client = ArtiTransport::new(&arti_config(net, &format!("d{tried}"))).expect("transport");
        step("bootstrap a fresh client", client.bootstrap()).await.expect("bootstrap");
        tried += 1;
    }
}

/// An error with its sources, for diagnostics.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// Serves a framed echo on every accepted stream.
async fn echo_server(mut listener: OnionListener) {
    loop {
        let Ok(mut stream) = listener.accept().await else { return };
        tokio::spawn(async move {
            while let Ok(msg) = read_frame(&mut stream).await {
                if write_frame(&mut stream, &msg).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Sends `msg` as one frame and checks that it comes back.
async fn round_trip(stream: &mut BoxStream, msg: &[u8]) {
    step("round trip", async {
        write_frame(stream, msg).await.expect("write");
        assert_eq!(read_frame(stream).await.expect("read"), msg);
    })
    .await;
}

/// A frame: a 4-byte big-endian length, then the bytes. Tor streams have
/// no half-close, so every message carries its own length.
async fn write_frame(stream: &mut BoxStream, msg: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(msg.len()).map_err(std::io::Error::other)?;
    stream.write_all(&len.to_be_bytes()).await?;
    stream.write_all(msg).await?;
    stream.flush().await
}

async fn read_frame(stream: &mut BoxStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > 1 << 16 {
        return Err(std::io::Error::other("frame too large"));
    }
    let mut msg = vec![0u8; len];
    stream.read_exact(&mut msg).await?;
    Ok(msg)
}

/// Non-onion addresses are refused by the transport, while a raw arti
/// client on the same network *can* reach the same local listener through
/// the exit relay: a transport that leaked would have been caught.
async fn fail_closed(net: &TorNet, b: &ArtiTransport) {
    let target = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    target.set_nonblocking(true).expect("nonblocking");
    let target_addr = target.local_addr().expect("addr");

    for a in [
        PeerAddr::Tcp(target_addr),
        "[::1]:80".parse().expect("v6"),
        "192.0.2.1:443".parse().expect("v4"),
    ] {
        let err = step("refusal", b.connect(&a, &GROUP_A)).await.err().expect("refused");
        assert_eq!(err.kind(), ErrorKind::Refused, "{a}: {err}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(target.accept().is_err(), "something connected to the target through the transport");

    // Positive control with plain arti.
    let raw = raw_arti_client(net).await;
    let _stream =
        step("raw arti connect through the exit", raw.connect(("127.0.0.1", target_addr.port())))
            .await
            .expect("raw arti reaches 127.0.0.1 through the exit");
    let accepted = step("accept the raw connection", async {
        loop {
            match target.accept() {
                Ok((_, from)) => return from,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await;
    eprintln!("control: plain arti reached the listener through the exit (from {accepted})");
}

/// A plain arti client on `net`, with no cairn restriction.
async fn raw_arti_client(net: &TorNet) -> Arc<TorClient<tor_rtcompat::PreferredRuntime>> {
    let text = std::fs::read_to_string(net.arti_config_path()).expect("arti config");
    let mut builder: TorClientConfigBuilder = toml::from_str(&text).expect("arti config TOML");
    let state = net.scratch_dir("raw-state").expect("dir");
    let cache = net.scratch_dir("raw-cache").expect("dir");
    builder.storage().state_dir(CfgPath::new_literal(state)).cache_dir(CfgPath::new_literal(cache));
    let config: TorClientConfig = builder.build().expect("config");
    step("bootstrap the raw client", TorClient::create_bootstrapped(config))
        .await
        .expect("raw bootstrap")
}

/// No file written by any client contains the onion key: neither the seed
/// nor arti's expanded form, raw, hex or base64.
fn no_key_on_disk(net: &TorNet, identity: &Identity) {
    let seed = identity.onion_key().as_bytes();
    let expanded = ExpandedKeypair::from(&Keypair::from_bytes(seed)).to_secret_key_bytes();
    let master = identity.seed().as_bytes();
    let secrets: [(&str, &[u8]); 5] = [
        ("onion key seed", seed),
        ("expanded onion key", &expanded),
        ("expanded onion key scalar", &expanded[..32]),
        ("expanded onion key prefix", &expanded[32..]),
        ("identity master seed", master),
    ];
    let scratch = net.scratch_root();
    let files = count_files(&scratch);
    let found = find_secrets(&scratch, &secrets).expect("scan");
    assert!(found.is_empty(), "secret on disk: {found:?}");
    eprintln!("no onion key in {files} files under the clients' state and cache directories");
    for name in ["a-state", "c-state"] {
        assert!(!scratch.join(name).join("keystore").exists(), "{name} has a keystore directory");
    }
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => count_files(&e.path()),
            Ok(t) if t.is_file() => 1,
            _ => 0,
        })
        .sum()
}

/// Runs one network step under [`STEP`].
async fn step<T>(what: &str, fut: impl Future<Output = T>) -> T {
    step_within(STEP, what, fut).await
}

async fn step_within<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no result within {limit:?}"),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// arti's onion-service client logs at debug level: nextest shows them only
/// when the test fails, and a failure to connect is then explained (which
/// descriptor, which introduction point, which error).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        "warn,tor_hsclient=debug,tor_netdir=error,tor_circmgr=error,tor_guardmgr=error".into()
    });
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}
