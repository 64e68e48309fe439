//! Invitations on the node (`peer.md`, "Invitations"): the inviter hosts a
//! short-lived service for one invite, shows the redeemer's fingerprint and
//! short code, and on approval posts the admission with its rekey before it
//! sends the welcome; the redeemer then resyncs from the inviter's own
//! service and publishes its key package and contact.

use std::time::Duration;

use cairn_proto::crypto::PublicKey;
use cairn_proto::crypto::SigningKey;
use cairn_proto::group::{GroupState, Power, capability};
use cairn_proto::identity::onion_address;
use cairn_proto::invite::{InvitationContent, Invite, InviteHost, PendingJoin, fingerprint};
use cairn_proto::peer_proto::{PeerErrorCode, PeerMessage, PeerTarget};
use cairn_proto::replica::Replica;
use cairn_proto::wire::{Body, Contact, GroupId, InviteId, MemberAdd, MessageId};
use rand_core::Rng as _;
use tokio::sync::oneshot;
use zeroize::Zeroizing;

use super::joins::Answer;
use super::network::PEER_PORT;
use super::peer_conn::{PeerConn, PeerConnError, REPLY_TIMEOUT};
use super::profile::now;
use super::relays::isolation;
use super::{Node, NodeError, NodeEvent, os_rng};
use crate::{Listener, PeerAddr, TcpLoopbackTransport};

/// How long a redeemer keeps trying to reach a freshly made invite service.
pub const INVITE_REACH: Duration = Duration::from_secs(90);
/// How long a redeemer waits for a person to approve.
pub const APPROVAL_TIMEOUT: Duration = Duration::from_secs(600);
/// How long the inviter waits for the admission to reach a relay before it
/// welcomes anyway (the redeemer resyncs from the inviter directly).
const ADMISSION_POST_WAIT: Duration = Duration::from_secs(15);

/// Who approves joins of an invite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    /// A person, through [`Action::Approve`](super::Action::Approve) after
    /// a [`NodeEvent::JoinRequest`].
    Manual,
    /// Anyone holding the invite string is admitted (an explicit choice).
    Automatic,
}

/// A made invite.
#[derive(Debug)]
pub struct InviteTicket {
    /// The string to hand over (secret until used).
    pub text: Zeroizing<String>,
    /// When it stops working (Unix seconds).
    pub expires_at: u64,
    /// Finishes when the invite is used up or expired: `Some(member)` if
    /// someone was admitted.
    pub done: oneshot::Receiver<Option<cairn_proto::crypto::PublicKey>>,
}

impl Node {
    /// Makes a one-time invite to `group` giving `roles`, valid for `ttl`,
    /// and hosts its short-lived service until it is used or expires.
    pub async fn invite(
        &self,
        group: GroupId,
        roles: Vec<String>,
        ttl: Duration,
        approval: Approval,
    ) -> Result<InviteTicket, NodeError> {
        let state = self.state(&group)?;
        let key = SigningKey::random(&mut os_rng());
        let (listener, loopback_port) = self.invite_listener(&key).await?;
        let mut secret = [0u8; 32];
        os_rng().fill_bytes(&mut secret);
        let expires_at = now() + ttl.as_secs();
        let mut hint = state.name.clone();
        hint.truncate(cairn_proto::invite::MAX_HINT);
        // Shared, sealed, with the members who may answer it: the join
        // then works while this node is offline (`peer.md`, "Invitations").
        let content = InvitationContent {
            secret,
            expires_at,
            roles: roles.clone(),
            manual: approval == Approval::Manual,
        };
        let shared = self
            .build_and_write(group, |r| Ok(r.invitation_body(&mut os_rng(), &content, now())?));
        let answerers = match shared {
            Ok(_) => answerers(&state, &self.identity().public_key()),
            Err(e) => {
                tracing::warn!("the invite works at this node only: {e}");
                Vec::new()
            }
        };
        let invite = Invite {
            group,
            genesis: state.genesis,
            service: key.public(),
            secret,
            expires_at,
            hint,
            loopback_port,
            answerers,
        };
        let text = invite.to_text();
        let (tx, done) = oneshot::channel();
        let node = self.clone();
        let host = InviteHost::new(invite);
        // Kept with the node's tasks: a node that goes offline stops
        // hosting its invites too (the members named in it answer them).
        self.spawn(async move {
            let admitted = node.host_invite(group, roles, listener, key, host, approval).await;
            let _ = tx.send(admitted);
        });
        Ok(InviteTicket { text, expires_at, done })
    }

