//! Driving a real terminal program through tmux: a private tmux server per
//! test (its own socket), a fixed-size window, keys sent as a person would
//! type them, and the screen read back with `capture-pane`.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// One tmux session running one program.
pub struct Tmux {
    socket: String,
    session: String,
    /// Where the shell writes the program's exit status (tmux 3.3 does
    /// not always record `pane_dead_status`).
    status_file: std::path::PathBuf,
}

impl Tmux {
    /// Starts `command` (a shell command line) in a detached `width`×`height`
    /// window. The pane stays after the program exits, so its last screen
    /// and exit status can be read.
    pub fn start(session: &str, command: &str, width: u16, height: u16) -> Result<Self> {
        let socket = format!("cairn-test-{}-{session}", std::process::id());
        let status_file = std::env::temp_dir().join(format!("{socket}.status"));
        let _ = std::fs::remove_file(&status_file);
        let t = Self { socket, session: session.to_owned(), status_file };
        let (w, h) = (width.to_string(), height.to_string());
        t.tmux(&["new-session", "-d", "-s", session, "-x", &w, "-y", &h, "sh"])?;
        t.tmux(&["set-option", "-t", session, "remain-on-exit", "on"])?;
        let recorded = format!("{command}; echo $? > {}", t.status_file.display());
        t.tmux(&["respawn-pane", "-k", "-t", session, &recorded])?;
        Ok(t)
    }

    fn tmux(&self, args: &[&str]) -> Result<Output> {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .context("run tmux (is it installed?)")?;
        if !out.status.success() {
            bail!("tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(out)
    }

    /// Types `text` literally (no key names).
    pub fn type_text(&self, text: &str) -> Result<()> {
        self.tmux(&["send-keys", "-t", &self.session, "-l", text])?;
        Ok(())
    }

    /// Presses keys by tmux name: "Enter", "F3", "C-c", "Up".
    pub fn keys(&self, keys: &[&str]) -> Result<()> {
        let mut args = vec!["send-keys", "-t", &self.session];
        args.extend_from_slice(keys);
        self.tmux(&args)?;
        Ok(())
    }

    /// Types a line and presses Enter.
    pub fn line(&self, text: &str) -> Result<()> {
        self.type_text(text)?;
        self.keys(&["Enter"])
    }

    /// The screen as text, one line per row.
    pub fn screen(&self) -> Result<String> {
        let out = self.tmux(&["capture-pane", "-p", "-t", &self.session])?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Waits until the screen satisfies `check`; the error shows the last
    /// screen.
    pub fn wait_for(
        &self,
        what: &str,
        within: Duration,
        check: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let deadline = Instant::now() + within;
        loop {
            let screen = self.screen()?;
            if check(&screen) {
                return Ok(screen);
            }
            if Instant::now() > deadline {
                bail!("timed out waiting for {what}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the screen contains `text`.
    pub fn wait_text(&self, text: &str, within: Duration) -> Result<String> {
        self.wait_for(&format!("{text:?}"), within, |s| s.contains(text))
    }

    /// Whether the program has exited, and its status (128 + the signal
    /// if a signal killed it, as the shell reports it).
    pub fn exit_status(&self) -> Result<Option<i32>> {
        let Ok(text) = std::fs::read_to_string(&self.status_file) else { return Ok(None) };
        if !text.ends_with('\n') {
            return Ok(None); // still being written
        }
        Ok(Some(text.trim().parse().context("exit status")?))
    }
}

impl Tmux {
    /// Whether the program has the terminal in its alternate screen (a
    /// full-screen program that exited without restoring it leaves it on).
    pub fn alternate_screen(&self) -> Result<bool> {
        let out = self.tmux(&["display-message", "-p", "-t", &self.session, "#{alternate_on}"])?;
        Ok(String::from_utf8_lossy(&out.stdout).trim() == "1")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
        let _ = std::fs::remove_file(&self.status_file);
    }
}
