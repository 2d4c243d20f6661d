//! Registry credentials: where a client finds them and how it keeps them.
//!
//! [`CredentialSources::resolve`] looks for a registry's credential in order:
//!
//! 1. the environment ([`Environment`]): `AGENT_REGISTRY_TOKEN` (a bearer
//!    token, limited to `AGENT_REGISTRY_URL` when that is set), then
//!    `DOCKER_USERNAME` with `DOCKER_PASSWORD`;
//! 2. the agent's own `credentials.json` ([`AgentCredentialStore`]), written
//!    owner-only and atomically under a lock;
//! 3. Docker's `config.json`: the registry's `credHelpers` helper, its `auths`
//!    entry, then the `credsStore` helper ([`helper_get`]).
//!
//! Registry names are compared in [`normalize_registry_key`] form, so
//! `https://index.docker.io/v1/`, `docker.io` and `registry-1.docker.io` are
//! one registry. Secrets never appear in `Debug`/`Display` output or in error
//! messages.

mod agent_store;
mod config_dir;
mod credential;
mod docker_config;
mod environment;
mod error;
mod helper;
mod private_file;
mod registry_key;
mod sources;

pub use agent_store::{AgentCredentialStore, CREDENTIALS_FILE_NAME, CREDENTIALS_LOCK_FILE_NAME};
pub use config_dir::{
    AGENT_CONFIG_DIR, DOCKER_CONFIG, default_config_dir, default_docker_config_dir,
};
pub use credential::{Credential, CredentialOrigin};
pub use docker_config::DOCKER_CONFIG_FILE_NAME;
pub use environment::{
    AGENT_REGISTRY_TOKEN, AGENT_REGISTRY_URL, DOCKER_PASSWORD, DOCKER_USERNAME, Environment,
};
pub use error::CredentialError;
pub use helper::{HELPER_TIMEOUT, helper_get};
pub use registry_key::{DOCKER_HUB, DOCKER_HUB_SERVER_URL, normalize_registry_key};
pub use sources::CredentialSources;