    async fn invite_listener(
        &self,
        key: &SigningKey,
    ) -> Result<(Box<dyn Listener>, Option<u16>), NodeError> {
        if let Some(arti) = self.net().arti() {
            let mut nick = [0u8; 6];
            os_rng().fill_bytes(&mut nick);
            let nick = cairn_proto::hex::encode(&nick);
            let l = arti.launch_onion_service(&format!("invite-{nick}"), key, PEER_PORT)?;
            return Ok((Box::new(l), None));
        }
        let transport = TcpLoopbackTransport::insecure_for_tests_and_demos();
        let l = transport.listen(([127, 0, 0, 1], 0).into()).await?;
        let port = match l.local_addr() {
            PeerAddr::Tcp(a) => Some(a.port()),
            PeerAddr::Onion { .. } => None,
        };
        Ok((Box::new(l), port))
    }

    /// Serves one invite until it is used or expires; the listener (and
    /// with it the onion service) is dropped when this returns.
    async fn host_invite(
        &self,
        group: GroupId,
        roles: Vec<String>,
        mut listener: Box<dyn Listener>,
        key: SigningKey,
        mut host: InviteHost,
        approval: Approval,
    ) -> Option<cairn_proto::crypto::PublicKey> {
        let expiry = Duration::from_secs(host.invite().expires_at.saturating_sub(now()));
        let deadline = tokio::time::Instant::now() + expiry;
        while !host.used() {
            let Ok(Ok(stream)) = tokio::time::timeout_at(deadline, listener.accept()).await else {
                return None;
            };
            let result = self.redeemed(group, &roles, stream, &key, &mut host, approval).await;
            match result {
                Ok(Some(member)) => return Some(member),
                Ok(None) => {}
                Err(e) => tracing::debug!("an invite session ended: {e}"),
            }
        }
        None
    }

    async fn redeemed(
        &self,
        group: GroupId,
        roles: &[String],
        stream: crate::BoxStream,
        key: &SigningKey,
        host: &mut InviteHost,
        approval: Approval,
    ) -> Result<Option<cairn_proto::crypto::PublicKey>, NodeError> {
        let mut conn = PeerConn::respond_with_onion(stream, self.identity(), key).await?;
        let (peer, binding) = (conn.peer(), conn.binding());
        let (Some(peer), Some(binding)) = (peer, binding) else { return Ok(None) };
        let PeerMessage::JoinRequest { proof, key_package, name } =
            conn.next_message(REPLY_TIMEOUT).await?
        else {
            return Ok(None);
        };
        let invite = host.invite().id();
        let pending = match host.handle_join(now(), peer, &binding, &proof, key_package, name) {
            Ok(p) => p,
            Err(code) => {
                conn.send(&PeerMessage::Error { code: code.number(), info: 0 }).await?;
                return Ok(None);
            }
        };
        let admitted = self.admit_redeemer(&mut conn, group, roles, invite, &pending, approval);
        Ok(admitted.await?.then_some(pending.identity))
    }

