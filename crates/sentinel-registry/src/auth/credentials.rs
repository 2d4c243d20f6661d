//! Reading the credentials a request presents in its `Authorization` header.

use axum::http::{HeaderMap, header};
use base64::Engine as _;

/// What a caller presents to prove who it is: in the `Authorization`
/// header, or (for `POST /token`) in the OAuth2 form, where a refresh token
/// is the bearer.
pub(crate) enum Credentials {
    /// No header.
    Nothing,
    /// `Basic`: a user name and a password or personal access token.
    Basic {
        /// The user name.
        user: String,
        /// The password or token.
        secret: String,
    },
    /// `Bearer`: a token.
    Bearer(String),
}

/// Why the `Authorization` header could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MalformedAuthorization {
    /// The header is not text.
    #[error("the Authorization header is not valid text")]
    NotText,
    /// A scheme other than Basic and Bearer.
    #[error("unsupported authorization scheme {0:?}: use Basic or Bearer")]
    Scheme(String),
    /// A Basic value that is not base64 of `user:password`.
    #[error("the Basic credentials are not base64 of user:password")]
    Basic,
    /// An empty Bearer token.
    #[error("the Bearer token is empty")]
    EmptyBearer,
}

/// Reads the `Authorization` header of a request.
pub(crate) fn credentials(headers: &HeaderMap) -> Result<Credentials, MalformedAuthorization> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Credentials::Nothing);
    };
    let value = value
        .to_str()
        .map_err(|_| MalformedAuthorization::NotText)?
        .trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| MalformedAuthorization::Basic)?;
        let text = String::from_utf8(decoded).map_err(|_| MalformedAuthorization::Basic)?;
        let (user, secret) = text.split_once(':').ok_or(MalformedAuthorization::Basic)?;
        Ok(Credentials::Basic {
            user: user.to_owned(),
            secret: secret.to_owned(),
        })
    } else if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() {
            return Err(MalformedAuthorization::EmptyBearer);
        }
        Ok(Credentials::Bearer(rest.to_owned()))
    } else {
        Err(MalformedAuthorization::Scheme(
            scheme.chars().take(32).collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn read(value: &str) -> Result<Credentials, MalformedAuthorization> {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        credentials(&headers)
    }

    #[test]
    fn basic_and_bearer_are_read_and_everything_else_is_refused() {
        match read("Basic YWxpY2U6czNjcjN0OndpdGg6Y29sb25z").unwrap() {
            Credentials::Basic { user, secret } => {
                assert_eq!(user, "alice");
                assert_eq!(secret, "s3cr3t:with:colons");
            }
            _ => panic!("expected Basic"),
        }
        assert!(matches!(read("bearer abc").unwrap(), Credentials::Bearer(t) if t == "abc"));
        assert!(matches!(
            read("Basic !!!"),
            Err(MalformedAuthorization::Basic)
        ));
        assert!(matches!(
            read("Basic bm9jb2xvbg=="),
            Err(MalformedAuthorization::Basic)
        ));
        assert!(matches!(
            read("Bearer "),
            Err(MalformedAuthorization::EmptyBearer)
        ));
        assert!(matches!(
            read("Digest x"),
            Err(MalformedAuthorization::Scheme(_))
        ));
        assert!(matches!(
            credentials(&HeaderMap::new()),
            Ok(Credentials::Nothing)
        ));
    }
}
