//! The input line: plain text is chat, `/word …` is a command. Parsing and
//! completion only; what a command does is in `app` and `backend`.

/// A parsed input line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Input {
    /// A chat line (to the selected line if replying).
    Chat(String),
    Command(Command),
}

/// The commands. Task and member arguments are resolved by the app
/// (`#3` or `3` is task number 3; a member is a name or a key prefix);
/// without one, the selected task or member is meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    Help,
    Quit,
    View(super::app::View),
    /// Reply to the selected chat line.
    Reply(String),
    GroupNew {
        name: String,
        relays: Vec<String>,
    },
    TaskNew(String),
    Assign {
        task: Option<String>,
        member: String,
    },
    Comment {
        task: Option<String>,
        text: String,
    },
    Close(Option<String>),
    Reopen(Option<String>),
    Filter(String),
    Invite {
        role: Option<String>,
        auto: bool,
    },
    Approve(Option<String>),
    Deny(Option<String>),
    Join {
        invite: String,
        name: String,
    },
    Remove(Option<String>),
    /// Leave the selected group; nothing happens without `confirmed`.
    Leave {
        confirmed: bool,
        delete_history: bool,
    },
    RoleAssign {
        member: String,
        role: String,
    },
    RoleRevoke {
        member: String,
        role: String,
    },
    /// The name you go by in the selected group.
    Name(String),
    Rotate,
    Resync,
    Confirm,
}

/// Every command word with its arguments and what it does (the help view
/// and completion use this list).
pub(crate) const COMMANDS: &[(&str, &str, &str)] = &[
    ("help", "", "this help (also ? or F1)"),
    ("quit", "", "leave; what you wrote stays in the outbox"),
    ("chat", "", "the chat (F2)"),
    ("tasks", "", "the task board (F3)"),
    ("members", "", "members and roles (F4)"),
    ("warnings", "", "warnings and events, with details (F5)"),
    ("reply", "TEXT", "reply to the selected chat line"),
    ("group", "new NAME [RELAY…]", "found a group (relays: host:port)"),
    ("task", "new TITLE", "new task for the newcomer role (if yours)"),
    ("assign", "[#N] MEMBER", "assign the selected (or #N) task"),
    ("comment", "[#N] TEXT", "comment on the selected (or #N) task"),
    ("close", "[#N]", "close the selected (or #N) task"),
    ("reopen", "[#N]", "reopen the selected (or #N) task"),
    ("filter", "all|mine|open|LABEL", "which tasks the board shows"),
    ("invite", "[ROLE] [auto]", "one-time invite; you approve each join"),
    ("approve", "[CODE]", "admit the person who showed this code"),
    ("deny", "[CODE]", "refuse a join request"),
    ("join", "INVITE [NAME]", "join a group with an invite"),
    ("remove", "[MEMBER]", "remove the selected member (rekeys)"),
    ("leave", "yes [delete]", "leave this group; delete: its history too"),
    ("role", "assign|revoke NAME ROLE", "give or take a role"),
    ("name", "NAME", "the name you go by in this group"),
    ("rotate", "", "rotate the group's keys"),
    ("resync", "", "fetch from peers now"),
    ("confirm", "", "a restored identity may sign again"),
];

/// Parses one input line. `Err` says what is wrong, for the notice line.
pub(crate) fn parse(line: &str) -> Result<Input, String> {
    let line = line.trim_end();
    let Some(rest) = line.strip_prefix('/') else {
        return if line.trim().is_empty() {
            Err("nothing to send".into())
        } else {
            Ok(Input::Chat(line.to_owned()))
        };
    };
    // "//text" sends a chat line that starts with "/".
    if rest.starts_with('/') {
        return Ok(Input::Chat(rest.to_owned()));
    }
    let (word, args) = rest.split_once(' ').unwrap_or((rest, ""));
    let args = args.trim();
    command(word, args).map(Input::Command)
}

