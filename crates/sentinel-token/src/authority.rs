//! Issuing and verifying tokens with one signing key.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::VerifiedTokens;
use crate::claims::{AccessClaims, AccessEntry, REFRESH_TYPE, RefreshClaims};
use crate::error::TokenError;
use crate::key::SigningKey;

/// How far in the future `nbf` and `iat` may lie, for clocks that disagree.
const CLOCK_SKEW_SECS: u64 = 60;

/// An access token just issued, with what a token endpoint reports about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The signed JWT.
    pub token: String,
    /// Its lifetime in seconds.
    pub expires_in: u64,
    /// When it was issued, in Unix seconds.
    pub issued_at: u64,
}

/// Issues and verifies the tokens of one service with one key.
#[derive(Debug)]
pub struct TokenAuthority {
    key: SigningKey,
    issuer: String,
    service: String,
    access_ttl: Duration,
    refresh_ttl: Duration,
    validation: Validation,
    verified: VerifiedTokens,
}

impl TokenAuthority {
    /// An authority signing with `key` as `issuer`, for tokens meant for
    /// `service` (their audience).
    pub fn new(
        key: SigningKey,
        issuer: String,
        service: String,
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> TokenAuthority {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[&service]);
        validation.set_issuer(&[&issuer]);
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        // Times are checked against our own clock after decoding, so that
        // expiry has no leeway while `nbf` and `iat` have some.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        TokenAuthority {
            key,
            issuer,
            service,
            access_ttl,
            refresh_ttl,
            validation,
            verified: VerifiedTokens::default(),
        }
    }

    /// The service tokens are meant for (their `aud`).
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The issuer named in tokens (their `iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// How long access tokens live.
    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// How long refresh tokens live.
    pub fn refresh_ttl(&self) -> Duration {
        self.refresh_ttl
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// Issues an access token granting `access` to `subject` (empty for
    /// anonymous), optionally tied to a personal access token id and the
    /// user's credential generation.
    pub fn issue_access(
        &self,
        subject: &str,
        access: Vec<AccessEntry>,
        tid: Option<String>,
        generation: Option<u64>,
    ) -> Result<IssuedToken, TokenError> {
        let now = now_unix();
        let expires_in = self.access_ttl.as_secs();
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: subject.to_owned(),
            aud: self.service.clone(),
            exp: now.saturating_add(expires_in),
            nbf: now,
            iat: now,
            jti: new_token_id(),
            access,
            tid,
            r#gen: generation,
        };
        Ok(IssuedToken {
            token: self.sign(&claims)?,
            expires_in,
            issued_at: now,
        })
    }

    /// Issues a refresh token for `subject` at credential generation
    /// `generation`.
    pub fn issue_refresh(&self, subject: &str, generation: u64) -> Result<String, TokenError> {
        let now = now_unix();
        let claims = RefreshClaims {
            iss: self.issuer.clone(),
            sub: subject.to_owned(),
            aud: self.service.clone(),
            exp: now.saturating_add(self.refresh_ttl.as_secs()),
            iat: now,
            jti: new_token_id(),
            typ: REFRESH_TYPE.to_owned(),
            r#gen: generation,
        };
        self.sign(&claims)
    }

    /// Verifies an access token. A token verified before costs a hash
    /// lookup and an expiry check.
    pub fn verify_access(&self, token: &str) -> Result<Arc<AccessClaims>, TokenError> {
        self.verify_access_at(token, now_unix())
    }

    /// [`Self::verify_access`] with the clock at `now` (Unix seconds).
    pub(crate) fn verify_access_at(
        &self,
        token: &str,
        now: u64,
    ) -> Result<Arc<AccessClaims>, TokenError> {
        if let Some(claims) = self.verified.get(token) {
            return if claims.exp > now {
                Ok(claims)
            } else {
                Err(TokenError::Expired)
            };
        }
        let claims: AccessClaims = self.decode(token)?;
        check_times(claims.exp, claims.nbf.max(claims.iat), now)?;
        let claims = Arc::new(claims);
        self.verified.insert(token, Arc::clone(&claims), now);
        Ok(claims)
    }

    /// Verifies a refresh token.
    pub fn verify_refresh(&self, token: &str) -> Result<RefreshClaims, TokenError> {
        self.verify_refresh_at(token, now_unix())
    }

    fn verify_refresh_at(&self, token: &str, now: u64) -> Result<RefreshClaims, TokenError> {
        let claims: RefreshClaims = self.decode(token)?;
        if claims.typ != REFRESH_TYPE {
            return Err(TokenError::Invalid("it is not a refresh token".to_owned()));
        }
        check_times(claims.exp, claims.iat, now)?;
        Ok(claims)
    }

    fn sign<T: Serialize>(&self, claims: &T) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.key.kid().to_owned());
        jsonwebtoken::encode(&header, claims, self.key.encoding_key())
            .map_err(|err| TokenError::Sign(err.to_string()))
    }

    /// Checks the header, signature, issuer and audience, and parses the
    /// claims as `T`. Times are left to the caller.
    fn decode<T: DeserializeOwned>(&self, token: &str) -> Result<T, TokenError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid("its header is not an EdDSA JWT header"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(invalid("it is not signed with EdDSA"));
        }
        if header.kid.as_deref() != Some(self.key.kid()) {
            return Err(invalid("it is not signed by this registry's key"));
        }
        jsonwebtoken::decode::<T>(token, self.key.decoding_key(), &self.validation)
            .map(|data| data.claims)
            .map_err(|err| invalid(describe(err.kind())))
    }
}

fn invalid(reason: &str) -> TokenError {
    TokenError::Invalid(reason.to_owned())
}

fn describe(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature => "its signature does not match",
        ErrorKind::InvalidAudience => "it is meant for another service",
        ErrorKind::InvalidIssuer => "it was issued by someone else",
        ErrorKind::MissingRequiredClaim(_) => "it lacks a required claim",
        ErrorKind::Json(_) | ErrorKind::InvalidClaimFormat(_) => {
            "its claims are not those of this kind of token"
        }
        _ => "it is not a well-formed token",
    }
}

/// Expiry without leeway; a start time (`nbf`, `iat`) at most
/// [`CLOCK_SKEW_SECS`] in the future.
fn check_times(exp: u64, start: u64, now: u64) -> Result<(), TokenError> {
    if exp <= now {
        return Err(TokenError::Expired);
    }
    if start > now.saturating_add(CLOCK_SKEW_SECS) {
        return Err(invalid("it is not valid yet"));
    }
    Ok(())
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

fn new_token_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::actions::Actions;

    const HOUR: Duration = Duration::from_secs(3600);
    const HEADER: &str = "its header is not an EdDSA JWT header";
    const NOT_EDDSA: &str = "it is not signed with EdDSA";
    const OTHER_KEY: &str = "it is not signed by this registry's key";
    const SIGNATURE: &str = "its signature does not match";
    const AUDIENCE: &str = "it is meant for another service";
    const ISSUER: &str = "it was issued by someone else";
    const CLAIMS: &str = "its claims are not those of this kind of token";

    fn authority_with(key: SigningKey, service: &str, access_ttl: Duration) -> TokenAuthority {
        TokenAuthority::new(key, "sentinel".into(), service.into(), access_ttl, HOUR)
    }

    fn authority() -> TokenAuthority {
        authority_with(SigningKey::generate(), "registry", Duration::from_secs(300))
    }

    fn pull_on(name: &str) -> Vec<AccessEntry> {
        vec![AccessEntry::new("repository", name, Actions::PULL)]
    }

    fn access_token(authority: &TokenAuthority) -> String {
        authority
            .issue_access("alice", pull_on("alice/app"), None, Some(1))
            .unwrap()
            .token
    }

    fn segments(token: &str) -> Vec<&str> {
        token.split('.').collect()
    }

    fn claims_for(authority: &TokenAuthority, iat: u64) -> AccessClaims {
        AccessClaims {
            iss: authority.issuer().into(),
            sub: "alice".into(),
            aud: authority.service().into(),
            exp: iat + 300,
            nbf: iat,
            iat,
            jti: new_token_id(),
            access: pull_on("alice/app"),
            tid: None,
            r#gen: None,
        }
    }

    fn assert_invalid(result: Result<impl std::fmt::Debug, TokenError>, reason: &str) {
        match result {
            Err(TokenError::Invalid(given)) => assert_eq!(given, reason),
            other => panic!("expected an invalid token ({reason}), got {other:?}"),
        }
    }

    #[test]
    fn access_tokens_round_trip() {
        let authority = authority();
        let issued = authority
            .issue_access(
                "alice",
                pull_on("alice/app"),
                Some("abc123".into()),
                Some(7),
            )
            .unwrap();
        assert_eq!(issued.expires_in, 300);
        let header = jsonwebtoken::decode_header(&issued.token).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(header.kid.as_deref(), Some(authority.key().kid()));

        let claims = authority.verify_access(&issued.token).unwrap();
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.iss, "sentinel");
        assert_eq!(claims.aud, "registry");
        assert_eq!(claims.iat, issued.issued_at);
        assert_eq!(claims.nbf, claims.iat);
        assert_eq!(claims.exp, claims.iat + 300);
        assert_eq!(claims.tid.as_deref(), Some("abc123"));
        assert_eq!(claims.r#gen, Some(7));
        assert_eq!(claims.actions_on("repository", "alice/app"), Actions::PULL);

        let other = authority.issue_access("", Vec::new(), None, None).unwrap();
        assert_ne!(other.token, issued.token);
        let anonymous = authority.verify_access(&other.token).unwrap();
        assert_eq!(anonymous.sub, "");
        assert_ne!(anonymous.jti, claims.jti);
    }

    #[test]
    fn refuses_alg_none() {
        let authority = authority();
        let token = access_token(&authority);
        let payload = segments(&token)[1];
        let forged = format!("eyJhbGciOiJub25lIn0.{payload}.");
        assert_invalid(authority.verify_access(&forged), HEADER);
        let header = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"none","typ":"JWT","kid":"{}"}}"#,
            authority.key().kid()
        ));
        assert_invalid(
            authority.verify_access(&format!("{header}.{payload}.")),
            HEADER,
        );
    }

    #[test]
    fn refuses_tokens_of_another_key() {
        let authority = authority();
        let stranger = authority_with(SigningKey::generate(), "registry", HOUR);
        assert_invalid(authority.verify_access(&access_token(&stranger)), OTHER_KEY);

        // Another key claiming to be ours: the signature gives it away.
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(authority.key().kid().to_owned());
        let claims = claims_for(&authority, now_unix());
        let forged = jsonwebtoken::encode(&header, &claims, stranger.key().encoding_key()).unwrap();
        assert_invalid(authority.verify_access(&forged), SIGNATURE);
    }

    #[test]
    fn refuses_an_hmac_token_keyed_with_the_public_key() {
        let authority = authority();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(authority.key().kid().to_owned());
        let claims = claims_for(&authority, now_unix());
        let secret = jsonwebtoken::EncodingKey::from_secret(&authority.key().public_key_bytes());
        let forged = jsonwebtoken::encode(&header, &claims, &secret).unwrap();
        assert_invalid(authority.verify_access(&forged), NOT_EDDSA);
    }

    #[test]
    fn refuses_a_tampered_payload() {
        let authority = authority();
        let token = access_token(&authority);
        let parts = segments(&token);
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["access"][0]["actions"] = serde_json::json!(["pull", "push", "delete"]);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
        assert_invalid(authority.verify_access(&tampered), SIGNATURE);
        assert!(authority.verify_access(&token).is_ok());
    }

    #[test]
    fn refuses_expired_tokens() {
        let authority = authority_with(SigningKey::generate(), "registry", Duration::ZERO);
        let token = access_token(&authority);
        assert!(matches!(
            authority.verify_access(&token),
            Err(TokenError::Expired)
        ));

        let fresh = authority_with(authority.key().clone(), "registry", HOUR);
        let token = access_token(&fresh);
        let exp = fresh.verify_access(&token).unwrap().exp;
        let reloaded = authority_with(authority.key().clone(), "registry", HOUR);
        assert!(matches!(
            reloaded.verify_access_at(&token, exp),
            Err(TokenError::Expired)
        ));
    }

    #[test]
    fn refuses_another_audience_or_issuer() {
        let key = SigningKey::generate();
        let elsewhere = authority_with(key.clone(), "other-registry", HOUR);
        let here = authority_with(key.clone(), "registry", HOUR);
        assert_invalid(here.verify_access(&access_token(&elsewhere)), AUDIENCE);

        let impostor = TokenAuthority::new(key, "impostor".into(), "registry".into(), HOUR, HOUR);
        assert_invalid(here.verify_access(&access_token(&impostor)), ISSUER);
        assert_invalid(
            here.verify_refresh(&impostor.issue_refresh("alice", 1).unwrap()),
            ISSUER,
        );
    }

    #[test]
    fn access_and_refresh_tokens_are_not_interchangeable() {
        let authority = authority();
        let refresh = authority.issue_refresh("alice", 4).unwrap();
        assert_invalid(authority.verify_access(&refresh), CLAIMS);
        let claims = authority.verify_refresh(&refresh).unwrap();
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.r#gen, 4);
        assert_eq!(claims.typ, REFRESH_TYPE);
        assert_eq!(claims.aud, "registry");
        assert_eq!(claims.exp, claims.iat + HOUR.as_secs());

        assert_invalid(authority.verify_refresh(&access_token(&authority)), CLAIMS);

        let mut other_typ = claims.clone();
        other_typ.typ = "access".into();
        assert_invalid(
            authority.verify_refresh(&authority.sign(&other_typ).unwrap()),
            "it is not a refresh token",
        );
        assert!(matches!(
            authority.verify_refresh_at(&refresh, claims.exp),
            Err(TokenError::Expired)
        ));
    }

    #[test]
    fn cached_tokens_are_shared_and_still_expire() {
        let authority = authority();
        let token = access_token(&authority);
        let first = authority.verify_access(&token).unwrap();
        assert_eq!(authority.verified.len(), 1);
        let second = authority.verify_access(&token).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert!(matches!(
            authority.verify_access_at(&token, first.exp),
            Err(TokenError::Expired)
        ));
        assert!(authority.verify_access_at(&token, first.exp - 1).is_ok());
    }

    #[test]
    fn refused_tokens_are_not_cached() {
        let authority = authority();
        let stranger = authority_with(SigningKey::generate(), "registry", HOUR);
        let token = access_token(&stranger);
        assert_invalid(authority.verify_access(&token), OTHER_KEY);
        assert_invalid(authority.verify_access(&token), OTHER_KEY);
        assert_eq!(authority.verified.len(), 0);
    }

    #[test]
    fn allows_a_minute_of_clock_skew_on_start_times_only() {
        let authority = authority();
        let now = now_unix();
        let slightly_ahead = authority.sign(&claims_for(&authority, now + 30)).unwrap();
        assert!(authority.verify_access_at(&slightly_ahead, now).is_ok());
        let far_ahead = authority.sign(&claims_for(&authority, now + 120)).unwrap();
        assert_invalid(
            authority.verify_access_at(&far_ahead, now),
            "it is not valid yet",
        );
    }

    #[test]
    fn refuses_garbage() {
        let authority = authority();
        for garbage in ["", "abc", "a.b.c", ".."] {
            assert_invalid(authority.verify_access(garbage), HEADER);
            assert_invalid(authority.verify_refresh(garbage), HEADER);
        }
        let without_kid = "eyJhbGciOiJFZERTQSJ9.e30.AAAA";
        assert_invalid(authority.verify_access(without_kid), OTHER_KEY);
        let header = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"EdDSA","kid":"{}"}}"#,
            authority.key().kid()
        ));
        let bad_payload = format!("{header}.!!.AAAA");
        assert_invalid(authority.verify_access(&bad_payload), SIGNATURE);
    }
}
