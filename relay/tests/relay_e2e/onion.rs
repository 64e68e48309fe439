//! The relay as an onion service (arti) on a private Tor network
//! (`cairn_tests::tornet`): posts and fetches through Tor, the address
//! printed at start and by `status`, the key kept across restarts and
//! never written anywhere else.
//!
//! One test function: each nextest process brings up its own network.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use cairn_net::{
    ArtiConfig, ArtiTransport, BoxStream, IsolationKey, PeerAddr, TorNetwork, Transport,
};
use cairn_proto::crypto::SigningKey;
use cairn_proto::identity::onion_address;
use cairn_proto::relay_proto::RelayEvent;
use cairn_proto::wire::Envelope;
use cairn_relay::client::RelayClient;
use cairn_relay::listener::onion_key::ONION_KEY_FILE;
use cairn_tests::scan::find_secrets;
use cairn_tests::tornet::TorNet;

use crate::harness::{BIN, RelayProc, Sealer, block_on, config, posted};

/// Any single network step.
const STEP: Duration = Duration::from_secs(90);
const ATTEMPT: Duration = Duration::from_secs(15);
const GROUP: IsolationKey = IsolationKey::from_bytes([0x0e; 32]);

#[test]
fn the_relay_serves_as_an_onion_service_on_a_private_tor_network() {
    let net = TorNet::shared().expect("private tor network");
    eprintln!("FIGURE {}", net.summary());
    let dir = tempfile::tempdir().expect("tempdir");
    let start = || {
        let c = config(dir.path(), |c| {
            c.listen.onion = true;
            c.tor.network_config = Some(net.arti_config_path().to_owned());
            c.log.level = cairn_relay::config::LogLevel::Debug;
        });
        RelayProc::start_config(dir.path(), c)
    };
    let t0 = Instant::now();
    let relay = start();
    let address = relay.onion.clone().expect("a `listening onion` line");
    let key = read_key(&relay.dir.join("data"));
    let expected = format!("{}:7447", onion_address(&key.public()).as_str());
    assert_eq!(address, expected, "the printed address is the key's");
    assert_status_shows(&relay, &address);

    let mut sealer = Sealer::new(1, b"onion");
    let sent: Vec<Envelope> = (0..5).map(|_| sealer.next()).collect();
    let mailbox = sealer.keys().mailbox;
    block_on(async {
        let client = ArtiTransport::new(&client_config(&net, "client-1")).expect("transport");
        step("bootstrap", client.bootstrap()).await.expect("bootstrap");
        let mut c = handshake(connect_until_reachable(&client, &address).await, &relay).await;
        eprintln!(
            "FIGURE relay onion service reachable {:.1} s after the relay started",
            t0.elapsed().as_secs_f64()
        );
        let mut pings = Vec::new();
        for _ in 0..11 {
            let t = Instant::now();
            let pong = step("ping", c.ping()).await.expect("ping");
            pings.push(t.elapsed());
            assert!(matches!(pong, RelayEvent::Pong { .. }), "{pong:?}");
        }
        pings.sort();
        eprintln!("FIGURE ping round trip over the onion service: median {:.1} ms", ms(pings[5]));
        let mut rtts = Vec::new();
        for (i, e) in sent.iter().enumerate() {
            let t = Instant::now();
            let reply = step("post", c.post(e, None)).await.expect("post");
            rtts.push(t.elapsed());
            assert_eq!(posted(&reply), i as u64 + 1);
        }
        rtts.sort();
        eprintln!(
            "FIGURE post round trip over the onion service: median {:.1} ms",
            ms(rtts[rtts.len() / 2])
        );
        let got = step("fetch", c.fetch_all(&mailbox, 0)).await.expect("fetch");
        assert_eq!(got.len(), sent.len());
        assert!(got.iter().zip(&sent).all(|((_, a), b)| a == b), "bytes differ");
    });

    // Restart: same key, same address, nothing lost.
    let status = relay.terminate(Duration::from_secs(20));
    assert!(status.success(), "clean stop: {status}");
    let relay = start();
    assert_eq!(relay.onion.as_deref(), Some(address.as_str()), "the address survives a restart");
    assert_eq!(read_key(&relay.dir.join("data")).public(), key.public());
    block_on(async {
        let client = ArtiTransport::new(&client_config(&net, "client-2")).expect("transport");
        step("bootstrap", client.bootstrap()).await.expect("bootstrap");
        let mut c = handshake(connect_until_reachable(&client, &address).await, &relay).await;
        let got = step("fetch", c.fetch_all(&mailbox, 0)).await.expect("fetch");
        assert_eq!(got.len(), sent.len(), "posts kept across the restart");
        match step("ping", c.ping()).await.expect("ping") {
            RelayEvent::Pong { .. } => {}
            other => panic!("expected a pong: {other:?}"),
        }
    });
    drop(relay);
    key_only_in_its_file(&dir.path().join("data"), &key);
}

