//! Ruleset errors: every problem names the file and, where known, the line.

use std::fmt;

/// One problem in a ruleset, located in a file of the ruleset folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Path relative to the ruleset folder (or the folder itself).
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl Problem {
    pub fn new(file: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            file: file.into(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    pub fn at(mut self, line: usize, column: usize) -> Problem {
        self.line = Some(line);
        self.column = Some(column);
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file, self.message),
            (Some(l), None) => write!(f, "{}:{l}: {}", self.file, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// The ruleset could not be loaded, or it failed on an application (a
/// script error, a limit hit, no valid draft). Never the application's fault:
/// invalid applications are refused before a ruleset sees them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RulesetError {
    pub problems: Vec<Problem>,
}

impl RulesetError {
    pub fn one(problem: Problem) -> RulesetError {
        RulesetError {
            problems: vec![problem],
        }
    }

    pub fn new(file: impl Into<String>, message: impl Into<String>) -> RulesetError {
        RulesetError::one(Problem::new(file, message))
    }
}

impl fmt::Display for RulesetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for p in &self.problems {
            if !first {
                f.write_str("\n")?;
            }
            first = false;
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Byte offset → 1-based (line, column).
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
    (line, column)
}
