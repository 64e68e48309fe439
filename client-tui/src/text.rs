//! Text from other people, made safe to put on a terminal.
//!
//! Chat lines, task titles, names, role names and relay addresses come from
//! other members (or the person redeeming an invite). Printed as they are,
//! an escape sequence in them would drive the reader's terminal: rewrite
//! the screen to fake messages, change the window title, or worse. Bidi
//! overrides would make text read differently from what was sent. Every
//! string of that kind goes through here before the TUI draws it or the
//! CLI prints it as plain text (JSON output escapes by itself).

/// What replaces a character that must not reach the terminal.
const REPLACEMENT: char = '\u{FFFD}';

/// One line: controls (line breaks and tabs included) become visible or
/// spaces, so the text cannot leave its line.
pub(crate) fn line(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\t' | '\r' => ' ',
            c if unsafe_char(c) => REPLACEMENT,
            c => c,
        })
        .collect()
}

/// Several lines: as [`line()`] for each, line breaks kept.
pub(crate) fn lines(s: &str) -> String {
    s.split('\n').map(line).collect::<Vec<_>>().join("\n")
}

/// Control characters (C0, DEL, C1) and the invisible direction marks and
/// overrides (which reorder what follows them).
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}')
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// What the CLI and the TUI say while this member holds no key of the
/// current epoch and waits for a re-wrap (`keys.md`, "Stranded members").
pub(crate) const STRANDED_NOTICE: &str =
    "you hold no key of this epoch: asked the others; you read again once one of them is online";

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn escape_sequences_cannot_reach_the_terminal() {
        let attack = "hi\x1b]0;owned\x07\x1b[2J\x1b[H\u{9b}31m";
        let safe = line(attack);
        assert!(!safe.chars().any(|c| c.is_control()), "{safe:?}");
        assert!(safe.starts_with("hi\u{FFFD}]0;owned"));
    }

    #[test]
    fn a_line_stays_one_line_and_lines_keep_their_breaks() {
        assert_eq!(line("a\nb\tc\rd"), "a b c d");
        assert_eq!(lines("first\nsecond\x1b"), "first\nsecond\u{FFFD}");
    }

    #[test]
    fn direction_overrides_are_replaced_and_ordinary_text_is_kept() {
        assert_eq!(line("pay \u{202E}gnp.exe"), "pay \u{FFFD}gnp.exe");
        assert_eq!(line("\u{2066}x\u{2069}"), "\u{FFFD}x\u{FFFD}");
        let ordinary = "Grüße, 你好, مرحبا, emoji 🙂 and – dashes";
        assert_eq!(line(ordinary), ordinary);
    }
}
