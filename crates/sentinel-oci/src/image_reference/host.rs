//! The registry-host grammar of an image reference, and Docker Hub's names.

/// The name Docker Hub images are written under.
pub const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's legacy name, normalised to [`DOCKER_HUB`].
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
/// The host Docker Hub's registry API answers on.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// Whether the first path component of a reference names a registry: it
/// contains `.` or `:`, or is `localhost` (the rule Docker and oras use).
pub fn looks_like_registry(component: &str) -> bool {
    component.contains(['.', ':']) || component == "localhost"
}

/// Checks `host[:port]` where host is a DNS name, an IPv4 address or a
/// bracketed IPv6 address, and the port is from 1 to 65535; the error says
/// what is wrong.
pub fn validate_registry_host(host: &str) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("the registry host is empty");
    }
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => {
            let (address, after) = rest
                .split_once(']')
                .ok_or("an IPv6 address must be closed with ']'")?;
            if address.is_empty()
                || !address
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            {
                return Err("the IPv6 address is malformed");
            }
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or("only a :port may follow an IPv6 address")?,
                ),
            };
            (None, port)
        }
        None => match host.split_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host), None),
        },
    };
    if let Some(name) = name
        && !name.split('.').all(is_valid_label)
    {
        return Err("the host name may hold only letters, digits, '-' and '.'-separated labels");
    }
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|port| port > 0)
    {
        return Err("the port must be a number from 1 to 65535");
    }
    Ok(())
}

/// One DNS label: letters, digits and `-`, not starting or ending with `-`.
fn is_valid_label(label: &str) -> bool {
    !label.is_empty()
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Docker Hub's legacy name becomes `docker.io`; every other name is kept as written.
pub fn canonical_registry(host: &str) -> String {
    if host.eq_ignore_ascii_case(DOCKER_HUB_LEGACY) || host.eq_ignore_ascii_case(DOCKER_HUB) {
        DOCKER_HUB.to_owned()
    } else {
        host.to_owned()
    }
}

/// The host the registry API of a canonical registry name answers on
/// (`registry-1.docker.io` for Docker Hub, the name itself otherwise).
pub fn registry_api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        DOCKER_HUB_API
    } else {
        registry
    }
}
