//! Drawing the [`App`]: status bar, groups, the main pane (chat, task board,
//! members, warnings), notice line, input line, help and popups. Designed
//! for 80×24 and up.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use cairn_net::node::health::Tor;

use super::app::{App, Popup, View};
use super::command::COMMANDS;
use super::snapshot::{Column, GroupView, TaskRow};

const GROUPS_WIDTH: u16 = 16;

/// Draws the whole screen.
pub(crate) fn draw(f: &mut Frame, app: &App) {
    let [status, body, notice, input] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    f.render_widget(status_bar(app), status);
    let [groups, main] =
        Layout::horizontal([Constraint::Length(GROUPS_WIDTH), Constraint::Min(20)]).areas(body);
    f.render_widget(groups_list(app), groups);
    match app.view {
        View::Chat => chat(f, app, main),
        View::Tasks => tasks(f, app, main),
        View::Members => members(f, app, main),
        View::Warnings => warnings(f, app, main),
    }
    f.render_widget(notice_line(app), notice);
    let prompt = "> ";
    // Show the end of a long input line.
    let room = usize::from(input.width.saturating_sub(3));
    let chars: Vec<char> = app.input.chars().collect();
    let shown: String = chars[chars.len().saturating_sub(room)..].iter().collect();
    f.render_widget(Paragraph::new(format!("{prompt}{shown}")), input);
    let x = input.x + 2 + u16::try_from(shown.chars().count()).unwrap_or(0);
    f.set_cursor_position((x.min(input.right().saturating_sub(1)), input.y));
    if let Some(p) = &app.popup {
        popup(f, p, body);
    }
    if app.help {
        help(f, f.area());
    }
}

/// A colour per profile, so that two profiles on one screen are told apart.
pub(crate) fn profile_colour(profile: &str) -> Color {
    const PALETTE: [Color; 6] = [
        Color::Cyan,
        Color::Magenta,
        Color::Yellow,
        Color::Green,
        Color::LightBlue,
        Color::LightRed,
    ];
    let h = profile.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    PALETTE[(h % 6) as usize]
}

fn status_bar(app: &App) -> Paragraph<'static> {
    let sep = || Span::raw(" │ ");
    let mut spans = vec![Span::styled(
        format!("● {}", app.profile),
        Style::new().fg(app.colour).add_modifier(Modifier::BOLD),
    )];
    spans.push(sep());
    spans.push(network_span(app));
    spans.push(sep());
    spans.push(relay_span(app));
    spans.push(sep());
    spans.push(Span::raw(match app.health.node.last_sync {
        Some(t) => format!("sync {}", ago(app.now.saturating_sub(t))),
        None => "sync –".into(),
    }));
    if app.snapshot.outbox > 0 {
        spans.push(sep());
        spans.push(Span::styled(
            format!("outbox {}", app.snapshot.outbox),
            Style::new().fg(Color::Yellow),
        ));
    }
    if !app.warnings.is_empty() {
        spans.push(sep());
        spans.push(Span::styled(
            format!("⚠ {} F5", app.warnings.len()),
            Style::new().fg(Color::Black).bg(Color::Red),
        ));
    }
    Paragraph::new(Line::from(spans)).style(Style::new().bg(Color::DarkGray))
}

fn network_span(app: &App) -> Span<'static> {
    let h = &app.health;
    if h.insecure {
        return Span::styled("NO TOR (loopback)", Style::new().fg(Color::Black).bg(Color::Yellow));
    }
    match &h.node.tor {
        Tor::Bootstrapping { blocked: Some(b), .. } => {
            Span::styled(format!("tor blocked: {b}"), Style::new().fg(Color::Red))
        }
        Tor::Ready => Span::styled("tor ok", Style::new().fg(Color::Green)),
        Tor::Bootstrapping { percent: 0, .. } => Span::raw("tor …"),
        Tor::Bootstrapping { percent, .. } => {
            Span::styled(format!("tor {percent}%"), Style::new().fg(Color::Yellow))
        }
        _ => Span::raw("tor –"),
    }
}

fn relay_span(app: &App) -> Span<'static> {
    let Some(g) = app.group() else { return Span::raw("no group") };
    let up = app.health.node.relays_up(&g.id);
    let total = g.relays.len();
    let colour = match (up, total) {
        (_, 0) => Color::Gray,
        (0, _) => Color::Red,
        (u, t) if u < t => Color::Yellow,
        _ => Color::Green,
    };
    Span::styled(format!("relays {up}/{total}"), Style::new().fg(colour))
}

fn ago(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        _ => format!("{}h ago", secs / 3600),
    }
}

