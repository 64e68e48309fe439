//! Polling a directory authority for the consensus, over plain HTTP.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// Flags every node must have: all of them are HSDirs, so that every
/// client and service agrees on the HSDir ring from the first consensus.
const EVERY_NODE: [&str; 3] = ["HSDir", "Running", "Valid"];

/// arti builds onion-service circuits (guard, second-layer vanguard,
/// middle, then the target) from distinct `Fast` + `Stable` relays: four of
/// them are needed in case the target is one. Authorities give `Stable` to
/// nodes whose uptime is at least the median, `Fast` to all but the slowest
/// eighth, so a young network has only some such relays.
const HS_CAPABLE: [&str; 2] = ["Fast", "Stable"];
const MIN_HS_CAPABLE: usize = 4;

/// Fetches the current consensus (the full flavor, which relays use) from
/// the DirPort `port`. `None` while the node has none yet.
pub(crate) fn fetch(port: u16) -> Option<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(
            b"GET /tor/status-vote/current/consensus HTTP/1.0\r\n\
              Host: 127.0.0.1\r\n\r\n",
        )
        .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200").then(|| body.to_owned())
}

/// Whether `consensus` lists all of `nodes` (nicknames; `exits` among them)
/// with flags that let arti host and reach onion services (and use every
/// exit). `Err` says what is missing.
pub(crate) fn check_ready(consensus: &str, nodes: &[&str], exits: &[&str]) -> Result<(), String> {
    let flags = flags(consensus);
    let has = |nick: &str, wanted: &[&str]| {
        flags.get(nick).is_some_and(|f| wanted.iter().all(|w| f.contains(*w)))
    };
    let missing: Vec<&str> = nodes.iter().copied().filter(|n| !has(n, &EVERY_NODE)).collect();
    if !missing.is_empty() {
        return Err(format!("not yet listed with {EVERY_NODE:?}: {missing:?}"));
    }
    // An exit's first descriptor may still say `reject 1-65535` (C tor
    // publishes before its DNS setup is done); arti would never pick it.
    let policies = exit_policies(consensus);
    let closed: Vec<&str> = exits
        .iter()
        .copied()
        .filter(|n| {
            !has(n, &["Fast"]) || !policies.get(*n).is_some_and(|p| p.starts_with("accept"))
        })
        .collect();
    if !closed.is_empty() {
        return Err(format!("exits not yet Fast and open: {closed:?} ({policies:?})"));
    }
    let capable: Vec<&str> = nodes.iter().copied().filter(|n| has(n, &HS_CAPABLE)).collect();
    let guard = capable.iter().any(|n| has(n, &["Guard"]));
    if capable.len() < MIN_HS_CAPABLE || !guard {
        return Err(format!(
            "need {MIN_HS_CAPABLE} nodes with {HS_CAPABLE:?}, one a Guard; have {capable:?}; \
             flags: {flags:?}"
        ));
    }
    Ok(())
}

/// The exit policy summary (`p` line) of every node listed in `consensus`.
fn exit_policies(consensus: &str) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    let mut current: Option<&str> = None;
    for line in consensus.lines() {
        if let Some(rest) = line.strip_prefix("r ") {
            current = rest.split_whitespace().next();
        } else if let Some(policy) = line.strip_prefix("p ")
            && let Some(nick) = current
        {
            all.insert(nick.to_owned(), policy.to_owned());
        }
    }
    all
}

/// The flags of every node listed in `consensus`, by nickname.
pub(crate) fn flags(consensus: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut all = BTreeMap::new();
    let mut current: Option<&str> = None;
    for line in consensus.lines() {
        if let Some(rest) = line.strip_prefix("r ") {
            current = rest.split_whitespace().next();
        } else if let Some(flags) = line.strip_prefix("s ")
            && let Some(nick) = current.take()
        {
            all.insert(nick.to_owned(), flags.split_whitespace().map(str::to_owned).collect());
        }
    }
    all
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn readiness_needs_hsdirs_and_four_fast_stable_relays() {
        let consensus = |relay1: &str| {
            format!(
                "network-status-version 3 microdesc\n\
                 r auth0 AAAA 2026-01-01 00:00:00 127.0.0.1 5000 0\n\
                 m abc\n\
                 s Authority Fast Guard HSDir Running Stable V2Dir Valid\n\
                 r auth1 BBBB 2026-01-01 00:00:00 127.0.0.1 5002 0\n\
                 s Authority Fast HSDir Running Stable Valid\n\
                 r relay0 CCCC 2026-01-01 00:00:00 127.0.0.1 5004 0\n\
                 s Fast HSDir Running Stable Valid\n\
                 r relay1 DDDD 2026-01-01 00:00:00 127.0.0.1 5006 0\n\
                 s {relay1}\n\
                 r exit0 EEEE 2026-01-01 00:00:00 127.0.0.1 5008 0\n\
                 s Exit Fast HSDir Running Valid\n\
                 p accept 1-65535\n"
            )
        };
        let nodes = ["auth0", "auth1", "relay0", "relay1", "exit0"];
        let ok = consensus("Fast HSDir Running Stable Valid");
        assert_eq!(check_ready(&ok, &nodes, &["exit0"]), Ok(()));
        // relay1 not Stable: three capable relays are not enough.
        let few = consensus("Fast HSDir Running Valid");
        assert!(check_ready(&few, &nodes, &["exit0"]).is_err());
        // relay1 not an HSDir yet.
        let no_hsdir = consensus("Fast Running Stable Valid");
        assert!(check_ready(&no_hsdir, &nodes, &["exit0"]).is_err());
        assert!(check_ready(&ok, &[&nodes[..], &["relay9"]].concat(), &["exit0"]).is_err());
    }
}
