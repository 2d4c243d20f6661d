//! URLs as they may appear in logs and errors: scheme, host and path only,
//! since queries (pre-signed redirects, upload state) can carry secrets.

use std::fmt;

use url::Url;

/// Displays `url` without its query, fragment or user info.
pub(crate) fn redacted(url: &Url) -> Redacted<'_> {
    Redacted(url)
}

/// See [`redacted`].
pub(crate) struct Redacted<'a>(&'a Url);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.0;
        write!(f, "{}://{}", url.scheme(), url.host_str().unwrap_or(""))?;
        if let Some(port) = url.port() {
            write!(f, ":{port}")?;
        }
        f.write_str(url.path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_query_fragment_and_user_info() {
        let url = Url::parse(
            "https://user:pw@bucket.s3.example.com:8443/blobs/x?X-Amz-Signature=secret#frag",
        )
        .unwrap();
        assert_eq!(
            redacted(&url).to_string(),
            "https://bucket.s3.example.com:8443/blobs/x"
        );
    }
}
