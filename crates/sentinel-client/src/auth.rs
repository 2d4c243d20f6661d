//! What to authenticate a request with, learnt from the registry's challenges.
//!
//! The state here is pure: it says whether to send nothing, a ready header,
//! or to fetch a token first; fetching is the transport's job.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use sentinel_credentials::Credential;
use url::Url;

use crate::challenge::{Challenge, parse_challenges};
use crate::scope::Scopes;
use crate::token::{IssuedToken, TokenCache};

/// The authentication scheme the registry asked for last.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scheme {
    /// No challenge seen yet: requests go out without credentials.
    Unknown,
    /// HTTP Basic (ECR, htpasswd).
    Basic,
    /// The Docker token flow.
    Bearer(TokenService),
}

/// Where tokens come from, as named by a `Bearer` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenService {
    /// The token endpoint.
    pub realm: Url,
    /// The `service` to name in token requests.
    pub service: Option<String>,
}

/// What to do before sending a request.
pub(crate) enum Plan {
    /// Send it without `Authorization`.
    Anonymous,
    /// Send it with this `Authorization`.
    Header(HeaderValue),
    /// Get a token for the scopes from this service first.
    FetchToken(TokenService),
}

/// What to do after a 401.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AfterUnauthorized {
    /// Authenticate again (asking also for the scopes the challenge named, if any) and resend.
    Retry {
        /// The challenge's `scope`, to merge into the token request.
        challenge_scope: Option<String>,
    },
    /// Nothing else to try: authentication failed.
    GiveUp,
}

/// The credential and what the registry has asked for so far; shared by clones of a client.
pub(crate) struct Authenticator {
    credential: Option<Credential>,
    state: Mutex<State>,
}

struct State {
    scheme: Scheme,
    tokens: TokenCache,
}

impl Authenticator {
    pub fn new(credential: Option<Credential>) -> Self {
        Authenticator {
            credential,
            state: Mutex::new(State {
                scheme: Scheme::Unknown,
                tokens: TokenCache::default(),
            }),
        }
    }

