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
    assert_eq!(core.outbox_len(), first.len(), "counted at open as stored");
    let two: Vec<u64> = waiting[..2].iter().map(|q| q.outbox_id).collect();
    core.delivered(&two).expect("delivered");
    assert_eq!(core.outbox_len(), first.len() - 2);
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
    let before = core.outbox_len();
    assert_eq!(before, core.outbox().expect("outbox").len());
    assert!(core.relay_acked(&group, &[item], "127.0.0.1:8").expect("ack").is_empty());
    assert_eq!(core.outbox_len(), before, "one relay of two");
    assert_eq!(core.relay_acked(&group, &[item], "127.0.0.1:9").expect("ack"), [id]);
    assert_eq!(core.outbox_len(), before - 1);
    assert_eq!(core.outbox().expect("outbox").len(), before - 1, "the store agrees");
}

#[test]
fn acknowledgements_of_many_items_clear_those_every_relay_stored_in_one_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut core = create(dir.path());
    let rules = templates::organizer_member_observer();
    let relays = vec!["127.0.0.1:8".into(), "127.0.0.1:9".into()];
    let (group, _) = core.create_group("bastion", &rules, relays, 1000).expect("group");
    let (a, qa) = core.write(group, chat("a"), 1001).expect("write");
    let (b, qb) = core.write(group, chat("b"), 1002).expect("write");
    let item = |q: &[Queued], id| q.iter().find(|q| q.message == id).expect("queued").outbox_id;
    let (ia, ib) = (item(&qa, a), item(&qb, b));
    let before = core.outbox_len();
    assert!(core.relay_acked(&group, &[ia], "127.0.0.1:8").expect("ack").is_empty());
    // b has reached one relay of two, a both.
    assert_eq!(core.relay_acked(&group, &[ia, ib], "127.0.0.1:9").expect("ack"), [a]);
    assert_eq!(core.relay_acked(&group, &[ib], "127.0.0.1:8").expect("ack"), [b]);
    let core = reopen_after(core, dir.path());
    assert_eq!(core.outbox_len(), before - 2, "both left the store");
}

#[test]
fn a_relay_batch_is_taken_in_and_stores_each_mailboxs_last_cursor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut core = create(dir.path());
    let rules = templates::organizer_member_observer();
    let relay = "127.0.0.1:9";
    let (group, _) = core.create_group("g", &rules, vec![relay.into()], 1000).expect("group");
    let (_, q1) = core.write(group, chat("one"), 1001).expect("write");
    let (_, q2) = core.write(group, chat("two"), 1002).expect("write");
    let envelopes: Vec<Envelope> =
        q1.iter().chain(&q2).flat_map(|q| q.envelopes.iter().cloned()).collect();
    let (m1, m2) = (MailboxId([1; 32]), MailboxId([2; 32]));
    let cursors = BTreeMap::from([(m1, 7), (m2, 3)]);
    let batch = RelayBatch { cursors, envelopes };
    let (received, queued) = core.receive_relay_batch(group, relay, &batch, 1003).expect("take");
    // Our own messages, come back: held already, each seen once.
    assert_eq!(received.carried.len(), batch.envelopes.len());
    assert!(received.accepted.is_empty() && queued.is_empty());
    let core = reopen_after(core, dir.path());
    assert_eq!((core.cursor(&group, relay, &m1), core.cursor(&group, relay, &m2)), (7, 3));
}

/// Leaving with the history deleted removes the group's entries, state and
/// key slots from the store in the commit that records the leave, keeps
/// the leave message in the outbox, and survives a restart; writing to the
/// group afterwards is refused. Leaving keeping the history keeps the
/// entries and only the role keys.
#[test]
fn leaving_deletes_or_keeps_the_history_and_erases_the_keys() {
    for keep_history in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let rules = templates::organizer_member_observer();
        let mut core = create(dir.path());
        let relays = vec!["127.0.0.1:9".to_string()];
        let (group, queued) = core.create_group("bastion", &rules, relays, 1000).expect("group");
        core.write(group, chat("history"), 1001).expect("write");
        let slots: Vec<_> = (core.replica(&group).expect("r").keys().ring().held().into_iter())
            .map(|(r, _)| r)
            .collect();
        let delivered: Vec<u64> = queued.iter().map(|q| q.outbox_id).collect();
        core.delivered(&delivered).expect("delivered");

        let leaving = core.leave(group, keep_history, 1002).expect("leave");
        assert!(leaving.message.is_some() && leaving.queued.len() == 1);
        assert!(matches!(core.write(group, chat("after"), 1003), Err(NodeError::Left)));
        let store = core.profile.store();
        assert_eq!(store.version_vector(&group.0).expect("vv").is_empty(), !keep_history);
        for r in &slots {
            let label = cairn_proto::group::key_secret_label(&group, r);
            let kept = keep_history && matches!(r, cairn_proto::epoch::KeyRef::Role(..));
            assert_eq!(store.secret(&label).expect("secret").is_some(), kept, "{r:?}");
        }
        drop(core);

        let core = reopen(dir.path());
        assert!(core.has_left(&group));
        assert_eq!(core.replica(&group).is_ok(), keep_history);
        assert_eq!(core.relay_groups(), [group], "the leave still has to be posted");
        assert!(core.outbox_holds(&group).expect("outbox"));
        if keep_history {
            let r = core.replica(&group).expect("kept");
            assert!(r.fold().chat().iter().any(|(_, _, c)| c.text == "history"));
        }
    }
}
