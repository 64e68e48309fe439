//! Core tests on real profiles (Argon2id key file, redb store, secrets file).

use std::path::Path;

use cairn_proto::group::templates;
use cairn_proto::identity::KdfParams;
use cairn_proto::wire::Chat;

use super::*;

const PASS: &[u8] = b"core test passphrase";

fn create(dir: &Path) -> Core {
    let profile = Profile::create(dir, PASS, KdfParams::MIN, os_rng()).expect("create profile");
    Core::open(profile).expect("open core")
}

fn reopen(dir: &Path) -> Core {
    Core::open(Profile::open(dir, PASS, os_rng()).expect("open profile")).expect("open core")
}

fn chat(text: &str) -> Body {
    Body::Chat(Chat { text: text.into(), reply_to: None })
}

#[test]
fn written_messages_wait_in_the_outbox_across_a_restart_until_delivered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = templates::organizer_member_observer();
    let (group, first) = {
        let mut core = create(dir.path());
        let (group, mut queued) =
            core.create_group("bastion", &rules, vec!["127.0.0.1:9".into()], 1000).expect("group");
        let (_, q) = core.write(group, chat("typed while offline"), 1001).expect("write");
        queued.extend(q);
        (group, queued)
    };
    // genesis, key package, contact, relay list, chat.
    assert_eq!(first.len(), 5);
    let mut core = reopen(dir.path());
    let waiting = core.outbox().expect("outbox");
    let ids = |q: &[Queued]| q.iter().map(|q| (q.outbox_id, q.message)).collect::<Vec<_>>();
    assert_eq!(ids(&waiting), ids(&first));
    assert!(waiting.iter().all(|q| q.group == group && !q.envelopes.is_empty()));
    for q in &waiting[..2] {
        core.delivered(q.outbox_id).expect("delivered");
    }
    let left = reopen_after(core, dir.path()).outbox().expect("outbox");
    assert_eq!(ids(&left), ids(&first[2..]));
    let r = reopen(dir.path());
    let texts: Vec<String> = r
        .replica(&group)
        .expect("group")
        .fold()
        .chat()
        .iter()
        .map(|(_, _, c)| c.text.clone())
        .collect();
    assert_eq!(texts, ["typed while offline"]);
}

fn reopen_after(core: Core, dir: &Path) -> Core {
    drop(core);
    reopen(dir)
}

#[test]
fn a_restored_identity_does_not_sign_until_two_sources_caught_it_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = templates::organizer_member_observer();
    let mut core = create(dir.path());
    let (group, _) = core.create_group("g", &rules, Vec::new(), 1000).expect("group");
    core.mark_restored().expect("mark");
    let mut core = reopen_after(core, dir.path());
    assert!(matches!(
        core.write(group, chat("too early"), 1001),
        Err(NodeError::RestoredUnconfirmed)
    ));
    assert!(!core.source_caught_up(group, "relay a").expect("source"));
    // The same source twice is still one source.
    assert!(!core.source_caught_up(group, "relay a").expect("source"));
    assert!(matches!(
        core.write(group, chat("still early"), 1001),
        Err(NodeError::RestoredUnconfirmed)
    ));
    assert!(core.source_caught_up(group, "peer b").expect("source"));
    let mut core = reopen_after(core, dir.path());
    core.write(group, chat("now"), 1002).map(drop).unwrap_or_else(|e| panic!("write refused: {e}"));
}

#[test]
fn an_unknown_group_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut core = create(dir.path());
    let r = core.write(GroupId([7; 32]), chat("x"), 1);
    assert!(matches!(r, Err(NodeError::UnknownGroup)), "{r:?}");
}

#[test]
fn a_join_that_races_an_existing_replica_never_replaces_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut core = create(dir.path());
    let rules = templates::organizer_member_observer();
    let (group, _) = core.create_group("bastion", &rules, Vec::new(), 1000).expect("group");
    core.write(group, chat("history"), 1001).expect("write");
    let genesis = MessageId([1; 32]); // refused before it is used
    let me = core.identity().public_key();
    let (empty, _) = Replica::joining(&mut os_rng(), me, group, genesis);
    let r = core.add_joined(empty, genesis);
    assert!(matches!(r, Err(NodeError::AlreadyMember)), "{r:?}");
    assert!(core.replica(&group).expect("replica").state().is_some(), "the founded group stays");
}

#[test]
fn an_outbox_item_leaves_once_every_relay_of_its_group_stored_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut core = create(dir.path());
    let rules = templates::organizer_member_observer();
    let relays = vec!["127.0.0.1:8".into(), "127.0.0.1:9".into()];
    let (group, _) = core.create_group("bastion", &rules, relays, 1000).expect("group");
    let (id, queued) = core.write(group, chat("x"), 1001).expect("write");
    let item = queued.iter().find(|q| q.message == id).expect("queued").outbox_id;
    let before = core.outbox_len().expect("outbox");
    assert_eq!(core.relay_acked(&group, item, "127.0.0.1:8").expect("ack"), None);
    assert_eq!(core.outbox_len().expect("outbox"), before, "one relay of two");
    assert_eq!(core.relay_acked(&group, item, "127.0.0.1:9").expect("ack"), Some(id));
    assert_eq!(core.outbox_len().expect("outbox"), before - 1);
}
