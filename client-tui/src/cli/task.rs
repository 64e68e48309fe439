//! `cairn task new|list|show|assign|comment|close|reopen`.

use cairn_net::node::{Action, Node};
use cairn_net::proto::crypto::PublicKey;
use cairn_net::proto::group::TaskContent;
use cairn_net::proto::wire::{GroupId, MessageId};

use super::{Failure, Global, Outcome, find_group, hex, parse_key};
use crate::text;

/// `task` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum TaskCommand {
    /// Create a task; its title and description are sealed to the roles
    /// that may read it.
    ///
    /// Example: `cairn task new bastion "rotate the signing key" --readable-by member --assign 3f2a…`
    New {
        /// Group name or id.
        group: String,
        /// Title.
        title: String,
        /// Longer description.
        #[arg(long, default_value = "")]
        description: String,
        /// A role that may read it (repeat). Default: the group's newcomer
        /// role if you hold it (so that everyone you can assign reads and
        /// comments), else your first role. Only holders of ALL its roles
        /// can comment.
        #[arg(long = "readable-by")]
        readable_by: Vec<String>,
        /// A member to assign (identity key in hex; repeat).
        #[arg(long = "assign")]
        assign: Vec<String>,
    },
    /// List tasks: open ones first.
    ///
    /// Example: `cairn task list bastion --json`
    List {
        /// Group name or id.
        group: String,
    },
    /// Show a task with its comments.
    ///
    /// Example: `cairn task show bastion 9f3d`
    Show {
        /// Group name or id.
        group: String,
        /// Task id (a unique prefix is enough).
        task: String,
    },
    /// Assign a task to a member.
    ///
    /// Example: `cairn task assign bastion 9f3d 3f2a…`
    Assign {
        /// Group name or id.
        group: String,
        /// Task id.
        task: String,
        /// Member identity key (hex).
        member: String,
    },
    /// Comment on a task (sealed to the task's readers).
    ///
    /// Example: `cairn task comment bastion 9f3d "done on my side"`
    Comment {
        /// Group name or id.
        group: String,
        /// Task id.
        task: String,
        /// The comment.
        text: String,
    },
    /// Close a task.
    ///
    /// Example: `cairn task close bastion 9f3d`
    Close {
        /// Group name or id.
        group: String,
        /// Task id.
        task: String,
    },
    /// Reopen a closed task.
    ///
    /// Example: `cairn task reopen bastion 9f3d`
    Reopen {
        /// Group name or id.
        group: String,
        /// Task id.
        task: String,
    },
}

fn find_task(node: &Node, group: &GroupId, which: &str) -> Result<MessageId, Failure> {
    let s = node.state(group)?;
    let found: Vec<_> = s.tasks.keys().filter(|t| hex(&t.0).starts_with(which)).collect();
    match found.as_slice() {
        [t] if !which.is_empty() => Ok(**t),
        [] | [_] => Err(Failure::input(format!("no task {which:?}; `cairn task list` shows them"))),
        _ => Err(Failure::input(format!("{which:?} names several tasks; give more of the id"))),
    }
}

pub(crate) async fn run(g: &Global, command: TaskCommand) -> Outcome {
    let node = g.open().await?;
    node.start().await;
    node.sync(super::SYNC_WAIT).await;
    match command {
        TaskCommand::New { group, title, description, readable_by, assign } => {
            let id = find_group(&node, &group)?;
            let assignees =
                assign.iter().map(|a| parse_key(a)).collect::<Result<Vec<PublicKey>, _>>()?;
            let content = TaskContent { title, description, ..TaskContent::default() };
            let action = Action::CreateTask { group: id, content, readable_by, assignees };
            let task = super::act(&node, action)?;
            super::report(g, &node, "task", &task).await;
        }
        TaskCommand::List { group } => list(g, &node, &find_group(&node, &group)?)?,
        TaskCommand::Show { group, task } => {
            let id = find_group(&node, &group)?;
            show(g, &node, &id, &find_task(&node, &id, &task)?)?;
        }
        TaskCommand::Assign { group, task, member } => {
            let id = find_group(&node, &group)?;
            let t = find_task(&node, &id, &task)?;
            let (assign, unassign) = (vec![parse_key(&member)?], Vec::new());
            let m = super::act(&node, Action::AssignTask { group: id, task: t, assign, unassign })?;
            super::report(g, &node, "assigned", &m).await;
        }
        TaskCommand::Comment { group, task, text } => {
            let id = find_group(&node, &group)?;
            let t = find_task(&node, &id, &task)?;
            let m = super::act(&node, Action::Comment { group: id, task: t, text })?;
            super::report(g, &node, "comment", &m).await;
        }
        TaskCommand::Close { group, task } => close(g, &node, &group, &task, true).await?,
        TaskCommand::Reopen { group, task } => close(g, &node, &group, &task, false).await?,
    }
    Ok(())
}

async fn close(g: &Global, node: &Node, group: &str, task: &str, close: bool) -> Outcome {
    let id = find_group(node, group)?;
    let t = find_task(node, &id, task)?;
    let m = super::act(node, Action::CloseTask { group: id, task: t, close })?;
    super::report(g, node, if close { "closed" } else { "reopened" }, &m).await;
    Ok(())
}

fn list(g: &Global, node: &Node, group: &GroupId) -> Outcome {
    let s = node.state(group)?;
    let mut tasks: Vec<_> = s.tasks.iter().collect();
    tasks.sort_by_key(|(_, t)| !t.open);
    for (id, t) in tasks {
        let title = node
            .with_replica(group, |r| r.task_content(id).map(|c| c.title))?
            .unwrap_or_else(|_| "(sealed: not readable by your roles)".into());
        let assignees: Vec<String> =
            t.assignees.iter().map(|a| cairn_proto::hex::short(&a.0, 16)).collect();
        let state = if t.open { "open" } else { "closed" };
        if g.json {
            let v = serde_json::json!({ "task": hex(&id.0), "title": title, "state": state, "assignees": assignees });
            println!("{v}");
        } else {
            let title = text::line(&title);
            println!(
                "{} {state:6} {title} [{}]",
                cairn_proto::hex::short(&id.0, 12),
                assignees.join(",")
            );
        }
    }
    Ok(())
}

fn show(g: &Global, node: &Node, group: &GroupId, task: &MessageId) -> Outcome {
    let s = node.state(group)?;
    let t = &s.tasks[task];
    let (content, comments) = node.with_replica(group, |r| {
        let content = r.task_content(task).ok();
        let comments: Vec<(String, String)> = r
            .fold()
            .thread(task)
            .iter()
            .map(|c| {
                let author = r.chain().entry(c).map(|e| hex(&e.author().0)[..16].to_owned());
                (
                    author.unwrap_or_default(),
                    r.comment_text(c).unwrap_or_else(|_| "(sealed)".into()),
                )
            })
            .collect();
        (content, comments)
    })?;
    let (title, description) =
        content.map_or(("(sealed)".into(), String::new()), |c| (c.title, c.description));
    if g.json {
        let v = serde_json::json!({
            "task": hex(&task.0), "title": title, "description": description, "open": t.open,
            "readable_by": t.readable_by, "comments": comments,
        });
        println!("{v}");
    } else {
        println!("task  {} ({})", hex(&task.0), if t.open { "open" } else { "closed" });
        println!("title {}", text::line(&title));
        if !description.is_empty() {
            println!("{}", text::lines(&description));
        }
        for (a, said) in comments {
            println!("  {a}: {}", text::lines(&said).replace('\n', "\n    "));
        }
    }
    Ok(())
}
