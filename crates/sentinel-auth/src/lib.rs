//! Registry identities and access control: users with roles, organisations,
//! personal access tokens, repository visibility and per-user grants; the
//! file they are stored in; how credentials are verified; and the policy
//! that turns all of it into the actions a caller may take on a repository.

pub mod authenticate;
mod error;
mod model;
mod mutations;
pub mod policy;
mod secrets;
mod shared;
mod store;
mod validate;

pub use authenticate::{AuthFailure, CredentialVerifier, Principal, TokenRestriction, is_current};
pub use error::AuthError;
pub use model::{
    Access, AuthState, Organisation, ParseValueError, PersonalToken, RepositoryPolicy, Role,
    TokenScope, User, Visibility, namespace_of,
};
pub use policy::{may_administer, may_manage_organisation, permitted};
pub use secrets::{TOKEN_PREFIX, hash_password};
pub use sentinel_token::{Action, Actions};
pub use shared::SharedAuth;
pub use store::{AuthStore, FileStamp};