fn groups_list(app: &App) -> Paragraph<'static> {
    let lines: Vec<Line> = if app.snapshot.groups.is_empty() {
        vec![Line::raw("(none)"), Line::raw("/group new"), Line::raw("/join")]
    } else {
        app.snapshot
            .groups
            .iter()
            .map(|(g, name)| {
                let style = if Some(*g) == app.selected {
                    Style::new().add_modifier(Modifier::REVERSED)
                } else {
                    Style::new()
                };
                Line::styled(name.clone(), style)
            })
            .collect()
    };
    Paragraph::new(lines).block(Block::bordered().title("groups ^N^P"))
}

/// The main pane's frame: which view, and which group.
fn pane(app: &App) -> Block<'static> {
    let tab = |v: View, label: &'static str| {
        if app.view == v {
            Span::styled(label, Style::new().add_modifier(Modifier::REVERSED))
        } else {
            Span::raw(label)
        }
    };
    let name = app.group().map_or_else(|| "no group".into(), |g| g.name.clone());
    Block::bordered().title(Line::from(vec![
        Span::styled(format!(" {name} "), Style::new().add_modifier(Modifier::BOLD)),
        tab(View::Chat, "F2 chat"),
        Span::raw(" "),
        tab(View::Tasks, "F3 tasks"),
        Span::raw(" "),
        tab(View::Members, "F4 members"),
        Span::raw(" "),
        tab(View::Warnings, "F5 warn"),
    ]))
}

fn no_group(f: &mut Frame, app: &App, area: Rect) {
    let text = vec![
        Line::raw("No group yet."),
        Line::raw(""),
        Line::raw("/group new NAME     found one"),
        Line::raw("/join INVITE NAME   join one with an invite"),
        Line::raw("?                   help"),
    ];
    f.render_widget(Paragraph::new(text).block(pane(app)), area);
}

fn chat(f: &mut Frame, app: &App, area: Rect) {
    let Some(g) = app.group() else { return no_group(f, app, area) };
    let block = pane(app);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = usize::from(inner.width);
    let height = usize::from(inner.height);
    let mut lines: Vec<Line> = Vec::new();
    let mut selected_at = None;
    // Each chat line takes at least one row: a screen above and below the
    // selected line (or the end) is all that can show. Only those are
    // wrapped, however many lines the snapshot carries.
    let anchor = app.chat_sel.unwrap_or(g.chat.len());
    let first = anchor.saturating_sub(height);
    if first == 0 && g.chat_earlier > 0 {
        let more = format!("({} earlier lines: Up at the top brings them)", g.chat_earlier);
        lines.push(Line::styled(more, Style::new().fg(Color::DarkGray)));
    }
    let shown = g.chat.iter().enumerate().skip(first).take(2 * height + 1);
    for (i, c) in shown {
        let selected = app.chat_sel == Some(i);
        if selected {
            selected_at = Some(lines.len());
        }
        let style =
            if selected { Style::new().add_modifier(Modifier::REVERSED) } else { Style::new() };
        if c.event {
            let text = format!("— {} {}", c.author, c.text);
            let dim = style.fg(Color::DarkGray).add_modifier(Modifier::ITALIC);
            lines.extend(wrap(&text, width).into_iter().map(|piece| Line::styled(piece, dim)));
            continue;
        }
        if let Some(q) = &c.reply_to {
            lines.push(Line::styled(format!("  ↳ {q}"), Style::new().fg(Color::DarkGray)));
        }
        let text = format!("{}: {}", c.author, c.text);
        for (j, piece) in wrap(&text, width).into_iter().enumerate() {
            let author_len = if j == 0 { c.author.len() + 1 } else { 0 };
            lines.push(author_line(piece, author_len, &c.author, style));
        }
    }
    if g.stranded {
        let notice = crate::text::STRANDED_NOTICE;
        let warn = Style::new().fg(Color::Yellow);
        lines.extend(wrap(notice, width).into_iter().map(|piece| Line::styled(piece, warn)));
    }
    if g.chat.is_empty() {
        lines.push(Line::styled(
            "No messages yet. Type and press Enter to send.",
            Style::new().fg(Color::DarkGray),
        ));
    }
    // Follow the end, or keep the selected line in view.
    let end = match selected_at {
        Some(at) => (at + height / 2).clamp(height.min(lines.len()), lines.len()),
        None => lines.len(),
    };
    let start = end.saturating_sub(height);
    f.render_widget(Paragraph::new(lines[start..end].to_vec()), inner);
}

