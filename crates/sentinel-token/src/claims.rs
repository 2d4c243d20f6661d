//! What a token says: the Docker token spec's claims.

use serde::{Deserialize, Serialize};

use crate::actions::Actions;

/// The `typ` claim of a refresh token.
pub const REFRESH_TYPE: &str = "refresh";

/// One entry of an access token's `access` claim: the actions granted on one
/// resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEntry {
    /// The resource type, e.g. `repository`.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// The resource name, e.g. `alice/app`.
    pub name: String,
    /// The granted action names.
    pub actions: Vec<String>,
}

impl AccessEntry {
    /// An entry granting `actions` on one resource.
    pub fn new(
        resource_type: impl Into<String>,
        name: impl Into<String>,
        actions: Actions,
    ) -> Self {
        AccessEntry {
            resource_type: resource_type.into(),
            name: name.into(),
            actions: actions.to_wire(),
        }
    }
}

/// The claims of an access token (a registry bearer token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The issuer.
    pub iss: String,
    /// The user the token was issued to; empty for anonymous access.
    pub sub: String,
    /// The service the token is meant for.
    pub aud: String,
    /// Expiry, in Unix seconds.
    pub exp: u64,
    /// Not valid before, in Unix seconds.
    pub nbf: u64,
    /// Issued at, in Unix seconds.
    pub iat: u64,
    /// A unique token id.
    pub jti: String,
    /// The granted access.
    pub access: Vec<AccessEntry>,
    /// The personal access token this token was issued against, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    /// The user's credential generation when the token was issued, if any.
    #[serde(rename = "gen", default, skip_serializing_if = "Option::is_none")]
    pub r#gen: Option<u64>,
}

impl AccessClaims {
    /// The actions granted on one resource: the union over every matching
    /// entry; unknown action names grant nothing.
    pub fn actions_on(&self, resource_type: &str, name: &str) -> Actions {
        self.access
            .iter()
            .filter(|entry| entry.resource_type == resource_type && entry.name == name)
            .fold(Actions::NONE, |set, entry| {
                set | Actions::from_wire(&entry.actions)
            })
    }
}

/// The claims of a refresh token, exchanged for access tokens without a
/// password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshClaims {
    /// The issuer.
    pub iss: String,
    /// The user the token was issued to.
    pub sub: String,
    /// The service the token is meant for.
    pub aud: String,
    /// Expiry, in Unix seconds.
    pub exp: u64,
    /// Issued at, in Unix seconds.
    pub iat: u64,
    /// A unique token id.
    pub jti: String,
    /// Always [`REFRESH_TYPE`].
    pub typ: String,
    /// The user's credential generation when the token was issued.
    #[serde(rename = "gen")]
    pub r#gen: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_on_unites_matching_entries() {
        let claims = AccessClaims {
            iss: "i".into(),
            sub: "alice".into(),
            aud: "s".into(),
            exp: 2,
            nbf: 1,
            iat: 1,
            jti: "j".into(),
            access: vec![
                AccessEntry::new("repository", "alice/app", Actions::PULL),
                AccessEntry::new("repository", "alice/app", Actions::PUSH),
                AccessEntry::new("repository", "alice/other", Actions::DELETE),
                AccessEntry::new("registry", "alice/app", Actions::DELETE),
            ],
            tid: None,
            r#gen: Some(3),
        };
        assert_eq!(
            claims.actions_on("repository", "alice/app"),
            Actions::PULL_PUSH
        );
        assert_eq!(claims.actions_on("repository", "bob/app"), Actions::NONE);
        let json = serde_json::to_value(&claims).unwrap();
        assert_eq!(json["access"][0]["type"], "repository");
        assert_eq!(json["gen"], 3);
        assert!(json.get("tid").is_none());
    }
}
