//! What a caller may do to a repository, given the auth state.

use sentinel_token::{Action, Actions};

use crate::authenticate::Principal;
use crate::model::{Access, AuthState, Role, Visibility, namespace_of};

/// The actions `principal` (`None` for anonymous) may take on `repository`:
///
/// 1. a global admin may do everything;
/// 2. anyone may pull a public repository;
/// 3. the owner of the namespace (the text before the first `/`) may pull,
///    push and delete (pull only with the reader role); a name without `/`
///    has no owner;
/// 4. a member of the organisation owning the namespace: readers pull if the
///    repository is public or organisation-visible, publishers pull and push,
///    admins do everything;
/// 5. a grant on the repository adds its actions;
/// 6. users with the reader role never push or delete;
/// 7. a personal access token narrows all of this to its scope (but never
///    below what an anonymous caller may do).
pub fn permitted(state: &AuthState, principal: Option<&Principal>, repository: &str) -> Actions {
    let policy = state.policy(repository);
    let public = if policy.visibility == Visibility::Public {
        Actions::PULL
    } else {
        Actions::NONE
    };
    let Some(principal) = principal else {
        return public;
    };
    let user = principal.user.as_str();
    let mut allowed = public;
    if principal.role == Role::Admin {
        allowed = Actions::ALL;
    }
    if let Some(namespace) = namespace_of(repository) {
        if namespace == user {
            allowed = allowed | Actions::ALL;
        }
        let membership = state
            .organisations
            .get(namespace)
            .and_then(|organisation| organisation.members.get(user));
        allowed = allowed
            | match membership {
                Some(Role::Admin) => Actions::ALL,
                Some(Role::Publisher) => Actions::PULL_PUSH,
                Some(Role::Reader) if policy.visibility != Visibility::Private => Actions::PULL,
                Some(Role::Reader) | None => Actions::NONE,
            };
    }
    if let Some(access) = policy.grants.get(user) {
        allowed = allowed | access.actions();
    }
    if principal.role == Role::Reader {
        allowed = allowed.intersection(Actions::PULL);
    }
    match &principal.token {
        Some(token) => allowed.intersection(token.scope.allows(repository)) | public,
        None => allowed,
    }
}

/// Whether `principal` may change `repository`'s visibility and grants: a
/// global admin, or a user with the publisher role or above who owns the
/// namespace, is an admin of the organisation owning it, or was granted
/// admin access. Through a personal access token, only if its scope allows delete
/// on the repository.
pub fn may_administer(state: &AuthState, principal: &Principal, repository: &str) -> bool {
    let user = principal.user.as_str();
    let namespace = namespace_of(repository);
    let owner = namespace == Some(user) && principal.role >= Role::Publisher;
    let organisation_admin =
        namespace.is_some_and(|namespace| is_organisation_admin(state, user, namespace));
    let granted_admin = state.policy(repository).grants.get(user) == Some(&Access::Admin);
    // Readers never change anything, whatever their memberships and grants.
    let entitled = principal.role == Role::Admin
        || principal.role >= Role::Publisher && (owner || organisation_admin || granted_admin);
    entitled
        && principal
            .token
            .as_ref()
            .is_none_or(|token| token.scope.allows(repository).contains(Action::Delete))
}

/// Whether `principal` may manage `organisation`'s members: a global admin
/// or an admin member with the publisher role or above. Through a personal access token, only if its scope
/// allows delete on the organisation's whole namespace (`*`, `<org>/*`, or
/// no repository list).
pub fn may_manage_organisation(
    state: &AuthState,
    principal: &Principal,
    organisation: &str,
) -> bool {
    let entitled = principal.role == Role::Admin
        || principal.role >= Role::Publisher
            && is_organisation_admin(state, &principal.user, organisation);
    entitled
        && principal.token.as_ref().is_none_or(|token| {
            token
                .scope
                .allows_namespace(organisation)
                .contains(Action::Delete)
        })
}

fn is_organisation_admin(state: &AuthState, user: &str, organisation: &str) -> bool {
    state
        .organisations
        .get(organisation)
        .and_then(|organisation| organisation.members.get(user))
        == Some(&Role::Admin)
}
