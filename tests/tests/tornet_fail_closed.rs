//! The Tor transport refuses non-onion addresses without opening a socket.
//!
//! No Tor network is needed: the refusal happens before arti is asked for
//! anything. Its own test binary, so that no other test opens sockets in
//! this process while the sockets are counted.

// A shell: clocks and the OS RNG belong here, not in cairn-proto.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

use cairn_net::{
    ArtiConfig, ArtiTransport, Error, IsolationKey, PeerAddr, Refusal, TorNetwork, Transport,
};

/// Sockets this process has open (`/proc/self/fd/* -> socket:[inode]`).
fn open_sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .flatten()
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_onion_addresses_are_refused_without_a_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config =
        ArtiConfig::new(dir.path().join("state"), dir.path().join("cache"), TorNetwork::Public);
    let transport = ArtiTransport::new(&config).expect("transport");
    // A local target that would see any connection attempt.
    let target = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    target.set_nonblocking(true).expect("nonblocking");
    let group = IsolationKey::from_bytes([3; 32]);

    let before = open_sockets();
    let addrs = [
        PeerAddr::Tcp(target.local_addr().expect("addr")),
        "[::1]:443".parse().expect("v6"),
        "192.0.2.7:80".parse().expect("v4"),
        "0.0.0.0:9050".parse().expect("any"),
    ];
    for addr in &addrs {
        let result = tokio::time::timeout(Duration::from_secs(5), transport.connect(addr, &group))
            .await
            .expect("refusal is immediate");
        assert!(matches!(result, Err(Error::Refused(Refusal::NotOnion))), "{addr} was not refused");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(open_sockets(), before, "a socket was opened");
    assert!(target.accept().is_err(), "something connected to the target");
    assert_eq!(transport.bootstrap_progress().percent, 0, "arti was never started");
}
