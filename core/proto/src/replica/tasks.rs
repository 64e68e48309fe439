//! Tasks through the replica: sealing a task's content layer to the roles
//! that may read it, and opening what this member may read
//! (`keys.md`, "Role-sealed content").

use rand_core::CryptoRng;

use super::{Replica, ReplicaError};
use crate::group::{TaskContent, content_binding, task_binding};
use crate::wire::{Body, MessageId, Sealed, TaskComment, TaskCreate, TaskEdit};

impl Replica {
    /// Seals `content` for `readable_by`, bound to this member's next
    /// message (which must carry it).
    fn seal_next(
        &self,
        rng: &mut (impl CryptoRng + ?Sized),
        content: &TaskContent,
        readable_by: &[String],
        binding: Option<[u8; 32]>,
        now: u64,
    ) -> Result<Sealed, ReplicaError> {
        let next = self.draft(Body::Leave, now);
        let binding =
            binding.unwrap_or_else(|| content_binding(&next.group, &next.author, next.seq));
        self.keys
            .seal_task_content(rng, &binding, next.epoch, content, readable_by)
            .map_err(|e| ReplicaError::Refused(e.to_string()))
    }

    /// The body of a new task, its content sealed to `readable_by`.
    pub fn task_create_body(
        &self,
        rng: &mut (impl CryptoRng + ?Sized),
        content: &TaskContent,
        readable_by: Vec<String>,
        assignees: Vec<crate::crypto::PublicKey>,
        now: u64,
    ) -> Result<Body, ReplicaError> {
        let sealed = self.seal_next(rng, content, &readable_by, None, now)?;
        Ok(Body::TaskCreate(TaskCreate { readable_by, assignees, content: sealed }))
    }

    /// The body of an edit of `task` (same readable-by roles unless given).
    pub fn task_edit_body(
        &self,
        rng: &mut (impl CryptoRng + ?Sized),
        task: MessageId,
        content: &TaskContent,
        readable_by: Option<Vec<String>>,
        now: u64,
    ) -> Result<Body, ReplicaError> {
        let (binding, current) = self.task_binding_and_roles(&task)?;
        let readable_by = readable_by.unwrap_or(current);
        let sealed = self.seal_next(rng, content, &readable_by, Some(binding), now)?;
        Ok(Body::TaskEdit(TaskEdit { task, readable_by, content: sealed }))
    }

    /// The body of a comment on `task`, sealed to the task's readers.
    pub fn task_comment_body(
        &self,
        rng: &mut (impl CryptoRng + ?Sized),
        task: MessageId,
        text: &str,
        reply_to: Option<MessageId>,
        now: u64,
    ) -> Result<Body, ReplicaError> {
        let (_, roles) = self.task_binding_and_roles(&task)?;
        let content = TaskContent { description: text.into(), ..TaskContent::default() };
        let sealed = self.seal_next(rng, &content, &roles, None, now)?;
        Ok(Body::TaskComment(TaskComment { task, reply_to, content: sealed }))
    }

    fn task_binding_and_roles(
        &self,
        task: &MessageId,
    ) -> Result<([u8; 32], Vec<String>), ReplicaError> {
        let state = self.state().ok_or(ReplicaError::Refused("no group state".into()))?;
        let t = state.tasks.get(task).ok_or(ReplicaError::Refused("no such task".into()))?;
        let create = self.chain.entry(task).ok_or(ReplicaError::Corrupt("task not held"))?;
        Ok((task_binding(create.message()), t.readable_by.iter().cloned().collect()))
    }

    /// The current content of `task`, if this member may read it.
    pub fn task_content(&self, task: &MessageId) -> Result<TaskContent, ReplicaError> {
        let state = self.state().ok_or(ReplicaError::Refused("no group state".into()))?;
        let t = state.tasks.get(task).ok_or(ReplicaError::Refused("no such task".into()))?;
        let (binding, _) = self.task_binding_and_roles(task)?;
        let holder =
            self.chain.entry(&t.content).ok_or(ReplicaError::Corrupt("content not held"))?;
        let sealed = match &holder.message().body {
            Body::TaskCreate(c) => &c.content,
            Body::TaskEdit(e) => &e.content,
            _ => return Err(ReplicaError::Corrupt("task content is not in a task message")),
        };
        self.keys
            .open_task_content(&binding, sealed)
            .map_err(|e| ReplicaError::Refused(e.to_string()))
    }

    /// The text of a comment, if this member may read it.
    pub fn comment_text(&self, comment: &MessageId) -> Result<String, ReplicaError> {
        let e = self.chain.entry(comment).ok_or(ReplicaError::Refused("no such comment".into()))?;
        let m = e.message();
        let Body::TaskComment(c) = &m.body else {
            return Err(ReplicaError::Refused("not a comment".into()));
        };
        let binding = content_binding(&m.group, &m.author, m.seq);
        let content = self
            .keys
            .open_task_content(&binding, &c.content)
            .map_err(|e| ReplicaError::Refused(e.to_string()))?;
        Ok(content.description)
    }
}
