//! Lock-outs healed over the network (`keys.md`, "Stranded members";
//! `node.md`, "Key duty"): each key-duty tick writes what the keys ask
//! for with nothing received (`Core::key_duty_writes`), then pushes it
//! where relays may not carry it: a stranded member's request to a few
//! members, a re-wrap to the members it is for, and, while stranded, a pull
//! from the peers (a re-wrap sealed under the epoch it lacks reaches it
//! only that way).

use cairn_proto::crypto::PublicKey;
use cairn_proto::wire::GroupId;

use super::Node;
use super::profile::now;

impl Node {
    /// One key-duty tick for every group this member takes part in.
    pub(crate) fn stranded_duties(&self) {
        let groups = self.core().member_groups();
        for group in groups {
            let writes = self.core().key_duty_writes(group, now());
            let writes = match writes {
                Ok(w) => w,
                Err(e) => {
                    tracing::warn!("key duty failed: {e}");
                    continue;
                }
            };
            self.dispatch(writes.queued);
            if writes.requested || writes.pull {
                self.in_background(async move |node: Node| {
                    if let Err(e) = node.resync_group(group).await {
                        tracing::debug!("a stranded member's resync failed: {e}");
                    }
                });
            }
            if !writes.rewrapped_to.is_empty() {
                let to = writes.rewrapped_to;
                self.in_background(async move |node: Node| node.push_to(group, &to).await);
            }
        }
    }

    /// Resyncs `group` with each of `members` reachable on its onion
    /// service: what they lack (a re-wrap to them) is delivered.
    pub(crate) async fn push_to(&self, group: GroupId, members: &[PublicKey]) {
        for member in members {
            let onion =
                self.with_replica(&group, |r| r.state()?.members.get(member)?.onion).ok().flatten();
            let Some(onion) = onion else { continue };
            if let Err(e) = self.resync_with(group, *member, onion).await {
                tracing::debug!("pushing a re-wrap to a member failed: {e}");
            }
        }
    }

    /// Runs `work` on the runtime unless the node is shut down; it ends on
    /// its own (every peer exchange has timeouts), and a shutdown stops it
    /// (its handle on the node, which holds the profile lock, goes with it).
    pub(crate) fn in_background<F>(&self, work: impl FnOnce(Node) -> F + Send + 'static)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        if self.relays().stopped {
            return;
        }
        if tokio::runtime::Handle::try_current().is_err() {
            tracing::debug!("no runtime for background work: skipped");
            return;
        }
        let node = self.clone();
        self.spawn(async move { work(node).await });
    }
}
