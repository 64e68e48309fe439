//! Peer addresses: a v3 onion address and port, or a socket address (for
//! the loopback transport). Host names are not addresses here: cairn never
//! resolves names.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use cairn_proto::identity::{BadOnionAddress, OnionAddress};

use crate::Error;

/// Where a peer listens.
///
/// `Debug` hides onion addresses (they identify people); `Display` shows the
/// full address and is for places the user asked to see it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum PeerAddr {
    /// A v3 onion service: its checked, lowercase `<56 chars>.onion` host
    /// and a virtual port.
    Onion {
        /// The onion address, with the `.onion` suffix.
        host: String,
        /// The virtual port.
        port: u16,
    },
    /// A TCP socket address (loopback transport only).
    Tcp(SocketAddr),
}

impl PeerAddr {
    /// The address of the onion service with `address` at `port`.
    pub fn onion(address: &OnionAddress, port: u16) -> Self {
        PeerAddr::Onion { host: address.as_str().to_owned(), port }
    }

    /// Whether this is an onion address.
    pub fn is_onion(&self) -> bool {
        matches!(self, PeerAddr::Onion { .. })
    }
}

impl FromStr for PeerAddr {
    type Err = Error;

    /// Parses `<56 chars>.onion:PORT` (checksum and version checked) or an
    /// IP socket address such as `127.0.0.1:7000`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let (host, port) = s.rsplit_once(':').ok_or(Error::BadAddress("no port"))?;
        if host.to_ascii_lowercase().ends_with(".onion") {
            let port = port.parse::<u16>().map_err(|_| Error::BadAddress("bad port"))?;
            return Ok(PeerAddr::Onion { host: check_onion(host)?, port });
        }
        s.parse::<SocketAddr>()
            .map(PeerAddr::Tcp)
            .map_err(|_| Error::BadAddress("neither an onion address nor an IP socket address"))
    }
}

/// Checks a v3 onion host (rend-spec-v3, "Encoding onion addresses") and
/// returns it in lowercase.
fn check_onion(host: &str) -> Result<String, Error> {
    match OnionAddress::parse(host) {
        Ok(address) => Ok(address.as_str().to_owned()),
        Err(BadOnionAddress::NoOnionSuffix) => Err(Error::BadAddress("not an onion address")),
        Err(BadOnionAddress::NotBase32) => Err(Error::BadAddress("onion address is not base32")),
        Err(BadOnionAddress::Checksum) => {
            Err(Error::BadAddress("onion address checksum or version is wrong"))
        }
        Err(_) => Err(Error::BadAddress("not a v3 onion address")),
    }
}

impl fmt::Debug for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddr::Onion { port, .. } => write!(f, "Onion(<redacted>:{port})"),
            PeerAddr::Tcp(addr) => write!(f, "Tcp({addr})"),
        }
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddr::Onion { host, port } => write!(f, "{host}:{port}"),
            PeerAddr::Tcp(addr) => write!(f, "{addr}"),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// C tor's test vector (see `cairn_proto::identity`).
    const VECTOR: &str = "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion";

    #[test]
    fn onion_addresses_are_checked() {
        let addr: PeerAddr = format!("{}:80", VECTOR.to_ascii_uppercase()).parse().expect("valid");
        assert_eq!(addr, PeerAddr::Onion { host: VECTOR.to_owned(), port: 80 });
        assert_eq!(format!("{addr:?}"), "Onion(<redacted>:80)");
        assert_eq!(addr.to_string(), format!("{VECTOR}:80"));

        // One changed character breaks the checksum.
        let bad = VECTOR.replacen('2', "3", 1);
        assert!(format!("{bad}:80").parse::<PeerAddr>().is_err());
        assert!("abc.onion:80".parse::<PeerAddr>().is_err());
        assert!(format!("{VECTOR}:x").parse::<PeerAddr>().is_err());
    }

    #[test]
    fn host_names_are_not_addresses() {
        assert!("example.com:80".parse::<PeerAddr>().is_err());
        assert!("localhost:80".parse::<PeerAddr>().is_err());
        assert_eq!(
            "127.0.0.1:80".parse::<PeerAddr>().expect("ip"),
            PeerAddr::Tcp(([127, 0, 0, 1], 80).into())
        );
        assert!("[::1]:80".parse::<PeerAddr>().is_ok());
    }
}
