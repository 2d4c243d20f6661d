//! The canonical form of a registry name, used to key and match entries.

/// The canonical key of Docker Hub.
pub const DOCKER_HUB: &str = "docker.io";

/// The server address Docker itself uses for Docker Hub in `auths` and when
/// asking a credential helper (`docker login` stores Hub credentials under it).
pub const DOCKER_HUB_SERVER_URL: &str = "https://index.docker.io/v1/";

/// Host names that all mean Docker Hub.
const DOCKER_HUB_ALIASES: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// Reduces a registry name as people and tools write it to the canonical host
/// form used as the key of the agent credentials file and to match Docker's
/// `auths` and `credHelpers` keys.
///
/// The scheme (`https://`, `http://`) and everything from the first `/` on are
/// removed, surrounding whitespace is trimmed and the host is lower-cased; a
/// port is kept. Docker Hub's names `docker.io`, `index.docker.io` and
/// `registry-1.docker.io` all become `docker.io`, so
/// `https://index.docker.io/v1/` becomes `docker.io` too.
///
/// ```
/// use sentinel_credentials::normalize_registry_key;
/// assert_eq!(normalize_registry_key("https://index.docker.io/v1/"), "docker.io");
/// assert_eq!(normalize_registry_key("http://Localhost:5000/v2/"), "localhost:5000");
/// assert_eq!(normalize_registry_key("ghcr.io"), "ghcr.io");
/// ```
pub fn normalize_registry_key(s: &str) -> String {
    let trimmed = s.trim();
    let without_scheme = ["https://", "http://"]
        .iter()
        .find_map(|scheme| strip_prefix_ignore_case(trimmed, scheme))
        .unwrap_or(trimmed);
    let host = without_scheme
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if DOCKER_HUB_ALIASES.contains(&host.as_str()) {
        DOCKER_HUB.to_owned()
    } else {
        host
    }
}

/// The server address to hand a credential helper for a canonical registry
/// key: Docker's historical Hub address for Docker Hub, the host otherwise —
/// the same strings `docker login` stores in a helper.
pub(crate) fn helper_server_url(canonical: &str) -> &str {
    if canonical == DOCKER_HUB {
        DOCKER_HUB_SERVER_URL
    } else {
        canonical
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_aliases_share_one_key() {
        for alias in [
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "https://index.docker.io/v1/",
            "https://registry-1.docker.io/v2/",
            "HTTPS://Index.Docker.IO/v1/",
        ] {
            assert_eq!(normalize_registry_key(alias), "docker.io", "{alias}");
        }
    }

    #[test]
    fn scheme_and_path_are_removed_and_port_kept() {
        assert_eq!(normalize_registry_key("https://ghcr.io"), "ghcr.io");
        assert_eq!(normalize_registry_key("http://ghcr.io/"), "ghcr.io");
        assert_eq!(normalize_registry_key("ghcr.io/v1/"), "ghcr.io");
        assert_eq!(normalize_registry_key(" localhost:5000 "), "localhost:5000");
        assert_eq!(
            normalize_registry_key("https://123.dkr.ecr.eu-west-1.amazonaws.com/v2/"),
            "123.dkr.ecr.eu-west-1.amazonaws.com"
        );
        assert_eq!(normalize_registry_key(""), "");
    }

    #[test]
    fn helper_server_url_uses_docker_hub_legacy_address() {
        assert_eq!(helper_server_url("docker.io"), DOCKER_HUB_SERVER_URL);
        assert_eq!(helper_server_url("gcr.io"), "gcr.io");
    }
}
