//! torrc files of the private network (the recipe of `TORNET.md`).

use std::fmt::Write as _;
use std::path::Path;

use super::keys::NodeKeys;

/// The role of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Directory authority (also a relay).
    Authority,
    /// Middle relay (no exit).
    Relay,
    /// Exit relay that exits anywhere, 127.0.0.0/8 included. (arti picks
    /// exits by the port summary of their microdescriptors, which ignores
    /// private addresses: an exit that accepts only 127.0.0.0/8 is never
    /// chosen.) It also serves circuits from relays missing from its own
    /// consensus (`RefuseUnknownExits 0`): relays fetch the consensus with
    /// backoff and may not have it when the tests start.
    Exit,
}

/// One node of the network.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) nickname: String,
    pub(crate) role: Role,
    pub(crate) or_port: u16,
    pub(crate) dir_port: u16,
    pub(crate) keys: NodeKeys,
}

/// Seconds between consensus votes. 20 s gets a first consensus quickly;
/// C tor clients then disagree with arti about the onion-service time period
/// (see `TORNET.md`), so only arti may talk to onion services here.
///
/// The first consensus comes from the same interval on purpose: arti derives
/// the onion-service time period's offset (and from it the descriptor
/// revision counter) from the consensus voting interval, so a shorter
/// initial interval gave a restarted service lower revision counters than
/// its earlier run, and HSDirs kept serving the stale descriptor.
const VOTING_INTERVAL: u32 = 20;

/// The torrc of `node`, whose data directory is `data_dir`. `owner` is the
/// process whose death makes tor exit (`__OwningControllerProcess`).
pub(crate) fn torrc(node: &Node, nodes: &[Node], data_dir: &Path, owner: u32) -> String {
    let authorities = nodes.iter().filter(|n| n.role == Role::Authority);
    // Exits are not guards: with a single exit that is also a client's
    // guard, arti can build no exit circuit at all.
    let guards: Vec<&str> =
        nodes.iter().filter(|n| n.role != Role::Exit).map(|n| n.nickname.as_str()).collect();
    let guards = guards.join(",");
    let dir = data_dir.display();
    let nick = &node.nickname;
    let mut t = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        t,
        "TestingTorNetwork 1\n\
         PathsNeededToBuildCircuits 0.67\n\
         TestingDirAuthVoteExit *\n\
         TestingDirAuthVoteHSDir *\n\
         TestingDirAuthVoteGuard {guards}\n\
         TestingDirAuthVoteGuardIsStrict 1\n\
         TestingMinExitFlagThreshold 0\n\
         V3AuthNIntervalsValid 2\n\
         DataDirectory {dir}\n\
         RunAsDaemon 1\n\
         PidFile {dir}/pid\n\
         Log notice file {dir}/notice.log\n\
         Nickname {nick}\n\
         ShutdownWaitLength 0\n\
         SafeLogging 0\n\
         Sandbox 0\n\
         __OwningControllerProcess {owner}\n\
         SocksPort 0\n\
         ORPort 127.0.0.1:{or}\n\
         Address 127.0.0.1\n\
         DirPort 127.0.0.1:{dirport}\n\
         AssumeReachable 1\n\
         ServerDNSDetectHijacking 0\n\
         ServerDNSTestAddresses\n\
         ServerDNSResolvConfFile /dev/null\n",
        or = node.or_port,
        dirport = node.dir_port,
    );
    for a in authorities {
        let _ = writeln!(
            t,
            "DirAuthority {} orport={} no-v2 v3ident={} 127.0.0.1:{} {}",
            a.nickname,
            a.or_port,
            a.keys.v3ident.as_deref().unwrap_or_default(),
            a.dir_port,
            a.keys.rsa_fingerprint,
        );
    }
    match node.role {
        Role::Exit => t.push_str(
            "ExitRelay 1\n\
             ExitPolicyRejectPrivate 0\n\
             ExitPolicy accept *:*\n\
             RefuseUnknownExits 0\n",
        ),
        Role::Relay | Role::Authority => t.push_str("ExitRelay 0\n"),
    }
    if node.role == Role::Authority {
        let _ = write!(
            t,
            "AuthoritativeDirectory 1\n\
             V3AuthoritativeDirectory 1\n\
             ContactInfo {nick}@test.invalid\n\
             TestingV3AuthInitialVotingInterval {VOTING_INTERVAL}\n\
             TestingV3AuthInitialVoteDelay 4\n\
             TestingV3AuthInitialDistDelay 4\n\
             V3AuthVotingInterval {VOTING_INTERVAL}\n\
             V3AuthVoteDelay 4\n\
             V3AuthDistDelay 4\n"
        );
    }
    t
}

/// The arti configuration (TOML) that points a client at the network:
/// authorities, one fallback cache per authority, local addresses allowed
/// and no subnet families (every relay shares 127.0.0.1).
pub(crate) fn arti_toml(authorities: &[Node]) -> String {
    let quoted = |v: Vec<String>| v.join(", ");
    let v3idents = quoted(
        authorities
            .iter()
            .map(|a| format!("\"{}\"", a.keys.v3ident.as_deref().unwrap_or_default()))
            .collect(),
    );
    let dirports =
        quoted(authorities.iter().map(|a| format!("[\"127.0.0.1:{}\"]", a.dir_port)).collect());
    let mut t = format!(
        "# arti configuration for a private Tor network on 127.0.0.1,\n\
         # generated by cairn-tests (tests/src/tornet.rs).\n\
         \n\
         [address_filter]\n\
         allow_local_addrs = true\n\
         \n\
         [path_rules]\n\
         ipv4_subnet_family_prefix = 33\n\
         ipv6_subnet_family_prefix = 129\n\
         \n\
         [tor_network.authorities]\n\
         v3idents = [{v3idents}]\n\
         uploads = [{dirports}]\n\
         downloads = [{dirports}]\n\
         votes = [{dirports}]\n"
    );
    for a in authorities {
        let _ = write!(
            t,
            "\n[[tor_network.fallback_caches]]\n\
             rsa_identity = \"{}\"\n\
             ed_identity = \"{}\"\n\
             orports = [\"127.0.0.1:{}\"]\n",
            a.keys.rsa_fingerprint, a.keys.ed25519_identity, a.or_port
        );
    }
    t
}
