//! Docker token service answers, and the cache of tokens per scope set.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;

use crate::scope::Scopes;

/// The largest token service answer read.
pub(crate) const MAX_TOKEN_RESPONSE: u64 = 1024 * 1024;
/// The lifetime the token spec assumes when `expires_in` is absent.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
/// The longest a token is renewed ahead of its expiry.
const MAX_RENEWAL_MARGIN: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
    issued_at: Option<String>,
    refresh_token: Option<String>,
}

/// A token as issued by a token service.
#[derive(Clone)]
pub(crate) struct IssuedToken {
    /// The bearer token.
    pub token: String,
    /// How long it stays valid from now.
    pub lifetime: Duration,
    /// An OAuth2 refresh token, when the service issued one (`access_type=offline`).
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// Reads a token service's JSON: `token` or `access_token`, `expires_in`
/// (default 60 s) and `issued_at` (which shortens the lifetime by the token's
/// age when the clocks agree). The error names what is wrong, never a value.
pub(crate) fn parse_token_response(
    body: &[u8],
    now: SystemTime,
) -> Result<IssuedToken, &'static str> {
    let response: TokenResponse = serde_json::from_slice(body)
        .map_err(|_| "the token service's answer is not the expected JSON")?;
    let token = response
        .token
        .filter(|token| !token.is_empty())
        .or(response.access_token.filter(|token| !token.is_empty()))
        .ok_or("the token service's answer holds neither token nor access_token")?;
    let expires_in = match response.expires_in {
        Some(0) | None => DEFAULT_LIFETIME,
        Some(seconds) => Duration::from_secs(seconds),
    };
    let age = response
        .issued_at
        .and_then(|issued| humantime::parse_rfc3339_weak(&issued).ok())
        .and_then(|issued| now.duration_since(issued).ok())
        // An age beyond the lifetime means the clocks disagree: trust expires_in alone.
        .filter(|age| *age < expires_in)
        .unwrap_or(Duration::ZERO);
    Ok(IssuedToken {
        token,
        lifetime: expires_in - age,
        refresh_token: response.refresh_token.filter(|token| !token.is_empty()),
    })
}

/// Cached bearer tokens of one registry, keyed by the sorted scope set they were asked for.
#[derive(Default)]
pub(crate) struct TokenCache {
    tokens: HashMap<Scopes, CachedToken>,
}

struct CachedToken {
    token: String,
    renew_at: Instant,
}

impl TokenCache {
    /// The token for `scopes`, unless it is close to expiring.
    pub fn get(&self, scopes: &Scopes, now: Instant) -> Option<&str> {
        self.tokens
            .get(scopes)
            .filter(|cached| now < cached.renew_at)
            .map(|cached| cached.token.as_str())
    }

    /// Keeps `token` for `scopes` until shortly before it expires (a tenth of its life, at most 30 s).
    pub fn insert(&mut self, scopes: Scopes, token: &IssuedToken, now: Instant) {
        let margin = (token.lifetime / 10).min(MAX_RENEWAL_MARGIN);
        self.tokens.insert(
            scopes,
            CachedToken {
                token: token.token.clone(),
                renew_at: now + (token.lifetime - margin),
            },
        );
    }

    /// Forgets the token for `scopes` (the registry refused it).
    pub fn remove(&mut self, scopes: &Scopes) {
        self.tokens.remove(scopes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        humantime::parse_rfc3339("2024-05-01T12:00:00Z").unwrap()
    }

    #[test]
    fn reads_token_or_access_token_with_lifetimes() {
        let parsed = parse_token_response(br#"{"token":"t1","expires_in":300}"#, now()).unwrap();
        assert_eq!(parsed.token, "t1");
        assert_eq!(parsed.lifetime, Duration::from_secs(300));

        let parsed =
            parse_token_response(br#"{"access_token":"t2","refresh_token":"r"}"#, now()).unwrap();
        assert_eq!(parsed.token, "t2");
        assert_eq!(parsed.lifetime, Duration::from_secs(60));
        assert_eq!(parsed.refresh_token.as_deref(), Some("r"));

        let parsed = parse_token_response(
            br#"{"token":"t3","expires_in":300,"issued_at":"2024-05-01T11:58:00.123456789Z"}"#,
            now(),
        )
        .unwrap();
        assert!(
            parsed.lifetime > Duration::from_secs(180)
                && parsed.lifetime < Duration::from_secs(181)
        );

        let skewed = parse_token_response(
            br#"{"token":"t4","expires_in":60,"issued_at":"2020-01-01T00:00:00Z"}"#,
            now(),
        )
        .unwrap();
        assert_eq!(skewed.lifetime, Duration::from_secs(60));

        assert!(parse_token_response(br#"{"token":""}"#, now()).is_err());
        assert!(parse_token_response(b"not json", now()).is_err());
    }

    #[test]
    fn cache_renews_shortly_before_expiry() {
        let mut cache = TokenCache::default();
        let start = Instant::now();
        let scopes = Scopes::pull("a");
        let token = IssuedToken {
            token: "t".into(),
            lifetime: Duration::from_secs(60),
            refresh_token: None,
        };
        cache.insert(scopes.clone(), &token, start);
        assert_eq!(
            cache.get(&scopes, start + Duration::from_secs(53)),
            Some("t")
        );
        assert_eq!(cache.get(&scopes, start + Duration::from_secs(54)), None);
        assert_eq!(cache.get(&Scopes::push("a"), start), None);
        cache.remove(&scopes);
        assert_eq!(cache.get(&scopes, start), None);
    }
}