fn author_line(piece: String, author_len: usize, author: &str, style: Style) -> Line<'static> {
    if author_len == 0 || piece.len() < author_len {
        return Line::styled(piece, style);
    }
    let colour = if author == "you" { Color::Cyan } else { profile_colour(author) };
    let (who, rest) = piece.split_at(author_len);
    Line::from(vec![
        Span::styled(who.to_owned(), style.fg(colour).add_modifier(Modifier::BOLD)),
        Span::styled(rest.to_owned(), style),
    ])
}

/// Splits `text` into lines of at most `width` characters, at spaces when
/// it can.
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        let used = line.chars().count();
        if used > 0 && used + 1 + word.len() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        while word.len() > width {
            // Only a word longer than the whole width gets here, on a fresh line.
            let rest = word.split_off(width);
            line.extend(word);
            out.push(std::mem::take(&mut line));
            word = rest;
        }
        line.extend(word);
    }
    out.push(line);
    out
}

fn tasks(f: &mut Frame, app: &App, area: Rect) {
    let Some(g) = app.group() else { return no_group(f, app, area) };
    let block = pane(app);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [board, detail] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(inner);
    let visible = app.visible_tasks();
    let selected = visible.get(app.task_sel).map(|t| t.id);
    let columns = Layout::horizontal([Constraint::Ratio(1, 3); 3]).split(board);
    let headings =
        [(Column::Unassigned, "open"), (Column::Assigned, "assigned"), (Column::Closed, "closed")];
    for ((column, heading), area) in headings.iter().zip(columns.iter()) {
        let in_column: Vec<&&TaskRow> = visible.iter().filter(|t| t.column() == *column).collect();
        let mut lines = vec![Line::styled(
            format!("{heading} ({})", in_column.len()),
            Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        )];
        for t in in_column {
            let style = if Some(t.id) == selected {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new()
            };
            let title = t.title.clone().unwrap_or_else(|| "(sealed)".into());
            lines.push(Line::styled(format!("#{} {title}", t.number), style));
        }
        f.render_widget(Paragraph::new(lines), *area);
    }
    let filter = format!(" filter: {} (/filter) ", app.filter.name());
    let detail_block = Block::bordered().title(filter);
    let text = match visible.get(app.task_sel) {
        Some(t) => task_detail(t, g),
        None if g.tasks.is_empty() => vec![Line::raw("No tasks yet: /task new TITLE")],
        None => vec![Line::raw("No task matches the filter: /filter all")],
    };
    f.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }).block(detail_block), detail);
}

fn task_detail(t: &TaskRow, _g: &GroupView) -> Vec<Line<'static>> {
    let state = if t.open { "open" } else { "closed" };
    let title = t.title.clone().unwrap_or_else(|| "(sealed: not readable by your roles)".into());
    let mut lines = vec![
        Line::styled(format!("#{} {title}", t.number), Style::new().add_modifier(Modifier::BOLD)),
        Line::raw(format!(
            "{state} · assigned: {} · readable by: {}",
            if t.assignees.is_empty() { "nobody".into() } else { t.assignees.join(", ") },
            t.readable_by.join(", ")
        )),
    ];
    // Multi-line texts arrive with their breaks (`text::lines`): one Line
    // each, as a break inside a Line would reach the terminal.
    lines.extend(t.description.lines().map(|l| Line::raw(l.to_owned())));
    for (author, text) in &t.comments {
        let text = text.as_deref().unwrap_or("(sealed)");
        let mut parts = text.lines();
        let first = parts.next().unwrap_or_default();
        lines.push(Line::raw(format!("  {author}: {first}")));
        lines.extend(parts.map(|l| Line::raw(format!("    {l}"))));
    }
    if t.comments.is_empty() {
        lines.push(Line::styled(
            "  no comments · /comment TEXT · /assign NAME · /close",
            Style::new().fg(Color::DarkGray),
        ));
    }
    lines
}

fn members(f: &mut Frame, app: &App, area: Rect) {
    let Some(g) = app.group() else { return no_group(f, app, area) };
    let mut lines = vec![Line::styled(
        format!("{:<10} {:<18} {:<8} roles", "name", "key", "direct"),
        Style::new().add_modifier(Modifier::BOLD),
    )];
    for (i, m) in g.members.iter().enumerate() {
        let style = if i == app.member_sel {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        };
        lines.push(Line::styled(
            format!(
                "{:<10} {:<18} {:<8} {}",
                m.name,
                cairn_proto::hex::short(&m.key.0, 16),
                if m.reachable { "yes" } else { "no" },
                m.roles.join(",")
            ),
            style,
        ));
    }
    lines.push(Line::raw(""));
    lines.push(Line::raw(format!("relays: {}", g.relays.join(", "))));
    lines.push(Line::raw(format!("epoch {} · your roles: {}", g.epoch, g.my_roles.join(", "))));
    lines.push(Line::styled(
        "/remove · /role assign|revoke NAME ROLE · /invite [ROLE] · /rotate",
        Style::new().fg(Color::DarkGray),
    ));
    f.render_widget(Paragraph::new(lines).block(pane(app)), area);
}

