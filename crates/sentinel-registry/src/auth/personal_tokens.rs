//! Creating and revoking personal access tokens: what `/api/v1/tokens` and
//! the UI's settings page both do, checked, stored and audited the same way.

use std::net::IpAddr;
use std::sync::Arc;

use sentinel_auth::{AuthError, PersonalToken, TokenScope};
use sentinel_token::Actions;

use super::{Authenticator, audit, now};

/// Why a token could not be created or revoked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenChangeError {
    /// What was asked for is not valid (the message says why).
    #[error("{0}")]
    Invalid(String),
    /// The users file refused the change (an unknown token, a bad name) or
    /// could not be written.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The change could not run (the server is stopping).
    #[error("the change could not run")]
    Unavailable,
}

/// The scope of a new token: `repositories` patterns (none: every
/// repository) and `actions` as `pull,push,delete` (absent: every action,
/// stored as the empty set).
pub(crate) fn scope(
    repositories: Vec<String>,
    actions: Option<&str>,
) -> Result<TokenScope, TokenChangeError> {
    let actions = match actions {
        Some(text) => match text.parse::<Actions>() {
            Ok(actions) if actions.is_empty() => {
                return Err(TokenChangeError::Invalid(
                    "a token needs at least one action: pull, push or delete".to_owned(),
                ));
            }
            Ok(actions) => actions,
            Err(error) => return Err(TokenChangeError::Invalid(error.to_string())),
        },
        None => Actions::NONE,
    };
    Ok(TokenScope {
        repositories,
        actions,
    })
}

/// When a token valid for `days` days from now expires (never, without).
pub(crate) fn expiry(days: Option<u64>) -> Result<Option<u64>, TokenChangeError> {
    days.map(|days| {
        days.checked_mul(86_400)
            .and_then(|seconds| now().checked_add(seconds))
            .ok_or_else(|| TokenChangeError::Invalid("expires_in_days is too large".to_owned()))
    })
    .transpose()
}

/// Creates token `name` of `owner` with `scope` and `expires`, as asked by
/// `actor` from `client`; the token and its text (shown once).
pub(crate) async fn create(
    auth: &Arc<Authenticator>,
    owner: &str,
    name: &str,
    scope: TokenScope,
    expires: Option<u64>,
    actor: &str,
    client: IpAddr,
) -> Result<(PersonalToken, String), TokenChangeError> {
    let (owner, name) = (owner.to_owned(), name.to_owned());
    let (token, text) = update(auth, move |state| {
        state.create_token(&owner, &name, scope, expires, now())
    })
    .await?;
    audit::record(
        "token-create",
        actor,
        client,
        None,
        Some(&format!("{} ({})", token.id, token.user)),
    );
    Ok((token, text))
}

/// Revokes token `id`, as asked by `actor` from `client` (who may do so
/// was checked by the caller).
pub(crate) async fn revoke(
    auth: &Arc<Authenticator>,
    id: &str,
    actor: &str,
    client: IpAddr,
) -> Result<PersonalToken, TokenChangeError> {
    let target = id.to_owned();
    let token = update(auth, move |state| state.revoke_token(&target)).await?;
    audit::record("token-revoke", actor, client, None, Some(id));
    Ok(token)
}

/// Applies `change` to the users file off the async threads (it syncs).
async fn update<T: Send + 'static>(
    auth: &Arc<Authenticator>,
    change: impl FnOnce(&mut sentinel_auth::AuthState) -> Result<T, AuthError> + Send + 'static,
) -> Result<T, TokenChangeError> {
    let auth = Arc::clone(auth);
    tokio::task::spawn_blocking(move || auth.shared().update(change))
        .await
        .map_err(|_| TokenChangeError::Unavailable)?
        .map_err(TokenChangeError::from)
}
