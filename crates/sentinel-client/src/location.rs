//! Where a registry is: its name, the host its API answers on, and the scheme to reach it.

use std::fmt;
use std::net::Ipv4Addr;

use sentinel_oci::{
    ImageReferenceError, canonical_registry, registry_api_host, validate_registry_host,
};

/// The URL scheme used to reach a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// TLS: the default for every registry that is not on loopback.
    Https,
    /// Plain HTTP: for loopback hosts, an explicit `http://`, or a registry marked insecure.
    Http,
}

impl Scheme {
    /// The scheme as written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registry as named by the user: `localhost:5000`, `ghcr.io`, `http://127.0.0.1:5000`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistryLocation {
    host: String,
    explicit_scheme: Option<Scheme>,
}

impl RegistryLocation {
    /// Parses `[http://|https://]host[:port][/]`.
    ///
    /// `index.docker.io` is normalised to `docker.io`; anything after the host
    /// other than a single trailing `/` is refused.
    pub fn parse(input: &str) -> Result<RegistryLocation, ImageReferenceError> {
        let invalid = |reason| ImageReferenceError::Registry {
            input: input.to_owned(),
            reason,
        };
        let trimmed = input.trim();
        let (explicit_scheme, rest) = split_scheme(trimmed)
            .ok_or_else(|| invalid("only http:// and https:// are supported"))?;
        let host = rest.strip_suffix('/').unwrap_or(rest);
        validate_registry_host(host).map_err(invalid)?;
        Ok(RegistryLocation {
            host: canonical_registry(host),
            explicit_scheme,
        })
    }

    /// A location for a registry name already validated by reference parsing.
    pub(crate) fn from_validated(host: &str) -> RegistryLocation {
        RegistryLocation {
            host: canonical_registry(host),
            explicit_scheme: None,
        }
    }

    /// The registry's canonical name, e.g. `docker.io` or `localhost:5000`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host the registry API answers on (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        registry_api_host(&self.host)
    }

    /// The scheme written in the input, if any.
    pub fn explicit_scheme(&self) -> Option<Scheme> {
        self.explicit_scheme
    }

    /// The scheme to use: the one written, else HTTP for loopback hosts or
    /// when `insecure` is set, else HTTPS.
    pub fn scheme(&self, insecure: bool) -> Scheme {
        match self.explicit_scheme {
            Some(scheme) => scheme,
            None if insecure || is_loopback(&self.host) => Scheme::Http,
            None => Scheme::Https,
        }
    }
}

impl fmt::Display for RegistryLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.explicit_scheme {
            Some(scheme) => write!(f, "{scheme}://{}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// Splits an optional `http://` or `https://` prefix (any case); `None` for another scheme.
fn split_scheme(input: &str) -> Option<(Option<Scheme>, &str)> {
    let Some(index) = input.find("://") else {
        return Some((None, input));
    };
    let scheme = match input[..index].to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return None,
    };
    Some((Some(scheme), &input[index + 3..]))
}

/// Whether `host[:port]` names the local machine: `localhost`, `127.0.0.0/8` or `[::1]`.
pub(crate) fn is_loopback(host: &str) -> bool {
    if host.starts_with("[::1]") {
        return true;
    }
    let name = host.split(':').next().unwrap_or(host);
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<Ipv4Addr>()
            .is_ok_and(|address| address.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scheme_host_and_port() {
        let location = RegistryLocation::parse("http://127.0.0.1:5000").unwrap();
        assert_eq!(location.host(), "127.0.0.1:5000");
        assert_eq!(location.explicit_scheme(), Some(Scheme::Http));
        assert_eq!(location.to_string(), "http://127.0.0.1:5000");

        let location = RegistryLocation::parse("HTTPS://ghcr.io/").unwrap();
        assert_eq!(location.host(), "ghcr.io");
        assert_eq!(location.scheme(false), Scheme::Https);

        let location = RegistryLocation::parse("index.docker.io").unwrap();
        assert_eq!(location.host(), "docker.io");
        assert_eq!(location.api_host(), "registry-1.docker.io");

        let location = RegistryLocation::parse("[::1]:5000").unwrap();
        assert_eq!(location.scheme(false), Scheme::Http);
    }

    #[test]
    fn scheme_follows_loopback_insecure_and_explicit_choice() {
        let https = |s: &str, insecure: bool| RegistryLocation::parse(s).unwrap().scheme(insecure);
        assert_eq!(https("localhost:5000", false), Scheme::Http);
        assert_eq!(https("localhost", false), Scheme::Http);
        assert_eq!(https("127.1.2.3:80", false), Scheme::Http);
        assert_eq!(https("[::1]", false), Scheme::Http);
        assert_eq!(https("registry.example.com", false), Scheme::Https);
        assert_eq!(https("registry.example.com", true), Scheme::Http);
        assert_eq!(https("https://localhost:5000", true), Scheme::Https);
        assert_eq!(https("http://registry.example.com", false), Scheme::Http);
        assert_eq!(https("128.0.0.1", false), Scheme::Https);
    }

    #[test]
    fn refuses_malformed_locations() {
        for input in [
            "",
            "ftp://host",
            "host:port",
            "host:99999",
            "http://host/v2/",
            "http://",
            "ho st",
            "[::1",
            "[zz]:5000",
            "-host.example.com",
        ] {
            assert!(RegistryLocation::parse(input).is_err(), "{input:?}");
        }
    }
}