fn command(word: &str, args: &str) -> Result<Command, String> {
    use super::app::View;
    let words: Vec<&str> = args.split_whitespace().collect();
    let need = |what: &str| format!("/{word} needs {what}; /help lists the commands");
    let text = |what: &str| if args.is_empty() { Err(need(what)) } else { Ok(args.to_owned()) };
    Ok(match word {
        "help" | "?" => Command::Help,
        "quit" | "q" => Command::Quit,
        "chat" => Command::View(View::Chat),
        "tasks" => Command::View(View::Tasks),
        "members" => Command::View(View::Members),
        "warnings" => Command::View(View::Warnings),
        "reply" => Command::Reply(text("the reply text")?),
        "group" => match words.as_slice() {
            ["new", name, relays @ ..] => Command::GroupNew {
                name: (*name).to_owned(),
                relays: relays.iter().map(|r| (*r).to_owned()).collect(),
            },
            _ => return Err(need("new NAME [RELAY…]")),
        },
        "task" => match words.as_slice() {
            ["new", ..] => Command::TaskNew(args["new".len()..].trim().to_owned())
                .non_empty(|| need("a title: /task new TITLE"))?,
            _ => return Err(need("new TITLE")),
        },
        "assign" => match words.as_slice() {
            [member] => Command::Assign { task: None, member: (*member).to_owned() },
            [task, member] => {
                Command::Assign { task: Some((*task).to_owned()), member: (*member).to_owned() }
            }
            _ => return Err(need("a member (and optionally a task #N first)")),
        },
        "comment" => {
            let (task, text) = task_then_text(args);
            if text.is_empty() {
                return Err(need("the comment text"));
            }
            Command::Comment { task, text }
        }
        "close" => Command::Close(words.first().map(|s| (*s).to_owned())),
        "reopen" => Command::Reopen(words.first().map(|s| (*s).to_owned())),
        "filter" => Command::Filter(words.first().copied().unwrap_or("all").to_owned()),
        "invite" => {
            let auto = words.contains(&"auto");
            let role = words.iter().find(|w| **w != "auto").map(|s| (*s).to_owned());
            Command::Invite { role, auto }
        }
        "approve" => Command::Approve(words.first().map(|s| (*s).to_owned())),
        "deny" => Command::Deny(words.first().map(|s| (*s).to_owned())),
        "join" => match words.as_slice() {
            [invite, name @ ..] => {
                Command::Join { invite: (*invite).to_owned(), name: name.join(" ") }
            }
            [] => return Err(need("the invite string")),
        },
        "remove" => Command::Remove(words.first().map(|s| (*s).to_owned())),
        "leave" => match words.as_slice() {
            [] => Command::Leave { confirmed: false, delete_history: false },
            ["yes"] => Command::Leave { confirmed: true, delete_history: false },
            ["yes", "delete"] => Command::Leave { confirmed: true, delete_history: true },
            _ => return Err(need("yes, or yes delete")),
        },
        "role" => match words.as_slice() {
            ["assign", member, role] => {
                Command::RoleAssign { member: (*member).to_owned(), role: (*role).to_owned() }
            }
            ["revoke", member, role] => {
                Command::RoleRevoke { member: (*member).to_owned(), role: (*role).to_owned() }
            }
            _ => return Err(need("assign|revoke MEMBER ROLE")),
        },
        "name" => Command::Name(text("the name you go by")?),
        "rotate" => Command::Rotate,
        "resync" => Command::Resync,
        "confirm" => Command::Confirm,
        other => return Err(format!("no command /{other}; /help lists them")),
    })
}

impl Command {
    /// Refuses a name or title that is empty.
    fn non_empty(self, err: impl FnOnce() -> String) -> Result<Self, String> {
        match &self {
            Command::TaskNew(s) if s.is_empty() => Err(err()),
            _ => Ok(self),
        }
    }
}

/// "#3 some text" → (Some("#3"), "some text"); "some text" → (None, …).
fn task_then_text(args: &str) -> (Option<String>, String) {
    match args.split_once(' ') {
        Some((first, rest)) if first.starts_with('#') => {
            (Some(first.to_owned()), rest.trim().to_owned())
        }
        _ if args.starts_with('#') && !args.contains(' ') => (Some(args.to_owned()), String::new()),
        _ => (None, args.to_owned()),
    }
}