    /// Approves (or has a person approve) a checked join request, admits
    /// the redeemer with the invitation's id, and welcomes it. False if the
    /// invitation was redeemed meanwhile or the person refused.
    async fn admit_redeemer(
        &self,
        conn: &mut PeerConn,
        group: GroupId,
        roles: &[String],
        invite: InviteId,
        pending: &PendingJoin,
        approval: Approval,
    ) -> Result<bool, NodeError> {
        // Another member may have admitted someone with it already.
        if self.state(&group)?.used_invites.contains(&invite) {
            return self.refuse(conn, PeerErrorCode::InviteUsed).await;
        }
        let admitted_by = match self.join_answer(group, invite, pending, approval).await {
            Answer::Approved => match self.answered_elsewhere(group, &invite, &pending.identity) {
                // Answered elsewhere while this member's person said yes.
                Some(Answer::AdmittedElsewhere(id)) => id,
                Some(Answer::Refused(code)) => return self.refuse(conn, code).await,
                _ => self.admit(group, roles, Some(invite), pending).await?,
            },
            Answer::AdmittedElsewhere(id) => id,
            Answer::Refused(code) => return self.refuse(conn, code).await,
        };
        let genesis = self.state(&group)?.genesis;
        let inviter_onion = self.identity().onion_key().public();
        conn.send(&PeerMessage::Welcome { group, genesis, admitted_by, inviter_onion }).await?;
        // Keep the service up until the redeemer has the welcome and hangs
        // up: tearing the service down at once can lose the last cells.
        let _ = conn.next_message(REPLY_TIMEOUT).await;
        Ok(true)
    }

    /// A join request on this member's own peer service: it redeems an
    /// invitation shared in a group where this member may answer it
    /// (`peer.md`, "Invitations"), found by the proof (bound to this
    /// session), then approved, admitted and welcomed as at the inviter's
    /// own service.
    pub(crate) async fn answer_join(
        &self,
        conn: &mut PeerConn,
        proof: [u8; 32],
        key_package: cairn_proto::epoch::KeyPackage,
        name: String,
    ) -> Result<(), NodeError> {
        let (Some(peer), Some(binding)) = (conn.peer(), conn.binding()) else { return Ok(()) };
        let Some((group, genesis, content)) = self.invitation_for(&binding, &proof) else {
            let code = PeerErrorCode::NotAuthorized.number();
            conn.send(&PeerMessage::Error { code, info: 0 }).await?;
            return Ok(());
        };
        let me = self.identity().onion_key().public();
        let invite = Invite {
            group,
            genesis,
            service: me,
            secret: content.secret,
            expires_at: content.expires_at,
            hint: String::new(),
            loopback_port: None,
            answerers: Vec::new(),
        };
        let id = invite.id();
        let mut host = InviteHost::new(invite);
        let pending = match host.handle_join(now(), peer, &binding, &proof, key_package, name) {
            Ok(p) => p,
            Err(code) => {
                conn.send(&PeerMessage::Error { code: code.number(), info: 0 }).await?;
                return Ok(());
            }
        };
        let approval = if content.manual { Approval::Manual } else { Approval::Automatic };
        let roles = content.roles.clone();
        self.admit_redeemer(conn, group, &roles, id, &pending, approval).await?;
        Ok(())
    }

    /// The group, genesis and invitation whose secret `proof` proves for
    /// the session `binding`, among those this member may answer now.
    fn invitation_for(
        &self,
        binding: &[u8; 32],
        proof: &[u8; 32],
    ) -> Option<(GroupId, MessageId, InvitationContent)> {
        let core = self.core();
        for group in core.member_groups() {
            let Ok(replica) = core.replica(&group) else { continue };
            let Some(genesis) = replica.state().map(|s| s.genesis) else { continue };
            // Used ones too: `admit_redeemer` tells a second redeemer so.
            for (_, content) in replica.invitations(now(), true) {
                let expected = cairn_proto::invite::proof(&content.secret, binding);
                let differ = expected.iter().zip(proof).fold(0u8, |acc, (a, b)| acc | (a ^ b));
                if differ == 0 {
                    return Some((group, genesis, content));
                }
            }
        }
        None
    }

    async fn refuse(&self, conn: &mut PeerConn, code: PeerErrorCode) -> Result<bool, NodeError> {
        conn.send(&PeerMessage::Error { code: code.number(), info: 0 }).await?;
        Ok(false)
    }

