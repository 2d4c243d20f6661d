//! The naming and password rules every mutation checks.

use sentinel_oci::RepositoryName;

use crate::error::AuthError;

/// Shortest user or organisation name.
const MIN_ACCOUNT_NAME: usize = 2;
/// Longest user or organisation name.
const MAX_ACCOUNT_NAME: usize = 64;
/// Shortest password, in characters.
const MIN_PASSWORD: usize = 8;
/// Longest password, in characters.
const MAX_PASSWORD: usize = 1024;
/// Longest personal access token label, in characters.
const MAX_TOKEN_NAME: usize = 64;

fn invalid(name: &str, reason: impl Into<String>) -> AuthError {
    AuthError::InvalidName {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

/// Checks a user or organisation name: one repository path component,
/// `[a-z0-9]+([._-][a-z0-9]+)*`, 2 to 64 characters.
pub(crate) fn account_name(name: &str) -> Result<(), AuthError> {
    if !(MIN_ACCOUNT_NAME..=MAX_ACCOUNT_NAME).contains(&name.len()) {
        return Err(invalid(
            name,
            format!("a name is {MIN_ACCOUNT_NAME} to {MAX_ACCOUNT_NAME} characters long"),
        ));
    }
    let alphanumeric = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let separator = |c: char| matches!(c, '.' | '_' | '-');
    let mut previous_was_separator = true;
    for c in name.chars() {
        if separator(c) {
            if previous_was_separator {
                return Err(invalid(
                    name,
                    "a name starts with a letter or digit and never has two separators in a row",
                ));
            }
            previous_was_separator = true;
        } else if alphanumeric(c) {
            previous_was_separator = false;
        } else {
            return Err(invalid(
                name,
                "a name uses only lowercase letters, digits, '.', '_' and '-'",
            ));
        }
    }
    if previous_was_separator {
        return Err(invalid(name, "a name ends with a letter or digit"));
    }
    Ok(())
}

/// Checks a password's length: 8 to 1024 characters.
pub(crate) fn password(password: &str) -> Result<(), AuthError> {
    let length = password.chars().count();
    if length < MIN_PASSWORD {
        return Err(AuthError::WeakPassword(format!(
            "it must be at least {MIN_PASSWORD} characters long"
        )));
    }
    if length > MAX_PASSWORD {
        return Err(AuthError::WeakPassword(format!(
            "it must be at most {MAX_PASSWORD} characters long"
        )));
    }
    Ok(())
}

/// Checks a personal access token's label: 1 to 64 characters, no control
/// characters.
pub(crate) fn token_name(name: &str) -> Result<(), AuthError> {
    let length = name.chars().count();
    if length == 0 || length > MAX_TOKEN_NAME || name.trim() != name {
        return Err(invalid(
            name,
            format!(
                "a token name is 1 to {MAX_TOKEN_NAME} characters without leading or trailing spaces"
            ),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(name, "a token name has no control characters"));
    }
    Ok(())
}

/// Checks a repository name against the OCI distribution grammar.
pub(crate) fn repository(name: &str) -> Result<(), AuthError> {
    name.parse::<RepositoryName>()
        .map(drop)
        .map_err(|error| invalid(name, error.to_string()))
}

/// Checks a token scope pattern: `*`, `<repository>/*` or a repository name.
pub(crate) fn scope_pattern(pattern: &str) -> Result<(), AuthError> {
    if pattern == "*" {
        return Ok(());
    }
    repository(pattern.strip_suffix("/*").unwrap_or(pattern)).map_err(|_| {
        invalid(
            pattern,
            "a scope pattern is `*`, `<repository>/*` or a repository name",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_follow_one_path_component() {
        for good in ["al", "alice", "a.b", "a_b", "a-b", "team42", "x1-y2.z3"] {
            assert!(account_name(good).is_ok(), "{good}");
        }
        let long = "a".repeat(65);
        for bad in [
            "a", "Alice", "-al", "al-", "a--b", "a._b", "a/b", "al ice", "", &long,
        ] {
            assert!(
                matches!(account_name(bad), Err(AuthError::InvalidName { .. })),
                "{bad}"
            );
        }
        assert!(account_name(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn passwords_are_8_to_1024_characters() {
        assert!(matches!(password("short"), Err(AuthError::WeakPassword(_))));
        assert!(password("eight ch").is_ok());
        assert!(password(&"x".repeat(1024)).is_ok());
        assert!(matches!(
            password(&"x".repeat(1025)),
            Err(AuthError::WeakPassword(_))
        ));
        let message = password("hunter2").unwrap_err().to_string();
        assert!(!message.contains("hunter2"));
    }

    #[test]
    fn token_names_and_scope_patterns() {
        assert!(token_name("ci laptop").is_ok());
        assert!(token_name("").is_err());
        assert!(token_name(" padded").is_err());
        assert!(token_name("tab\there").is_err());
        assert!(scope_pattern("*").is_ok());
        assert!(scope_pattern("alice/*").is_ok());
        assert!(scope_pattern("alice/app").is_ok());
        assert!(scope_pattern("Alice/*").is_err());
        assert!(scope_pattern("alice/**").is_err());
        assert!(scope_pattern("/*").is_err());
    }
}