fn read_key(data_dir: &Path) -> SigningKey {
    let bytes = std::fs::read(data_dir.join(ONION_KEY_FILE)).expect("onion key file");
    SigningKey::from_bytes(bytes.try_into().expect("32 bytes"))
}

fn assert_status_shows(relay: &RelayProc, address: &str) {
    let out = Command::new(BIN).arg("status").arg("--config").arg(&relay.config).output();
    let out = out.expect("status runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("onion {address}")), "status shows the onion address: {text}");
}

/// arti's state and cache under the data dir hold no copy of the key: the
/// relay hands it to arti's in-memory keystore.
fn key_only_in_its_file(data_dir: &Path, key: &SigningKey) {
    use tor_llcrypto::pk::ed25519::{ExpandedKeypair, Keypair};
    let expanded =
        ExpandedKeypair::from(&Keypair::from_bytes(key.as_bytes())).to_secret_key_bytes();
    let secrets: [(&str, &[u8]); 2] =
        [("onion key seed", key.as_bytes()), ("expanded onion key scalar", &expanded[..32])];
    let arti = data_dir.join("arti");
    assert!(arti.join("state").exists(), "arti state is under the data dir");
    let found = find_secrets(&arti, &secrets).expect("scan");
    assert!(found.is_empty(), "onion key outside {ONION_KEY_FILE}: {found:?}");
    assert!(!arti.join("state").join("keystore").exists(), "arti made an on-disk keystore");
}

fn client_config(net: &TorNet, name: &str) -> ArtiConfig {
    let mut c = ArtiConfig::new(
        net.scratch_dir(&format!("{name}-state")).expect("state dir"),
        net.scratch_dir(&format!("{name}-cache")).expect("cache dir"),
        TorNetwork::Custom(net.arti_config_path().to_owned()),
    );
    c.connect_timeout = ATTEMPT;
    c
}

/// Retries until the service answers: its descriptor reaches the HSDirs
/// only after the relay's arti has bootstrapped and launched it.
async fn connect_until_reachable(t: &ArtiTransport, address: &str) -> BoxStream {
    let addr: PeerAddr = address.parse().expect("an onion address");
    assert!(addr.is_onion());
    let deadline = Instant::now() + STEP;
    loop {
        match tokio::time::timeout(ATTEMPT + Duration::from_secs(5), t.connect(&addr, &GROUP)).await
        {
            Ok(Ok(stream)) => return stream,
            Ok(Err(e)) => eprintln!("not reachable yet: {e}"),
            Err(_) => eprintln!("connect attempt timed out"),
        }
        assert!(Instant::now() < deadline, "relay onion service not reachable within {STEP:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn handshake(stream: BoxStream, relay: &RelayProc) -> RelayClient {
    match step("handshake", RelayClient::handshake(Box::new(stream))).await {
        Ok(c) => c,
        Err(e) => panic!("relay handshake: {e:?}\nrelay log:\n{}", relay.log()),
    }
}

async fn step<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {STEP:?}"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