    /// Posts the admission with the rekey wrapped to the joiner's package,
    /// and waits (bounded) for it to reach the relays.
    async fn admit(
        &self,
        group: GroupId,
        roles: &[String],
        invite: Option<InviteId>,
        pending: &PendingJoin,
    ) -> Result<MessageId, NodeError> {
        let member = pending.identity;
        // Built and written under one hold of the core lock: the rekey
        // wraps to the members of the epoch it is written in.
        let id = self.build_and_write(group, |replica| {
            admission(replica, member, &pending.key_package, roles, invite)
        })?;
        self.flush(ADMISSION_POST_WAIT).await;
        Ok(id)
    }

    /// Redeems an invite string: proves it to the inviter's short-lived
    /// service, waits for approval, then resyncs the group from the
    /// inviter and announces this member's key package and contact.
    pub async fn join(&self, text: &str, name: &str) -> Result<GroupId, NodeError> {
        let invite = Invite::parse(text, now()).map_err(NodeError::Invite)?;
        let name = fit_name(name);
        let group = invite.group;
        if self.core().has_left(&group) && self.core().replica(&group).is_ok() {
            return Err(NodeError::LeftKeptHistory);
        }
        if self.core().replica(&group).is_ok() {
            return Err(NodeError::AlreadyMember);
        }
        let addr = match (self.net().is_tor(), invite.loopback_port) {
            (true, _) => PeerAddr::onion(&invite.address(), PEER_PORT),
            (false, Some(port)) => PeerAddr::Tcp(([127, 0, 0, 1], port).into()),
            (false, None) => return Err(NodeError::Bug("an onion invite needs Tor")),
        };
        let me = self.identity().public_key();
        let (replica, kp) = Replica::joining(&mut os_rng(), me, group, invite.genesis);
        let target = PeerTarget { onion: invite.address(), identity: None };
        // The inviter's own service first; if it is gone, the members the
        // invite names, each on its own service (`peer.md`, "Invitations").
        let mut conn = if invite.answerers.is_empty() {
            self.reach_invite(&addr, &group, target, INVITE_REACH).await?
        } else {
            self.reach_service_or_answerer(&invite, &addr, target).await?
        };
        let (Some(binding), Some(inviter)) = (conn.binding(), conn.peer()) else {
            return Err(NodeError::Bug("session without binding"));
        };
        self.emit(NodeEvent::Joining {
            short_code: cairn_proto::invite::short_code(&binding),
            inviter: fingerprint(&inviter),
        });
        let request = PeerMessage::JoinRequest {
            proof: invite.proof(&binding),
            key_package: kp,
            name: name.clone(),
        };
        conn.send(&request).await?;
        let welcome = match conn.next_message(APPROVAL_TIMEOUT).await {
            Ok(w) => w,
            Err(PeerConnError::Refused { code, .. }) => return Err(NodeError::JoinRefused(code)),
            Err(e) => return Err(e.into()),
        };
        let PeerMessage::Welcome { group: g, genesis, inviter_onion, .. } = welcome else {
            return Err(NodeError::Bug("the inviter sent no welcome"));
        };
        if g != group || genesis != invite.genesis {
            return Err(NodeError::Bug("the welcome names another group"));
        }
        conn.close().await;
        self.core().add_joined(replica, genesis)?;
        // The inviter's own service may have been launched moments ago.
        let own = self.net().peer_addr(&inviter_onion)?;
        let target = PeerTarget { onion: onion_address(&inviter_onion), identity: Some(inviter) };
        let mut conn = self.reach_invite(&own, &group, target, INVITE_REACH).await?;
        // The admission that carries this member's epoch key comes last in
        // causal order: a history longer than one session's pages (16,384
        // messages) takes several before this member can write.
        while self.pull(&mut conn, group).await? > 0 && !self.holds_current_epoch(group)? {}
        self.announce(group)?;
        if !name.trim().is_empty() {
            self.set_name(group, &name)?;
        }
        // Everything this member wrote (its key package above all) goes to
        // the inviter directly as well: the next rekey (another admission,
        // say) must reach this member even if the relays are slow or gone.
        for message in self.own_messages(group, &inviter)? {
            conn.send(&PeerMessage::Deliver { group, message }).await?;
        }
        conn.close().await;
        self.start_relays(group);
        Ok(group)
    }

