//! The host clients name this registry by, in the answers that print it
//! (the token realm, the UI's pull commands): the configured public URL's
//! host when there is one, else the request's own `Host`, but only when it
//! is a plain host name or address with an optional port, so a forged
//! header cannot put anything else into a page or a challenge.

use axum::http::{HeaderMap, header};

/// The request's `Host` header, when it is a plain host name, IPv4 or
/// bracketed IPv6 address with an optional port.
pub(crate) fn request_host(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .filter(|host| {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
}

/// The host clients should name this registry by: `public_host` (from the
/// configured public URL) when there is one, else [`request_host`], else
/// `localhost`.
pub(crate) fn registry_host<'a>(public_host: Option<&'a str>, headers: &'a HeaderMap) -> &'a str {
    public_host
        .or_else(|| request_host(headers))
        .unwrap_or("localhost")
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with_host(host: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static(host));
        headers
    }

    #[test]
    fn plain_hosts_are_taken() {
        for host in ["registry.example", "127.0.0.1:5000", "[::1]:5000", "a-b.c"] {
            assert_eq!(request_host(&with_host(host)), Some(host));
        }
    }

    #[test]
    fn anything_else_is_not() {
        for host in ["", "evil.example/<script>", "a b", "x\"y", "user@host"] {
            assert_eq!(request_host(&with_host(host)), None, "{host:?}");
        }
        assert_eq!(request_host(&HeaderMap::new()), None);
        assert_eq!(registry_host(None, &with_host("a b")), "localhost");
    }

    #[test]
    fn the_public_host_wins() {
        let headers = with_host("127.0.0.1:5000");
        assert_eq!(registry_host(Some("hub.example"), &headers), "hub.example");
        assert_eq!(registry_host(None, &headers), "127.0.0.1:5000");
    }
}
