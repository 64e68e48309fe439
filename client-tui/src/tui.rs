//! The terminal UI (`cairn` or `cairn tui`): groups, chat with replies,
//! the task board with threads, members and roles, warnings, an input line
//! with commands and completion, and a status bar with Tor, relays, sync
//! and the outbox.
//!
//! Three parts: the backend task owns the node (`backend`), the state and
//! key handling are plain data (`app`, `command`, `snapshot`), and `view`
//! draws. The terminal is restored on exit and on panic (ratatui's hook).

mod app;
mod backend;
#[doc(hidden)]
pub mod bench;
mod command;
mod snapshot;
mod view;

use std::time::Duration;

use cairn_net::node::Node;
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use tokio::sync::mpsc;

use crate::cli::{Global, Outcome};
use app::App;

/// How often the screen redraws without input (the "synced Ns ago" clock).
const TICK: Duration = Duration::from_secs(1);
/// How long leaving waits for the backend to flush the outbox (what is
/// left stays in the stored outbox and goes out on the next run).
const LEAVE_WAIT: Duration = Duration::from_secs(8);

/// Runs the TUI on this profile until the user leaves. `color` (a name
/// such as `cyan` or `#rrggbb`) is remembered in the profile's `color` file.
pub(crate) async fn run(g: &Global, color: Option<String>) -> Outcome {
    let colour = profile_colour(&g.profile(), color)?;
    // The passphrase is asked before the screen is taken over.
    let node = g.open().await?;
    let profile = g
        .profile()
        .file_name()
        .map_or_else(|| "profile".into(), |n| n.to_string_lossy().into_owned());
    let extras = Extras { colour, ..Extras::default() };
    run_node(node, profile, g.insecure_loopback.is_some(), extras).await
}

/// The colour the user picked for this profile (saved when given).
fn profile_colour(
    dir: &std::path::Path,
    chosen: Option<String>,
) -> Result<Option<ratatui::style::Color>, crate::cli::Failure> {
    let file = dir.join("color");
    if let Some(name) = chosen {
        let colour: ratatui::style::Color = name.parse().map_err(|_| {
            crate::cli::Failure::input(format!(
                "no colour {name:?}: use a name (cyan, magenta, light-red, …) or #rrggbb"
            ))
        })?;
        if !dir.is_dir() {
            return Err(crate::cli::Failure::input("no profile here: `cairn init` makes one"));
        }
        std::fs::write(&file, format!("{name}\n"))
            .map_err(|e| crate::cli::Failure::input(format!("cannot save the colour: {e}")))?;
        return Ok(Some(colour));
    }
    let saved = std::fs::read_to_string(&file).ok();
    Ok(saved.and_then(|s| s.trim().parse().ok()))
}

/// What the demo hands a TUI on a node it already runs.
#[derive(Default)]
pub struct Extras {
    /// The node is already online (it is not started or stopped here).
    pub started: bool,
    /// Names to show for members' keys.
    pub names: std::collections::BTreeMap<cairn_net::proto::crypto::PublicKey, String>,
    /// Lines to show in the notice line as they come.
    pub narration: Option<mpsc::UnboundedReceiver<String>>,
    /// The profile's colour, if the user picked one.
    pub colour: Option<ratatui::style::Color>,
}

/// Runs the terminal UI on `node`, already open, until the user leaves:
/// for a program that runs its own node (the demo). `profile` is the name
/// shown at the top left; `insecure` says the node is on loopback TCP, not
/// Tor (the status bar says so).
pub async fn run_tui(
    node: Node,
    profile: String,
    insecure: bool,
    extras: Extras,
) -> anyhow::Result<()> {
    run_node(node, profile, insecure, extras).await.map_err(|f| anyhow::anyhow!(f.message))
}

/// Runs the TUI on an open node until the user leaves.
pub(crate) async fn run_node(
    node: Node,
    profile: String,
    insecure: bool,
    extras: Extras,
) -> Outcome {
    let Extras { started, names, narration, colour } = extras;
    let (jobs, job_rx) = mpsc::unbounded_channel();
    let (ui_tx, mut updates) = mpsc::unbounded_channel();
    if let Some(mut lines) = narration {
        let tx = ui_tx.clone();
        tokio::spawn(async move {
            while let Some(line) = lines.recv().await {
                if tx.send(app::Update::Notice(line)).is_err() {
                    break;
                }
            }
        });
    }
    let fatal = ui_tx.clone();
    let backend = tokio::spawn(async move {
        // A panic in the backend must not leave the user typing into a void.
        if let Err(e) = tokio::spawn(backend::run(node, job_rx, ui_tx, started, names)).await {
            let why = format!("the node stopped ({e}); leave with Ctrl-C and start cairn again");
            let _ = fatal.send(app::Update::Fatal(why));
        }
    });
    let mut keys = key_reader();
    let mut terminal = ratatui::try_init().map_err(anyhow::Error::from)?;
    let mut app = App::new(profile, insecure);
    if let Some(c) = colour {
        app.colour = c;
    }
    let mut tick = tokio::time::interval(TICK);
    let drawn = loop {
        app.now = now();
        if let Err(e) = terminal.draw(|f| view::draw(f, &app)) {
            break Err(e);
        }
        tokio::select! {
            Some(e) = keys.recv() => {
                if let Event::Key(k) = e
                    && k.kind != KeyEventKind::Release
                {
                    panic_on_purpose_in_tests(&k);
                    for job in app.key(k) {
                        // The backend only goes when this loop ends.
                        let _ = jobs.send(job);
                    }
                }
            }
            Some(u) = updates.recv() => {
                // Everything already waiting, then one frame: a sync's
                // snapshots never queue up ahead of a keypress.
                app.update(u);
                while let Ok(u) = updates.try_recv() {
                    app.update(u);
                }
            }
            _ = tick.tick() => {}
        }
        if app.quit {
            break Ok(());
        }
    };
    ratatui::try_restore().map_err(anyhow::Error::from)?;
    drawn.map_err(anyhow::Error::from)?;
    if !app.input.is_empty() {
        println!("not sent (was in the input line): {}", app.input);
    }
    eprintln!("cairn: leaving; sending what the outbox holds…");
    leave_anyway_after(LEAVE_WAIT + Duration::from_secs(5));
    drop(jobs);
    if tokio::time::timeout(LEAVE_WAIT, backend).await.is_err() {
        eprintln!("cairn: the outbox still holds messages; they go out on the next run");
    }
    Ok(())
}

/// Debug builds only, with `CAIRN_TEST_PANIC` set: F12 panics, so that a
/// test can prove the terminal is given back on a panic.
fn panic_on_purpose_in_tests(k: &ratatui::crossterm::event::KeyEvent) {
    let armed = cfg!(debug_assertions) && std::env::var_os("CAIRN_TEST_PANIC").is_some();
    if armed && k.code == ratatui::crossterm::event::KeyCode::F(12) {
        panic!("CAIRN_TEST_PANIC: a panic on purpose");
    }
}

/// Quitting never hangs: if the node has not stopped by `after` (a stuck
/// task), the process ends anyway. Nothing is lost: the outbox is stored.
fn leave_anyway_after(after: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(after);
        eprintln!("cairn: the node did not stop in time; leaving anyway (the outbox is kept)");
        std::process::exit(1);
    });
}

/// Terminal events from a blocking reader thread.
fn key_reader() -> mpsc::UnboundedReceiver<Event> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        while let Ok(e) = event::read() {
            if tx.send(e).is_err() {
                break;
            }
        }
    });
    rx
}

fn now() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod test;