    /// Reaches an invite's service: a freshly launched onion service needs
    /// a moment before its descriptor is published, so failures are retried
    /// for `patience` over Tor.
    async fn reach_invite(
        &self,
        addr: &PeerAddr,
        group: &GroupId,
        target: PeerTarget,
        patience: Duration,
    ) -> Result<PeerConn, NodeError> {
        // Over loopback a refused connection is final.
        let patience = if self.net().is_tor() { patience } else { Duration::ZERO };
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let attempt = async {
                let stream = self.net().transport().connect(addr, &isolation(group)).await?;
                Ok::<_, NodeError>(
                    PeerConn::initiate(stream, self.identity(), target.clone()).await?,
                )
            };
            match attempt.await {
                Ok(conn) => return Ok(conn),
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    tracing::debug!("invite service unreachable: {e}");
                    return Err(NodeError::InviteGone);
                }
                Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    }

    /// The invite's own service or, failing it, the first member the invite
    /// names whose own service answers: each tried once per round, rounds
    /// backing off (1 s, doubling, at most 8 s) for [`INVITE_REACH`] over
    /// Tor (a fresh service needs a moment before its descriptor is
    /// published; hammering a service that is gone for good made arti's
    /// circuits to the directories time out for the others too), one round
    /// over loopback.
    async fn reach_service_or_answerer(
        &self,
        invite: &Invite,
        service: &PeerAddr,
        target: PeerTarget,
    ) -> Result<PeerConn, NodeError> {
        let patience = if self.net().is_tor() { INVITE_REACH } else { Duration::ZERO };
        let deadline = tokio::time::Instant::now() + patience;
        let mut pause = Duration::from_secs(1);
        loop {
            match self.try_invite_service(invite, service, target.clone()).await {
                Ok(conn) => return Ok(conn),
                Err(e) => tracing::debug!("the invite's service is unreachable: {e}"),
            }
            for onion in &invite.answerers {
                match self.try_answerer(invite, onion).await {
                    Ok(conn) => return Ok(conn),
                    Err(e) => tracing::debug!("an answerer of the invite is unreachable: {e}"),
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(NodeError::InviteGone);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(8));
        }
    }

    async fn try_invite_service(
        &self,
        invite: &Invite,
        service: &PeerAddr,
        target: PeerTarget,
    ) -> Result<PeerConn, NodeError> {
        let transport = self.net().transport();
        let isolation = isolation(&invite.group);
        let stream = transport.connect(service, &isolation);
        let stream = tokio::time::timeout(REPLY_TIMEOUT, stream)
            .await
            .map_err(|_| NodeError::Peer(PeerConnError::Timeout(REPLY_TIMEOUT)))??;
        Ok(PeerConn::initiate(stream, self.identity(), target).await?)
    }

    async fn try_answerer(
        &self,
        invite: &Invite,
        onion: &PublicKey,
    ) -> Result<PeerConn, NodeError> {
        let addr = self.net().peer_addr(onion)?;
        let target = PeerTarget { onion: onion_address(onion), identity: None };
        let transport = self.net().transport();
        // A circuit of its own per answerer: a circuit shared with the
        // attempts at a service that is gone can fail this one too.
        let material = [&invite.group.0[..], &onion.0].concat();
        let isolation = crate::IsolationKey::from_bytes(blake3::derive_key(
            "cairn isolation answerer v1",
            &material,
        ));
        let stream = transport.connect(&addr, &isolation);
        let stream = tokio::time::timeout(REPLY_TIMEOUT, stream)
            .await
            .map_err(|_| NodeError::Peer(PeerConnError::Timeout(REPLY_TIMEOUT)))??;
        Ok(PeerConn::initiate(stream, self.identity(), target).await?)
    }

    /// Whether this member holds the key of `group`'s current epoch (it can
    /// write).
    fn holds_current_epoch(&self, group: GroupId) -> Result<bool, NodeError> {
        self.with_replica(&group, |r| r.keys().ring().epoch_secret(&r.epoch()).is_some())
    }

    /// Publishes this member's key package (unless its keys already
    /// published a fresh one) and contact in `group`.
    fn announce(&self, group: GroupId) -> Result<(), NodeError> {
        let me = self.identity().public_key();
        let published =
            self.state(&group)?.members.get(&me).is_some_and(|m| m.key_package.is_some());
        if !published && let Some(kp) = self.with_replica(&group, Replica::publish_key_package)? {
            self.write(group, kp)?;
        }
        let onion = self.identity().onion_key().public();
        self.write(group, Body::Contact(Contact { onion }))?;
        Ok(())
    }

    /// Every message this member wrote in `group`, in order (to hand to
    /// `peer`, a member).
    fn own_messages(
        &self,
        group: GroupId,
        peer: &cairn_proto::crypto::PublicKey,
    ) -> Result<Vec<Vec<u8>>, NodeError> {
        let me = self.identity().public_key();
        let have: std::collections::BTreeMap<_, _> = self
            .with_replica(&group, |r| r.chain().version_vector())?
            .iter()
            .filter(|(a, _)| **a != me)
            .map(|(a, s)| (*a, *s))
            .collect();
        let page = self.core().resync_for(&group, peer, &have, 1024)?;
        Ok(page.map(|p| p.messages).unwrap_or_default())
    }
}

/// The onion keys of the members who may answer an invite of `state`'s
/// group: every member who may invite and published a contact, this one
/// first, at most [`cairn_proto::invite::MAX_ANSWERERS`].
fn answerers(state: &GroupState, me: &PublicKey) -> Vec<PublicKey> {
    let may = |k: &PublicKey| capability(state, k).is_ok_and(|c| c.powers.contains(&Power::Invite));
    let mut keys: Vec<&PublicKey> = state.members.keys().filter(|k| may(k)).collect();
    keys.sort_by_key(|k| (*k != me, state.members.get(*k).map(|m| m.since)));
    (keys.into_iter())
        .filter_map(|k| state.members.get(k)?.onion)
        .take(cairn_proto::invite::MAX_ANSWERERS)
        .collect()
}

/// `name` without control characters, cut (at a character boundary) to
/// what a join request and a `Name` message carry.
fn fit_name(name: &str) -> String {
    let max = cairn_proto::peer_proto::MAX_JOIN_NAME.min(cairn_proto::wire::MAX_MEMBER_NAME_LEN);
    let mut fitted = String::new();
    for c in name.trim().chars().filter(|c| !cairn_proto::wire::forbidden_in_name(*c)) {
        if fitted.len() + c.len_utf8() > max {
            break;
        }
        fitted.push(c);
    }
    fitted
}

/// The admission of `member` with `roles`, its rekey wrapped to
/// `key_package`, redeeming `invite` if given.
pub(super) fn admission(
    replica: &mut Replica,
    member: PublicKey,
    key_package: &cairn_proto::epoch::KeyPackage,
    roles: &[String],
    invite: Option<InviteId>,
) -> Result<Body, NodeError> {
    let (rekey, _) = replica.build_rekey(&mut os_rng(), Some((&member, key_package)), &[])?;
    Ok(Body::MemberAdd(MemberAdd { member, roles: roles.to_vec(), rekey: Some(rekey), invite }))
}

#[cfg(test)]
mod test {
    use super::fit_name;

    #[test]
    fn names_are_cut_at_a_character_boundary_within_64_bytes() {
        assert_eq!(fit_name("  bob \n"), "bob");
        assert_eq!(fit_name("a\x1b[2Jb"), "a[2Jb");
        assert_eq!(fit_name("evil\u{202e}gnp.exe"), "evilgnp.exe");
        let long = "é".repeat(40); // 80 bytes
        let fitted = fit_name(&long);
        assert_eq!(fitted.len(), 64);
        assert!(fitted.chars().all(|c| c == 'é'));
    }
}