/// Completes the word before the cursor: a command word after "/", else a
/// member name (for /assign, /remove, /role). Returns the new line, or
/// `None` when nothing (or more than one thing) fits.
pub(crate) fn complete(line: &str, members: &[String]) -> Option<String> {
    if let Some(word) = line.strip_prefix('/').filter(|w| !w.contains(' ')) {
        let fits: Vec<&str> =
            COMMANDS.iter().map(|(w, _, _)| *w).filter(|w| w.starts_with(word)).collect();
        return match fits.as_slice() {
            [one] => Some(format!("/{one} ")),
            _ => None,
        };
    }
    let (head, last) = line.rsplit_once(' ')?;
    if !line.starts_with('/') || last.is_empty() {
        return None;
    }
    let fits: Vec<&String> = members.iter().filter(|m| m.starts_with(last)).collect();
    match fits.as_slice() {
        [one] => Some(format!("{head} {one} ")),
        _ => None,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn plain_text_is_chat_and_a_double_slash_escapes_a_leading_slash() {
        assert_eq!(parse("hello"), Ok(Input::Chat("hello".into())));
        assert_eq!(parse("//etc is a path"), Ok(Input::Chat("/etc is a path".into())));
        assert!(parse("   ").is_err());
    }

    #[test]
    fn commands_parse_with_their_arguments() {
        let c = |s: &str| match parse(s) {
            Ok(Input::Command(c)) => c,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(c("/task new buy a shovel"), Command::TaskNew("buy a shovel".into()));
        assert_eq!(
            c("/group new bastion r1.onion:443 127.0.0.1:9"),
            Command::GroupNew {
                name: "bastion".into(),
                relays: vec!["r1.onion:443".into(), "127.0.0.1:9".into()]
            }
        );
        assert_eq!(c("/assign bob"), Command::Assign { task: None, member: "bob".into() });
        assert_eq!(c("/name Ana of the well"), Command::Name("Ana of the well".into()));
        assert_eq!(
            c("/assign #2 bob"),
            Command::Assign { task: Some("#2".into()), member: "bob".into() }
        );
        assert_eq!(
            c("/comment #2 on it"),
            Command::Comment { task: Some("#2".into()), text: "on it".into() }
        );
        assert_eq!(c("/comment on it"), Command::Comment { task: None, text: "on it".into() });
        assert_eq!(
            c("/invite member auto"),
            Command::Invite { role: Some("member".into()), auto: true }
        );
        assert_eq!(
            c("/join cairn-invite1-xyz bob smith"),
            Command::Join { invite: "cairn-invite1-xyz".into(), name: "bob smith".into() }
        );
        assert_eq!(
            c("/role revoke bob organizer"),
            Command::RoleRevoke { member: "bob".into(), role: "organizer".into() }
        );
        assert_eq!(c("/leave"), Command::Leave { confirmed: false, delete_history: false });
        assert_eq!(c("/leave yes"), Command::Leave { confirmed: true, delete_history: false });
        assert_eq!(
            c("/leave yes delete"),
            Command::Leave { confirmed: true, delete_history: true }
        );
    }

    #[test]
    fn a_bad_command_says_what_is_missing() {
        for bad in [
            "/task",
            "/task new",
            "/group new  ",
            "/assign",
            "/comment #2",
            "/name",
            "/frobnicate",
            "/leave now",
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains("/help") || e.contains("needs"), "{bad}: {e}");
        }
    }

    #[test]
    fn tab_completes_a_unique_command_or_member() {
        assert_eq!(complete("/ass", &[]), Some("/assign ".into()));
        assert_eq!(complete("/re", &[]), None, "reply, reopen, remove, resync");
        let members = ["bob".to_owned(), "carol".to_owned()];
        assert_eq!(complete("/assign #1 ca", &members), Some("/assign #1 carol ".into()));
        assert_eq!(complete("hello ca", &members), None, "not in chat text");
    }
}
