//! Authorisation: who x action x repository -> decision. Refusals are the
//! same whether or not the repository exists.

use sentinel_auth::{AuthState, Principal, SharedAuth, permitted};
use sentinel_token::{AccessEntry, Action, Actions, Scope};

use super::Caller;
use super::authentication::principal_from_claims;

/// The scope a client asks `/token` for to list the catalog.
const CATALOG_SCOPE: &str = "registry:catalog:*";

/// What a request needs from its caller.
pub(crate) enum Requirement<'a> {
    /// Any valid credentials or token (the `/v2/` check, unsupported methods).
    SignedIn,
    /// Access to the catalog (its entries are then filtered one by one).
    Catalog,
    /// These actions on this repository.
    Repository(&'a str, Actions),
}

/// Why a caller may not do what it asked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NotAllowed {
    /// Nobody signed in: signing in (for `scope`) may help.
    #[error("authentication required")]
    SignInRequired {
        /// The scope to ask `/token` for, if one is known.
        scope: Option<String>,
    },
    /// The bearer token does not cover the request; a new token for
    /// `scope` would.
    #[error("{message}")]
    InsufficientScope {
        /// The scope to ask `/token` for.
        scope: String,
        /// What the token misses.
        message: &'static str,
    },
    /// The caller may not do this at all.
    #[error("requested access to {repository} is denied (needs {needed})")]
    Denied {
        /// The repository.
        repository: String,
        /// The actions asked for.
        needed: Actions,
    },
}

/// Checks that `caller` may do what `requirement` says, as of the state in
/// `shared`.
pub(crate) fn authorize(
    shared: &SharedAuth,
    caller: &Caller,
    requirement: Requirement<'_>,
) -> Result<(), NotAllowed> {
    match requirement {
        Requirement::SignedIn => match caller {
            Caller::Anonymous => Err(NotAllowed::SignInRequired { scope: None }),
            _ => Ok(()),
        },
        Requirement::Catalog => match caller {
            Caller::Anonymous => Err(NotAllowed::SignInRequired {
                scope: Some(CATALOG_SCOPE.to_owned()),
            }),
            Caller::Token(claims) if claims.actions_on("registry", "catalog").is_empty() => {
                Err(NotAllowed::InsufficientScope {
                    scope: CATALOG_SCOPE.to_owned(),
                    message: "the token does not cover the catalog",
                })
            }
            _ => Ok(()),
        },
        Requirement::Repository(repository, needed) => {
            authorize_repository(shared, caller, repository, needed)
        }
    }
}

/// Checks that `caller` may do `needed` on `repository`.
fn authorize_repository(
    shared: &SharedAuth,
    caller: &Caller,
    repository: &str,
    needed: Actions,
) -> Result<(), NotAllowed> {
    let scope = || format!("repository:{repository}:{needed}");
    let granted = match caller {
        Caller::Anonymous => {
            return Err(NotAllowed::SignInRequired {
                scope: Some(scope()),
            });
        }
        // The hot path: a hash lookup already done, a scan of the claim.
        Caller::Token(claims) => claims.actions_on("repository", repository),
        Caller::User(principal) => permitted(&shared.current(), Some(principal), repository),
    };
    if granted.intersection(needed) == needed {
        return Ok(());
    }
    let state = shared.current();
    let principal = principal_of(&state, caller);
    let allowed = permitted(&state, principal.as_ref(), repository);
    if matches!(caller, Caller::Token(_))
        && (principal.is_none() || allowed.intersection(needed) == needed)
    {
        // A new token would help: the caller may do this, or is anonymous
        // and may sign in.
        return Err(NotAllowed::InsufficientScope {
            scope: scope(),
            message: "the token does not cover this request",
        });
    }
    Err(NotAllowed::Denied {
        repository: repository.to_owned(),
        needed,
    })
}

/// The principal behind a caller, as of `state` (a token's user with their
/// current role and the restriction of the access token it came from).
fn principal_of(state: &AuthState, caller: &Caller) -> Option<Principal> {
    match caller {
        Caller::Anonymous => None,
        Caller::User(principal) => Some(principal.clone()),
        Caller::Token(claims) => principal_from_claims(state, claims),
    }
}

/// Whether `caller` may see `repository` now (catalog filtering).
pub(crate) fn can_see(shared: &SharedAuth, caller: &Caller, repository: &str) -> bool {
    let state = shared.current();
    let principal = principal_of(&state, caller);
    permitted(&state, principal.as_ref(), repository).contains(Action::Pull)
}

/// Whether the request itself may pull from `repository` (a mount's
/// source): a token must cover it, Basic credentials must allow it.
pub(crate) fn may_pull(shared: &SharedAuth, caller: &Caller, repository: &str) -> bool {
    let granted = match caller {
        Caller::Anonymous => Actions::NONE,
        Caller::Token(claims) => claims.actions_on("repository", repository),
        Caller::User(principal) => permitted(&shared.current(), Some(principal), repository),
    };
    granted.contains(Action::Pull)
}

/// Whether `caller` may push to `repository` now, whatever the request's
/// token covers (a pull's token covers only pull): the pusher of a
/// manifest may read it back under a signature policy, to sign it.
pub(crate) fn may_push(shared: &SharedAuth, caller: &Caller, repository: &str) -> bool {
    let state = shared.current();
    let principal = principal_of(&state, caller);
    principal.is_some() && permitted(&state, principal.as_ref(), repository).contains(Action::Push)
}

/// What a token may do: for each scope, the actions both asked for and
/// allowed now. The catalog is granted to everyone (its entries are filtered
/// per caller); other resource types are not granted.
pub(crate) fn grant(
    state: &AuthState,
    principal: Option<&Principal>,
    scopes: &[Scope],
) -> Vec<AccessEntry> {
    let mut access: Vec<AccessEntry> = Vec::new();
    for scope in scopes {
        let granted = match (scope.resource_type.as_str(), scope.name.as_str()) {
            ("repository", name) if name.parse::<sentinel_oci::RepositoryName>().is_ok() => scope
                .requested_actions()
                .intersection(permitted(state, principal, name)),
            ("registry", "catalog") => Actions::ALL,
            _ => Actions::NONE,
        };
        if granted.is_empty() {
            continue;
        }
        let actions = if scope.resource_type == "registry" {
            vec!["*".to_owned()]
        } else {
            granted.to_wire()
        };
        access.push(AccessEntry {
            resource_type: scope.resource_type.clone(),
            name: scope.name.clone(),
            actions,
        });
    }
    access
}
