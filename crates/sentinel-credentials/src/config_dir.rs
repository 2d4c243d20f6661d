//! Default locations of the agent's and Docker's configuration directories.

use std::ffi::OsString;
use std::path::PathBuf;

/// Overrides the agent configuration directory.
pub const AGENT_CONFIG_DIR: &str = "AGENT_CONFIG_DIR";
/// Overrides Docker's configuration directory (the one holding `config.json`).
pub const DOCKER_CONFIG: &str = "DOCKER_CONFIG";

/// The agent configuration directory: `$AGENT_CONFIG_DIR`, else
/// `$XDG_CONFIG_HOME/agent` (when that is an absolute path), else
/// `$HOME/.config/agent`. `None` when none of these can be determined.
pub fn default_config_dir() -> Option<PathBuf> {
    config_dir_from(process_var)
}

/// Docker's configuration directory: `$DOCKER_CONFIG`, else `$HOME/.docker`.
pub fn default_docker_config_dir() -> Option<PathBuf> {
    docker_config_dir_from(process_var)
}

fn process_var(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

fn config_dir_from(lookup: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    if let Some(dir) = non_empty_path(lookup(AGENT_CONFIG_DIR)) {
        return Some(dir);
    }
    if let Some(xdg) = non_empty_path(lookup("XDG_CONFIG_HOME")).filter(|dir| dir.is_absolute()) {
        return Some(xdg.join("agent"));
    }
    home_dir(&lookup).map(|home| home.join(".config").join("agent"))
}

fn docker_config_dir_from(lookup: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    non_empty_path(lookup(DOCKER_CONFIG))
        .or_else(|| home_dir(&lookup).map(|home| home.join(".docker")))
}

/// `$HOME` when set (on every platform, so tests and users can override it),
/// otherwise the platform's notion of the home directory.
fn home_dir(lookup: &impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    non_empty_path(lookup("HOME")).or_else(std::env::home_dir)
}

fn non_empty_path(value: Option<OsString>) -> Option<PathBuf> {
    value.filter(|v| !v.is_empty()).map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn agent_config_dir_wins() {
        let vars = lookup(&[
            (AGENT_CONFIG_DIR, "/cfg/agent-here"),
            ("XDG_CONFIG_HOME", "/xdg"),
            ("HOME", "/home/u"),
        ]);
        assert_eq!(
            config_dir_from(vars),
            Some(PathBuf::from("/cfg/agent-here"))
        );
    }

    #[test]
    fn xdg_config_home_then_home() {
        let vars = lookup(&[("XDG_CONFIG_HOME", "/xdg"), ("HOME", "/home/u")]);
        assert_eq!(config_dir_from(vars), Some(PathBuf::from("/xdg/agent")));
        let vars = lookup(&[("XDG_CONFIG_HOME", "relative"), ("HOME", "/home/u")]);
        assert_eq!(
            config_dir_from(vars),
            Some(PathBuf::from("/home/u/.config/agent"))
        );
        let vars = lookup(&[(AGENT_CONFIG_DIR, ""), ("HOME", "/home/u")]);
        assert_eq!(
            config_dir_from(vars),
            Some(PathBuf::from("/home/u/.config/agent"))
        );
    }

    #[test]
    fn docker_config_dir_from_variable_or_home() {
        let vars = lookup(&[(DOCKER_CONFIG, "/d"), ("HOME", "/home/u")]);
        assert_eq!(docker_config_dir_from(vars), Some(PathBuf::from("/d")));
        let vars = lookup(&[("HOME", "/home/u")]);
        assert_eq!(
            docker_config_dir_from(vars),
            Some(PathBuf::from("/home/u/.docker"))
        );
    }
}
