//! Nodes over loopback TCP with a real relay process: invite, join, chat,
//! tasks, removal with rekey; a removed member gets nothing new; the
//! outbox waits for a relay that is down.

// A test shell: clocks belong here (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::time::Duration;

use cairn_net::node::invites::Approval;
use cairn_net::node::{Network, Node, NodeEvent};
use cairn_net::proto::group::{TaskContent, templates};
use cairn_net::proto::wire::GroupId;
use cairn_tests::nodes::{chat, eventually, node};
use cairn_tests::relay_proc::RelayProc;

const WAIT: Duration = Duration::from_secs(30);

fn loopback(root: &std::path::Path) -> Network {
    Network::LoopbackInsecure { directory: root.join("loopback") }
}

async fn started(root: &std::path::Path, name: &str) -> Node {
    let n = node(root, name, loopback(root)).await.expect("node");
    n.start().await;
    n
}

/// `inviter` admits `joiner` as `member` (automatic approval).
async fn admit(inviter: &Node, joiner: &Node, group: GroupId, name: &str) {
    let ticket = inviter
        .invite(group, vec!["member".into()], Duration::from_secs(600), Approval::Automatic)
        .await
        .expect("invite");
    let joined = joiner.join(&ticket.text, name).await.expect("join");
    assert_eq!(joined, group);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_chat_work_on_a_task_and_a_removed_member_reads_nothing_new() {
    let root = tempfile::tempdir().expect("tempdir");
    let relay = RelayProc::start(&root.path().join("relay"), true, false, "").expect("relay");
    let relay_addr = relay.tcp.clone().expect("tcp");
    let (a, b, c) = (
        started(root.path(), "alice").await,
        started(root.path(), "bob").await,
        started(root.path(), "carol").await,
    );
    let rules = templates::organizer_member_observer();
    let g = a.create_group("bastion", &rules, vec![relay_addr]).expect("group");
    admit(&a, &b, g, "bob").await;
    admit(&a, &c, g, "carol").await;
    let members = a.state(&g).expect("state").members.len();
    assert_eq!(members, 3);

    a.chat(g, "hello from alice", None).expect("chat");
    for n in [&b, &c] {
        eventually("chat reaches every member", WAIT, || {
            chat(n, &g).contains(&"hello from alice".into())
        })
        .await
        .expect("chat delivered");
    }
    b.chat(g, "bob here", None).expect("chat");
    eventually("bob's chat reaches alice", WAIT, || chat(&a, &g).contains(&"bob here".into()))
        .await
        .expect("chat back");

    // A task: bob creates it for members, assigns carol; carol comments;
    // bob closes it; alice sees the group layer of each step.
    let carol = c.identity().public_key();
    let content = TaskContent { title: "move the servers".into(), ..TaskContent::default() };
    let task = b.create_task(g, &content, vec!["member".into()], vec![]).expect("task");
    eventually("carol sees the task", WAIT, || {
        c.state(&g).is_ok_and(|s| s.tasks.contains_key(&task))
    })
    .await
    .expect("task arrives");
    b.assign_task(g, task, vec![carol], vec![]).expect("assign");
    eventually("carol is assigned", WAIT, || {
        c.state(&g).is_ok_and(|s| s.tasks.get(&task).is_some_and(|t| t.assignees.contains(&carol)))
    })
    .await
    .expect("assigned");
    let title = c.with_replica(&g, |r| r.task_content(&task).map(|t| t.title)).expect("replica");
    assert_eq!(title.expect("carol reads the task"), "move the servers");
    c.comment(g, task, "on it", None).expect("comment");
    eventually("bob sees the comment", WAIT, || {
        b.with_replica(&g, |r| r.fold().thread(&task).len()).unwrap_or(0) == 1
    })
    .await
    .expect("comment");
    b.close_task(g, task, true).expect("close");
    eventually("alice sees it closed", WAIT, || {
        a.state(&g).is_ok_and(|s| s.tasks.get(&task).is_some_and(|t| !t.open))
    })
    .await
    .expect("closed");

    // Removal with rekey: carol reads nothing written afterwards, through
    // the relay or by asking a peer.
    let before = a.state(&g).expect("state").epoch.id;
    a.remove_member(g, carol).expect("remove");
    eventually("bob follows the rekey", WAIT, || {
        b.state(&g).is_ok_and(|s| !s.members.contains_key(&carol) && s.epoch.id != before)
    })
    .await
    .expect("rekey");
    a.chat(g, "after the removal", None).expect("chat");
    eventually("bob reads on", WAIT, || chat(&b, &g).contains(&"after the removal".into()))
        .await
        .expect("bob reads");
    let asked = c.resync_group(g).await.expect("carol asks peers");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !chat(&c, &g).contains(&"after the removal".into()),
        "carol read a message after her removal"
    );
    assert_eq!(asked, 0, "a peer sent carol messages after her removal");
    drop(relay);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_waits_for_approval_and_both_sides_see_the_same_code() {
    let root = tempfile::tempdir().expect("tempdir");
    let (a, b) = (started(root.path(), "alice").await, started(root.path(), "bob").await);
    let g =
        a.create_group("direct", &templates::organizer_member_observer(), vec![]).expect("group");
    let mut a_events = a.events();
    let mut b_events = b.events();
    let ticket = a
        .invite(g, vec!["member".into()], Duration::from_secs(600), Approval::Manual)
        .await
        .expect("invite");
    let text = ticket.text.clone();
    let joiner = b.clone();
    let join = tokio::spawn(async move { joiner.join(&text, "bob").await });
    let code_a = loop {
        if let Ok(NodeEvent::JoinRequest { short_code, name, .. }) = a_events.recv().await {
            assert_eq!(name, "bob");
            break short_code;
        }
    };
    let code_b = loop {
        if let Ok(NodeEvent::Joining { short_code, .. }) = b_events.recv().await {
            break short_code;
        }
    };
    assert_eq!(code_a, code_b);
    a.approve(&code_a, true).expect("approve");
    assert_eq!(join.await.expect("task").expect("joined"), g);
    assert!(a.state(&g).expect("state").members.contains_key(&b.identity().public_key()));
    // With no relay at all, bob got the history from alice directly.
    assert_eq!(b.state(&g).expect("state").members.len(), 2);

    // The invite is used: a second redeemer is refused, clearly.
    let c = started(root.path(), "carol").await;
    let err = c.join(&ticket.text, "carol").await.expect_err("used invite");
    assert!(err.to_string().contains("already used"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_or_expired_invite_is_refused_clearly() {
    let root = tempfile::tempdir().expect("tempdir");
    let (a, b) = (started(root.path(), "alice").await, started(root.path(), "bob").await);
    let g = a.create_group("g", &templates::organizer_member_observer(), vec![]).expect("group");
    let mut events = a.events();
    let ticket = a
        .invite(g, vec!["member".into()], Duration::from_secs(600), Approval::Manual)
        .await
        .expect("invite");
    let text = ticket.text.clone();
    let joiner = b.clone();
    let join = tokio::spawn(async move { joiner.join(&text, "bob").await });
    loop {
        if let Ok(NodeEvent::JoinRequest { short_code, .. }) = events.recv().await {
            a.approve(&short_code, false).expect("deny");
            break;
        }
    }
    let err = join.await.expect("task").expect_err("denied");
    assert!(err.to_string().contains("did not approve"), "{err}");
    assert!(!a.state(&g).expect("state").members.contains_key(&b.identity().public_key()));

    let expired = a
        .invite(g, vec!["member".into()], Duration::from_secs(0), Approval::Automatic)
        .await
        .expect("invite");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let err = b.join(&expired.text, "bob").await.expect_err("expired");
    assert!(err.to_string().contains("expired"), "{err}");
}
