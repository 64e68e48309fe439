//! Hooks for `cairn-bench` (issue 14, the client figures): the real kept
//! view ([`View`], what the backend task runs on each node event) and the
//! real app state and drawing on ratatui's test backend ([`Screen`], what
//! the UI loop runs), over a replica the benchmark holds, without a node
//! or a terminal. Not an API for anything else.

use cairn_net::proto::replica::Replica;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{App, Update};
use super::snapshot::{CHAT_WINDOW, Live, Names, Snapshot};
use super::view;
use crate::text;

/// The backend's side: the kept view of one group.
#[derive(Debug, Default)]
pub struct View {
    live: Live,
    names: Names,
}

/// A snapshot on its way from the backend to the UI.
#[derive(Debug)]
pub struct Shot(Snapshot);

impl Shot {
    /// How many chat-pane lines the group has (carried or not).
    pub fn lines(&self) -> usize {
        self.0.group.as_ref().map_or(0, |g| g.chat.len() + g.chat_earlier)
    }
}

impl View {
    /// Patches the kept view from `r` (as on a node event) and copies out a
    /// snapshot of the default window.
    pub fn snapshot(&mut self, r: &Replica) -> Shot {
        let name = r.state().map(|s| text::line(&s.name)).unwrap_or_default();
        Shot(Snapshot {
            groups: vec![(r.group(), name)],
            group: self.live.view(r, &self.names, CHAT_WINDOW),
            outbox: 0,
            restored_unconfirmed: false,
        })
    }
}

/// The UI's side: the app state and a terminal of `width` x `height`.
pub struct Screen {
    app: App,
    terminal: Terminal<TestBackend>,
}

impl Screen {
    /// A screen of `width` x `height` cells.
    pub fn new(width: u16, height: u16) -> std::io::Result<Self> {
        let terminal = Terminal::new(TestBackend::new(width, height))?;
        Ok(Self { app: App::new("bench".into(), false), terminal })
    }

    /// Takes a snapshot (as the UI loop does on `Update::Snapshot`).
    pub fn show(&mut self, shot: Shot) {
        self.app.update(Update::Snapshot(shot.0));
    }

    /// Types `c` into the input line.
    pub fn key(&mut self, c: char) {
        let _ = self.app.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }

    /// Draws one frame.
    pub fn draw(&mut self) -> std::io::Result<()> {
        self.terminal.draw(|f| view::draw(f, &self.app)).map(|_| ())
    }

    /// Whether the last frame drawn shows `text` on one line.
    pub fn shows(&self, text: &str) -> bool {
        let buffer = self.terminal.backend().buffer();
        let width = usize::from(buffer.area.width);
        let cells: Vec<&str> = buffer.content.iter().map(|c| c.symbol()).collect();
        cells.chunks(width).any(|row| row.concat().contains(text))
    }
}
