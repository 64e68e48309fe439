//! The human-editable text form of [`Rules`]: TOML, with errors that name
//! the line and the problem.
//!
//! ```toml
//! founder = "organizer"        # role the group's creator holds
//! newcomer = "member"          # role any inviter may give (optional)
//! recovery = "earliest-member" # or "nobody"
//!
//! [roles.organizer]
//! powers = ["chat", "create-task", "invite", "remove", "change-rules"]
//! assign-to = ["member"]       # assignees must hold one of these roles
//! reads = ["organizer", "member"] # task scopes this role reads
//! manages = ["member"]         # roles it may assign and revoke
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::{Power, Recovery, Role, Rules, RulesError};

/// A problem in a rules file, with the (1-based) line it is on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct TomlError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong there.
    pub problem: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileToml {
    founder: Spanned<String>,
    newcomer: Option<Spanned<String>>,
    recovery: Option<Spanned<String>>,
    roles: BTreeMap<Spanned<String>, RoleToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RoleToml {
    #[serde(default)]
    powers: Vec<Spanned<String>>,
    #[serde(default)]
    assign_to: Vec<Spanned<String>>,
    #[serde(default)]
    reads: Vec<Spanned<String>>,
    #[serde(default)]
    manages: Vec<Spanned<String>>,
}

/// Where each name was written, to point semantic errors at a line.
#[derive(Default)]
struct Spans {
    roles: BTreeMap<String, Range<usize>>,
    refs: BTreeMap<(String, &'static str, String), Range<usize>>,
    founder: Range<usize>,
    newcomer: Range<usize>,
}

struct Parser<'a> {
    text: &'a str,
}

impl Parser<'_> {
    fn err(&self, span: &Range<usize>, problem: impl Into<String>) -> TomlError {
        let line = self.text.get(..span.start).map_or(1, |t| t.matches('\n').count() + 1);
        TomlError { line, problem: problem.into() }
    }

    fn names(
        &self,
        role: &str,
        (field, list): (&'static str, &[Spanned<String>]),
        spans: &mut Spans,
    ) -> Result<BTreeSet<String>, TomlError> {
        let mut out = BTreeSet::new();
        for item in list {
            if !out.insert(item.get_ref().clone()) {
                return Err(self.err(&item.span(), format!("{:?} is listed twice", item.get_ref())));
            }
            spans.refs.insert((role.into(), field, item.get_ref().clone()), item.span());
        }
        Ok(out)
    }

    fn role(&self, name: &str, t: &RoleToml, spans: &mut Spans) -> Result<Role, TomlError> {
        let mut powers = BTreeSet::new();
        for p in &t.powers {
            let power = Power::from_name(p.get_ref()).ok_or_else(|| {
                self.err(&p.span(), format!("unknown power {:?} (known: {})", p.get_ref(), known()))
            })?;
            if !powers.insert(power) {
                return Err(self.err(&p.span(), format!("power {:?} is listed twice", p.get_ref())));
            }
        }
        Ok(Role {
            powers,
            assign_to: self.names(name, ("assign-to", &t.assign_to), spans)?,
            reads: self.names(name, ("reads", &t.reads), spans)?,
            manages: self.names(name, ("manages", &t.manages), spans)?,
        })
    }

    fn recovery(&self, r: Option<&Spanned<String>>) -> Result<Recovery, TomlError> {
        match r.map(|s| (s.get_ref().as_str(), s.span())) {
            None | Some(("nobody", _)) => Ok(Recovery::Nobody),
            Some(("earliest-member", _)) => Ok(Recovery::EarliestMember),
            Some((other, span)) => Err(self.err(
                &span,
                format!("unknown recovery {other:?} (known: \"nobody\", \"earliest-member\")"),
            )),
        }
    }

    fn rules(&self, file: &FileToml, spans: &mut Spans) -> Result<Rules, TomlError> {
        let mut roles = BTreeMap::new();
        for (name, t) in &file.roles {
            spans.roles.insert(name.get_ref().clone(), name.span());
            roles.insert(name.get_ref().clone(), self.role(name.get_ref(), t, spans)?);
        }
        spans.founder = file.founder.span();
        if let Some(n) = &file.newcomer {
            spans.newcomer = n.span();
        }
        Ok(Rules {
            roles,
            founder: file.founder.get_ref().clone(),
            newcomer: file.newcomer.as_ref().map(|n| n.get_ref().clone()),
            recovery: self.recovery(file.recovery.as_ref())?,
        })
    }

    /// Points a validation error at the line that causes it.
    fn locate(&self, e: RulesError, spans: &Spans) -> TomlError {
        let span = match &e {
            RulesError::UnknownRole { role, .. } if role == "founder" => {
                Some(spans.founder.clone())
            }
            RulesError::UnknownRole { role, .. } if role == "newcomer" => {
                Some(spans.newcomer.clone())
            }
            RulesError::UnknownRole { role, unknown } => ["assign-to", "reads", "manages"]
                .iter()
                .find_map(|f| spans.refs.get(&(role.clone(), *f, unknown.clone())).cloned()),
            RulesError::GrantsMore { manager, managed }
            | RulesError::ManagesCycle { manager, managed } => {
                spans.refs.get(&(manager.clone(), "manages", managed.clone())).cloned()
            }
            RulesError::BadRoleName(r) => spans.roles.get(r).cloned(),
            _ => None,
        };
        self.err(&span.unwrap_or(0..0), e.to_string())
    }
}

fn known() -> String {
    Power::ALL.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
}

impl Rules {
    /// Parses and validates the TOML form. Every error names its line.
    pub fn from_toml(text: &str) -> Result<Rules, TomlError> {
        let p = Parser { text };
        let file: FileToml = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            p.err(&span, e.message().trim().to_string())
        })?;
        let mut spans = Spans::default();
        let rules = p.rules(&file, &mut spans)?;
        rules.validate().map_err(|e| p.locate(e, &spans))?;
        Ok(rules)
    }

    /// The TOML form; [`Rules::from_toml`] reads it back to equal rules.
    pub fn to_toml(&self) -> String {
        let list = |it: &mut dyn Iterator<Item = &str>| {
            it.map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")
        };
        let mut out = format!("founder = {:?}\n", self.founder);
        if let Some(n) = &self.newcomer {
            let _ = writeln!(out, "newcomer = {n:?}");
        }
        let recovery = match self.recovery {
            Recovery::Nobody => "nobody",
            Recovery::EarliestMember => "earliest-member",
        };
        let _ = writeln!(out, "recovery = {recovery:?}");
        for (name, r) in &self.roles {
            let _ = writeln!(out, "\n[roles.{name}]");
            let _ = writeln!(out, "powers = [{}]", list(&mut r.powers.iter().map(|p| p.name())));
            let _ = writeln!(
                out,
                "assign-to = [{}]",
                list(&mut r.assign_to.iter().map(|s| s.as_str()))
            );
            let _ = writeln!(out, "reads = [{}]", list(&mut r.reads.iter().map(|s| s.as_str())));
            let _ =
                writeln!(out, "manages = [{}]", list(&mut r.manages.iter().map(|s| s.as_str())));
        }
        out
    }
}