    /// The credential, if any.
    pub fn credential(&self) -> Option<&Credential> {
        self.credential.as_ref()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state holds no invariant a panicking holder could break half-way.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How to authenticate a request needing `scopes`.
    pub fn plan(&self, scopes: &Scopes) -> Plan {
        let state = self.state();
        match &state.scheme {
            Scheme::Unknown => Plan::Anonymous,
            Scheme::Basic => match &self.credential {
                Some(credential) => Plan::Header(direct_header(credential)),
                None => Plan::Anonymous,
            },
            Scheme::Bearer(service) => match &self.credential {
                Some(Credential::Bearer { token }) => Plan::Header(bearer_header(token)),
                _ => match state.tokens.get(scopes, Instant::now()) {
                    Some(token) => Plan::Header(bearer_header(token)),
                    None => Plan::FetchToken(service.clone()),
                },
            },
        }
    }

    /// Keeps a freshly issued token for `scopes`.
    pub fn store_token(&self, scopes: Scopes, token: &IssuedToken) {
        self.state().tokens.insert(scopes, token, Instant::now());
    }

    /// Learns from a 401's challenges; `sent` says whether the refused request carried credentials.
    pub fn unauthorized(
        &self,
        headers: &HeaderMap,
        scopes: &Scopes,
        sent: bool,
    ) -> AfterUnauthorized {
        let offered = Offered::read(headers);
        let mut state = self.state();
        if let Some((service, challenge_scope)) = offered.bearer {
            state.scheme = Scheme::Bearer(service);
            state.tokens.remove(scopes);
            if sent && matches!(self.credential, Some(Credential::Bearer { .. })) {
                return AfterUnauthorized::GiveUp;
            }
            return AfterUnauthorized::Retry { challenge_scope };
        }
        if offered.basic {
            state.scheme = Scheme::Basic;
            if self.credential.is_some() && !sent {
                return AfterUnauthorized::Retry {
                    challenge_scope: None,
                };
            }
        }
        AfterUnauthorized::GiveUp
    }
}

/// The usable challenges of a 401: a token service (with the scope it named) and/or Basic.
pub(crate) struct Offered {
    /// A `Bearer` challenge with an http(s) realm.
    pub bearer: Option<(TokenService, Option<String>)>,
    /// Whether a `Basic` challenge was offered.
    pub basic: bool,
}

impl Offered {
    /// Reads every `WWW-Authenticate` header.
    pub fn read(headers: &HeaderMap) -> Offered {
        let challenges: Vec<Challenge> = headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(parse_challenges)
            .collect();
        let bearer = challenges
            .iter()
            .filter(|challenge| challenge.scheme == "bearer")
            .find_map(|challenge| {
                let realm = Url::parse(challenge.param("realm")?)
                    .ok()
                    .filter(|url| matches!(url.scheme(), "http" | "https"))?;
                let service = TokenService {
                    realm,
                    service: challenge.param("service").map(str::to_owned),
                };
                Some((service, challenge.param("scope").map(str::to_owned)))
            });
        let basic = challenges
            .iter()
            .any(|challenge| challenge.scheme == "basic");
        Offered { bearer, basic }
    }
}

/// The header a credential is sent as when no token exchange happens:
/// Basic for a username with a password or identity token, Bearer for a token.
pub(crate) fn direct_header(credential: &Credential) -> HeaderValue {
    match credential {
        Credential::Basic { username, password } => basic_header(username, password),
        Credential::IdentityToken { username, token } => basic_header(username, token),
        Credential::Bearer { token } => bearer_header(token),
    }
}

/// `Basic base64(username:secret)`, marked sensitive so it is never logged.
pub(crate) fn basic_header(username: &str, secret: &str) -> HeaderValue {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{secret}"));
    sensitive(format!("Basic {encoded}"))
}

/// `Bearer <token>`, marked sensitive so it is never logged.
pub(crate) fn bearer_header(token: &str) -> HeaderValue {
    sensitive(format!("Bearer {token}"))
}

fn sensitive(value: String) -> HeaderValue {
    // Base64 and registry tokens are visible ASCII; a token with control
    // characters cannot be sent at all, so it is sent as an empty value and refused.
    let mut header = HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""));
    header.set_sensitive(true);
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(challenge: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(WWW_AUTHENTICATE, HeaderValue::from_str(challenge).unwrap());
        headers
    }

    fn basic() -> Credential {
        Credential::Basic {
            username: "u".into(),
            password: "p".into(),
        }
    }

    #[test]
    fn basic_challenge_sends_credentials_once() {
        let auth = Authenticator::new(Some(basic()));
        let scopes = Scopes::pull("a");
        assert!(matches!(auth.plan(&scopes), Plan::Anonymous));
        let after = auth.unauthorized(&headers(r#"Basic realm="r""#), &scopes, false);
        assert_eq!(
            after,
            AfterUnauthorized::Retry {
                challenge_scope: None
            }
        );
        let Plan::Header(header) = auth.plan(&scopes) else {
            panic!("expected a header");
        };
        assert_eq!(header.to_str().unwrap(), "Basic dTpw");
        assert!(header.is_sensitive());
        assert_eq!(
            auth.unauthorized(&headers(r#"Basic realm="r""#), &scopes, true),
            AfterUnauthorized::GiveUp
        );
    }

    #[test]
    fn basic_challenge_without_credentials_gives_up() {
        let auth = Authenticator::new(None);
        let after = auth.unauthorized(&headers(r#"Basic realm="r""#), &Scopes::pull("a"), false);
        assert_eq!(after, AfterUnauthorized::GiveUp);
    }

    #[test]
    fn bearer_challenge_asks_for_a_token_then_uses_the_cache() {
        let auth = Authenticator::new(None);
        let scopes = Scopes::pull("a");
        let after = auth.unauthorized(
            &headers(r#"Bearer realm="https://auth.example.com/token",service="reg",scope="repository:a:pull""#),
            &scopes,
            false,
        );
        assert_eq!(
            after,
            AfterUnauthorized::Retry {
                challenge_scope: Some("repository:a:pull".into())
            }
        );
        let Plan::FetchToken(service) = auth.plan(&scopes) else {
            panic!("expected a token fetch");
        };
        assert_eq!(service.realm.as_str(), "https://auth.example.com/token");
        assert_eq!(service.service.as_deref(), Some("reg"));
        auth.store_token(
            scopes.clone(),
            &IssuedToken {
                token: "tok".into(),
                lifetime: std::time::Duration::from_secs(300),
                refresh_token: None,
            },
        );
        let Plan::Header(header) = auth.plan(&scopes) else {
            panic!("expected the cached token");
        };
        assert_eq!(header.to_str().unwrap(), "Bearer tok");
        assert!(matches!(auth.plan(&Scopes::push("a")), Plan::FetchToken(_)));
    }

    #[test]
    fn bearer_credential_is_sent_as_is_and_not_retried_when_refused() {
        let auth = Authenticator::new(Some(Credential::Bearer {
            token: "static".into(),
        }));
        let scopes = Scopes::pull("a");
        let challenge = headers(r#"Bearer realm="https://a/t""#);
        assert!(matches!(
            auth.unauthorized(&challenge, &scopes, false),
            AfterUnauthorized::Retry { .. }
        ));
        assert!(matches!(auth.plan(&scopes), Plan::Header(h) if h == "Bearer static"));
        assert_eq!(
            auth.unauthorized(&challenge, &scopes, true),
            AfterUnauthorized::GiveUp
        );
    }

    #[test]
    fn identity_token_is_sent_as_basic_password() {
        let header = direct_header(&Credential::IdentityToken {
            username: "u".into(),
            token: "p".into(),
        });
        assert_eq!(header.to_str().unwrap(), "Basic dTpw");
    }

    #[test]
    fn unusable_challenges_give_up() {
        let auth = Authenticator::new(Some(basic()));
        let scopes = Scopes::pull("a");
        for challenge in [
            "Negotiate",
            r#"Bearer realm="ftp://x""#,
            r#"Bearer service="s""#,
        ] {
            assert_eq!(
                auth.unauthorized(&headers(challenge), &scopes, false),
                AfterUnauthorized::GiveUp
            );
        }
        assert_eq!(
            auth.unauthorized(&HeaderMap::new(), &scopes, false),
            AfterUnauthorized::GiveUp
        );
    }
}