fn warnings(f: &mut Frame, app: &App, area: Rect) {
    let block = pane(app);
    let inner = block.inner(area);
    f.render_widget(block, area);
    if app.warnings.is_empty() {
        f.render_widget(Paragraph::new("No warnings."), inner);
        return;
    }
    let [list, detail] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(inner);
    let lines: Vec<Line> = app
        .warnings
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let style = if i == app.warning_sel {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new().fg(Color::Red)
            };
            Line::styled(w.summary.clone(), style)
        })
        .collect();
    f.render_widget(Paragraph::new(lines), list);
    if let Some(w) = app.warnings.get(app.warning_sel) {
        f.render_widget(
            Paragraph::new(w.detail.clone())
                .wrap(Wrap { trim: true })
                .block(Block::bordered().title(" what it means ")),
            detail,
        );
    }
}

fn notice_line(app: &App) -> Paragraph<'static> {
    match &app.notice {
        Some((true, text)) => Paragraph::new(text.clone()).style(Style::new().fg(Color::Red)),
        Some((false, text)) => Paragraph::new(text.clone()).style(Style::new().fg(Color::Green)),
        None => Paragraph::new("? help · Enter send · /command · Tab complete · ^C quit")
            .style(Style::new().fg(Color::DarkGray)),
    }
}

/// A rectangle centred in `area`, at most `w`×`h`.
fn centred(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn popup(f: &mut Frame, p: &Popup, area: Rect) {
    let (title, lines): (&str, Vec<Line>) = match p {
        Popup::Invite { text, minutes } => {
            let width = usize::from(area.width.saturating_sub(4));
            let mut lines = vec![Line::raw(format!(
                "Hand this over privately; it works once, for {minutes} minutes:"
            ))];
            // Hard breaks, no border characters inside: copy line by line.
            let chars: Vec<char> = text.chars().collect();
            lines.extend(
                chars.chunks(width.max(1)).map(|c| Line::raw(c.iter().collect::<String>())),
            );
            lines.push(Line::raw(""));
            lines.push(Line::raw("When they join you compare a code. Esc closes."));
            (" invite ", lines)
        }
        Popup::JoinRequest { name, fingerprint, code } => (
            " join request ",
            vec![
                Line::raw(format!("{name:?} wants to join.")),
                Line::raw(format!("fingerprint {fingerprint}")),
                Line::styled(format!("code {code}"), Style::new().add_modifier(Modifier::BOLD)),
                Line::raw(""),
                Line::raw("Ask them which code they see (by phone or in person)."),
                Line::raw("Same code: y admits. Different: n refuses."),
            ],
        ),
        Popup::Joining { code, inviter } => (
            " joining ",
            vec![
                Line::raw(format!("Waiting for {inviter} to admit you.")),
                Line::styled(format!("code {code}"), Style::new().add_modifier(Modifier::BOLD)),
                Line::raw(""),
                Line::raw("Tell them this code; they admit you if theirs matches."),
                Line::raw("Esc hides this."),
            ],
        ),
    };
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let r = centred(area, area.width, height);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .block(Block::bordered().title(title).style(Style::new().fg(Color::White))),
        r,
    );
}

fn help(f: &mut Frame, area: Rect) {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut lines = vec![
        Line::styled("Enter send · Tab complete · ↑↓ select · ^N ^P group · ^C quit", bold),
        Line::styled("F2 chat · F3 tasks · F4 members · F5 warnings · Esc close", bold),
    ];
    // The views have their keys above; /help is named in the title.
    let views = ["help", "chat", "tasks", "members", "warnings"];
    lines.extend(
        (COMMANDS.iter())
            .filter(|(w, _, _)| !views.contains(w))
            .map(|(w, args, what)| Line::raw(format!("/{w:<8}{args:<24}{what}"))),
    );
    let r = centred(area, area.width, u16::try_from(lines.len() + 2).unwrap_or(u16::MAX));
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .block(Block::bordered().title(" /help (? F1) — plain text is chat; Esc closes ")),
        r,
    );
}
