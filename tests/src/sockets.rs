//! The sockets a process holds, from `/proc`: for fail-closed checks ("this
//! process talked to nothing but the local Tor network").
//!
//! `/proc/<pid>/net/{tcp,tcp6,udp,udp6}` list every socket of the network
//! namespace; the process's own are those whose inode appears as
//! `socket:[inode]` among its file descriptors.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::{Context, Result};

/// One socket of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    /// `tcp`, `tcp6`, `udp` or `udp6`.
    pub table: &'static str,
    /// Local address.
    pub local: SocketAddr,
    /// Remote address (unspecified for listeners and unconnected UDP).
    pub remote: SocketAddr,
    /// The kernel's state number (TCP: 1 established, 10 listen).
    pub state: u8,
}

impl Socket {
    /// Whether both ends are loopback (or the remote end is unset).
    pub fn is_loopback_only(&self) -> bool {
        self.local.ip().is_loopback()
            && (self.remote.ip().is_loopback() || self.remote.ip().is_unspecified())
    }
}

/// Every TCP and UDP socket `pid` holds now.
pub fn sockets_of(pid: u32) -> Result<Vec<Socket>> {
    let inodes = socket_inodes(pid)?;
    let mut out = Vec::new();
    for table in ["tcp", "tcp6", "udp", "udp6"] {
        let path = format!("/proc/{pid}/net/{table}");
        let text = std::fs::read_to_string(&path).with_context(|| path.clone())?;
        for line in text.lines().skip(1) {
            if let Some((inode, socket)) = parse_line(table, line)
                && inodes.contains(&inode)
            {
                out.push(socket);
            }
        }
    }
    Ok(out)
}

fn socket_inodes(pid: u32) -> Result<BTreeSet<u64>> {
    let mut inodes = BTreeSet::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).context("read fds")? {
        let Ok(target) = std::fs::read_link(fd?.path()) else { continue };
        let t = target.to_string_lossy();
        if let Some(n) = t.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) {
            inodes.insert(n.parse()?);
        }
    }
    Ok(inodes)
}

/// `sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...`
fn parse_line(table: &'static str, line: &str) -> Option<(u64, Socket)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let local = parse_addr(f.get(1)?)?;
    let remote = parse_addr(f.get(2)?)?;
    let state = u8::from_str_radix(f.get(3)?, 16).ok()?;
    let inode = f.get(9)?.parse().ok()?;
    Some((inode, Socket { table, local, remote, state }))
}

/// `0100007F:1F90` (IPv4, little-endian words) or 32 hex digits for IPv6.
fn parse_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(u32::from_str_radix(ip, 16).ok()?.swap_bytes())),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&word.swap_bytes().to_be_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_listener_and_a_connection_of_this_process_are_found() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = std::net::TcpStream::connect(addr).expect("connect");
        let sockets = sockets_of(std::process::id()).expect("sockets");
        assert!(sockets.iter().any(|s| s.local == addr && s.state == 10), "{sockets:?}");
        let c = client.local_addr().expect("client addr");
        assert!(sockets.iter().any(|s| s.local == c && s.remote == addr), "{sockets:?}");
        assert!(sockets.iter().all(Socket::is_loopback_only));
    }

    #[test]
    fn addresses_parse() {
        assert_eq!(parse_addr("0100007F:1F90"), Some("127.0.0.1:8080".parse().expect("addr")));
        assert_eq!(
            parse_addr("00000000000000000000000001000000:0016"),
            Some("[::1]:22".parse().expect("addr"))
        );
        assert_eq!(parse_addr("zz:1"), None);
    }
}
