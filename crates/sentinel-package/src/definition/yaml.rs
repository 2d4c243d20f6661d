//! Typed access to a parsed YAML tree that records a problem, with its field path, for every
//! value of the wrong shape instead of stopping at the first.

use serde_norway::{Mapping, Value};

use super::problems::{Problems, child, item};

/// What a YAML value is, for messages: "expected a string, found a list".
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// A YAML mapping being read, with the field path that leads to it.
pub(crate) struct Object<'a> {
    map: &'a Mapping,
    path: String,
}

impl<'a> Object<'a> {
    /// Reads `value` as a mapping, or records that it is not one.
    pub(crate) fn read(value: &'a Value, path: &str, problems: &mut Problems) -> Option<Self> {
        match value {
            Value::Mapping(map) => Some(Object {
                map,
                path: path.to_owned(),
            }),
            other => {
                problems.field(
                    path,
                    format!("expected a mapping, found {}", describe(other)),
                );
                None
            }
        }
    }

    /// Wraps the top-level mapping of a file.
    pub(crate) fn root(map: &'a Mapping) -> Self {
        Object {
            map,
            path: String::new(),
        }
    }

    /// The field path of `key` in this mapping.
    pub(crate) fn path(&self, key: &str) -> String {
        child(&self.path, key)
    }

    /// Records every key that is not in `allowed`, suggesting the closest allowed key.
    pub(crate) fn deny_unknown(&self, allowed: &[&str], problems: &mut Problems) {
        for key in self.map.keys() {
            let Value::String(key) = key else {
                problems.field(
                    &self.path(&format!("{key:?}")),
                    format!("field names must be strings, found {}", describe(key)),
                );
                continue;
            };
            if allowed.contains(&key.as_str()) {
                continue;
            }
            let message = match closest(key, allowed) {
                Some(suggestion) => format!("unknown field (did you mean {suggestion:?}?)"),
                None => format!("unknown field; expected one of: {}", allowed.join(", ")),
            };
            problems.field(&self.path(key), message);
        }
    }

    /// The value of `key`; a YAML null counts as absent.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|value| !value.is_null())
    }

    /// The value of `key`, or a "required" problem when it is absent or null.
    pub(crate) fn required(&self, key: &str, problems: &mut Problems) -> Option<&'a Value> {
        let value = self.get(key);
        if value.is_none() {
            problems.field(&self.path(key), "is required");
        }
        value
    }

    /// The string at `key`, if present; a value of another type is a problem.
    pub(crate) fn string(&self, key: &str, problems: &mut Problems) -> Option<&'a str> {
        self.get(key)
            .and_then(|value| as_string(value, &self.path(key), problems))
    }

    /// The string at `key`, which must be present.
    pub(crate) fn required_string(&self, key: &str, problems: &mut Problems) -> Option<&'a str> {
        self.required(key, problems)
            .and_then(|value| as_string(value, &self.path(key), problems))
    }

    /// The list at `key`, if present, as `(field path, item)` pairs.
    pub(crate) fn list(
        &self,
        key: &str,
        problems: &mut Problems,
    ) -> Option<Vec<(String, &'a Value)>> {
        self.get(key)
            .and_then(|value| as_list(value, &self.path(key), problems))
    }

    /// Every key, value pair, for free-form maps; non-string keys are problems.
    pub(crate) fn entries(&self, problems: &mut Problems) -> Vec<(String, &'a Value)> {
        let mut entries = Vec::new();
        for (key, value) in self.map {
            match key {
                Value::String(key) => entries.push((key.clone(), value)),
                other => problems.field(
                    &self.path,
                    format!("keys must be strings, found {}", describe(other)),
                ),
            }
        }
        entries
    }
}

/// `value` as a string, or a problem naming what it is instead.
pub(crate) fn as_string<'a>(
    value: &'a Value,
    path: &str,
    problems: &mut Problems,
) -> Option<&'a str> {
    match value {
        Value::String(text) => Some(text),
        Value::Number(number) => {
            problems.field(
                path,
                format!("expected a string, found the number {number}; quote it: \"{number}\""),
            );
            None
        }
        other => {
            problems.field(
                path,
                format!("expected a string, found {}", describe(other)),
            );
            None
        }
    }
}

/// `value` as a list of `(field path, item)` pairs, or a problem.
pub(crate) fn as_list<'a>(
    value: &'a Value,
    path: &str,
    problems: &mut Problems,
) -> Option<Vec<(String, &'a Value)>> {
    match value {
        Value::Sequence(items) => Some(
            items
                .iter()
                .enumerate()
                .map(|(index, value)| (item(path, index), value))
                .collect(),
        ),
        other => {
            problems.field(path, format!("expected a list, found {}", describe(other)));
            None
        }
    }
}

/// `value` as an integer in `min..=max`, or a problem.
pub(crate) fn as_integer(
    value: &Value,
    path: &str,
    min: u64,
    max: u64,
    problems: &mut Problems,
) -> Option<u64> {
    let number = match value {
        Value::Number(number) => number.as_u64().filter(|n| (min..=max).contains(n)),
        _ => None,
    };
    if number.is_none() {
        let found = match value {
            Value::Number(number) => format!("{number}"),
            other => describe(other).to_owned(),
        };
        problems.field(
            path,
            format!("must be a whole number from {min} to {max}, found {found}"),
        );
    }
    number
}

/// The allowed key closest to `key` by edit distance, when close enough to be a typo or
/// when `key` abbreviates it.
fn closest<'k>(key: &str, allowed: &[&'k str]) -> Option<&'k str> {
    allowed
        .iter()
        .map(|candidate| (edit_distance(key, candidate), *candidate))
        .filter(|(distance, candidate)| {
            *distance <= 2.max(candidate.len() / 4)
                || (key.len() >= 3 && candidate.starts_with(key))
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("version", "version"), 0);
        assert_eq!(edit_distance("verison", "version"), 2);
        assert_eq!(edit_distance("helth_check", "health_check"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn suggests_only_close_keys() {
        let allowed = ["name", "version", "health_check"];
        assert_eq!(closest("verison", &allowed), Some("version"));
        assert_eq!(closest("healthcheck", &allowed), Some("health_check"));
        assert_eq!(closest("colour", &allowed), None);
        assert_eq!(closest("vers", &allowed), Some("version"));
    }
}
