//! The error of a definition that does not validate: every problem found, not only the first.

use std::fmt;

/// One thing wrong with a definition file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The field path, e.g. `ports[1].port`; `None` for problems with the file as a whole.
    pub field: Option<String>,
    /// What is wrong, as a sentence fragment without the file or field.
    pub message: String,
}

/// Why a definition file is invalid: all its problems, each naming the file and the field.
///
/// `Display` prints one problem per line, e.g.
/// `agent.yaml: field "version": "1.2" is not a semantic version (expected MAJOR.MINOR.PATCH, e.g. 1.2.0)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefinitionError {
    file: String,
    problems: Vec<Problem>,
}

impl DefinitionError {
    /// The file the problems were found in, as it was named to the parser.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Every problem, in the order they were found (document order where possible).
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            match &problem.field {
                Some(field) => write!(f, "{}: field {field:?}: {}", self.file, problem.message)?,
                None => write!(f, "{}: {}", self.file, problem.message)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for DefinitionError {}

/// Collects problems while a definition is checked.
#[derive(Debug)]
pub(crate) struct Problems {
    file: String,
    problems: Vec<Problem>,
}

impl Problems {
    pub(crate) fn new(file: &str) -> Self {
        Problems {
            file: file.to_owned(),
            problems: Vec::new(),
        }
    }

    /// Records a problem with `field`.
    pub(crate) fn field(&mut self, field: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            field: Some(field.to_owned()),
            message: message.into(),
        });
    }

    /// Records a problem with the file as a whole.
    pub(crate) fn file(&mut self, message: impl Into<String>) {
        self.problems.push(Problem {
            field: None,
            message: message.into(),
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// `Ok(value)` when nothing was recorded and `value` was built, the collected error otherwise.
    pub(crate) fn finish<T>(mut self, value: Option<T>) -> Result<T, DefinitionError> {
        match value {
            Some(value) if self.problems.is_empty() => Ok(value),
            _ => {
                if self.problems.is_empty() {
                    self.file("is not a valid definition");
                }
                Err(self.into_error())
            }
        }
    }

    pub(crate) fn into_error(self) -> DefinitionError {
        DefinitionError {
            file: self.file,
            problems: self.problems,
        }
    }
}

/// `parent.key`, or `key` at the top level.
pub(crate) fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[index]`.
pub(crate) fn item(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}
