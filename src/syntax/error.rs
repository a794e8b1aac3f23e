//! Configuration errors: every one names a file, a line and a column, shows the
//! offending line with a caret, and says in one sentence what is wrong.

use std::fmt;
use std::path::{Path, PathBuf};

/// A position in a probe file (1-based; 0 means "unknown").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl Pos {
    pub fn from_loc(loc: &serde_saphyr::Location) -> Pos {
        Pos {
            line: loc.line() as u32,
            col: loc.column() as u32,
        }
    }

    pub fn is_known(&self) -> bool {
        self.line > 0
    }
}

/// One problem found in a probe file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub pos: Pos,
    pub message: String,
    /// The source line the error points at, when known.
    pub snippet: Option<String>,
}

impl ConfigError {
    pub fn new(file: &Path, source: &str, pos: Pos, message: impl Into<String>) -> Self {
        let snippet = if pos.is_known() {
            source
                .lines()
                .nth(pos.line as usize - 1)
                .map(|l| l.to_string())
        } else {
            None
        };
        ConfigError {
            file: file.to_path_buf(),
            pos,
            message: message.into(),
            snippet,
        }
    }

    /// An error in what was given on the command line (no file position).
    pub fn command_line(message: impl Into<String>) -> Self {
        ConfigError {
            file: PathBuf::from("<command line>"),
            pos: Pos::default(),
            message: message.into(),
            snippet: None,
        }
    }

    /// An error about a file as a whole (unreadable, empty, …).
    pub fn file_level(file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            pos: Pos { line: 1, col: 1 },
            message: message.into(),
            snippet: None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.pos.is_known() {
            return write!(f, "{}: {}", self.file.display(), self.message);
        }
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.pos.line,
            self.pos.col,
            self.message
        )?;
        if let Some(snippet) = &self.snippet {
            let num = self.pos.line.to_string();
            let pad = " ".repeat(num.len());
            // The caret column counts characters, as the parser does; tabs are kept so
            // the caret lines up under them.
            let caret_pad: String = snippet
                .chars()
                .take(self.pos.col.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "\n{pad} |\n{num} | {snippet}\n{pad} | {caret_pad}^")?;
        }
        Ok(())
    }
}

/// All the problems found in a set of probe files (reported together, in order).
#[derive(Debug, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {e}")?;
        }
        if self.0.len() > 1 {
            // Probe files and findings files (`--accept`) share this machinery.
            let mut files: Vec<&Path> = self.0.iter().map(|e| e.file.as_path()).collect();
            files.sort();
            files.dedup();
            match files.as_slice() {
                [one] => write!(f, "\n{} errors in {}", self.0.len(), one.display())?,
                many => write!(f, "\n{} errors in {} files", self.0.len(), many.len())?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
