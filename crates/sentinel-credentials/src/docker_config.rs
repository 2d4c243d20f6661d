//! Docker's `config.json`: per-registry credential helpers, stored `auths`
//! entries and the default credential store.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;

use crate::credential::{Credential, CredentialOrigin};
use crate::error::CredentialError;
use crate::helper::HelperRunner;
use crate::registry_key::{helper_server_url, normalize_registry_key};

/// The file name of Docker's configuration inside its directory.
pub const DOCKER_CONFIG_FILE_NAME: &str = "config.json";

/// Standard base64, accepting `auth` values with or without padding.
const AUTH_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A loaded `config.json`.
#[derive(Debug)]
pub(crate) struct DockerConfig {
    path: PathBuf,
    file: DockerConfigFile,
}

/// The parts of `config.json` that concern credentials; other fields are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DockerConfigFile {
    auths: BTreeMap<String, AuthEntry>,
    #[serde(rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(rename = "credsStore")]
    creds_store: Option<String>,
}

/// One `auths` entry as `docker login` and other tools write it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
    registrytoken: Option<String>,
}

impl DockerConfig {
    /// Reads `config.json` from `dir`; `Ok(None)` when there is no such file.
    pub(crate) fn load(dir: &Path) -> Result<Option<Self>, CredentialError> {
        let path = dir.join(DOCKER_CONFIG_FILE_NAME);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CredentialError::ReadFile { path, source }),
        };
        match serde_json::from_slice(&bytes) {
            Ok(file) => Ok(Some(DockerConfig { path, file })),
            Err(error) => Err(CredentialError::malformed(path, &error)),
        }
    }

    /// The credential Docker's configuration gives for `registry`: the
    /// registry's own helper in `credHelpers`, then its `auths` entry, then the
    /// default `credsStore`. A helper that holds nothing lets the search go on.
    ///
    /// A `credsStore` whose program is missing is logged and skipped rather
    /// than failing: a config copied from a desktop machine often names one,
    /// and it applies to every registry, including public ones.
    pub(crate) fn resolve(
        &self,
        registry: &str,
        helpers: &HelperRunner,
    ) -> Result<Option<(Credential, CredentialOrigin)>, CredentialError> {
        let canonical = normalize_registry_key(registry);
        let server_url = helper_server_url(&canonical);
        let from_helper = |helper: &str, credential: Option<Credential>| {
            credential.map(|credential| (credential, CredentialOrigin::Helper(helper.to_owned())))
        };

        if let Some(helper) = self.cred_helper_for(&canonical)
            && let Some(found) = from_helper(helper, helpers.get(helper, server_url)?)
        {
            return Ok(Some(found));
        }
        if let Some(credential) = self.auths_credential_for(&canonical)? {
            return Ok(Some((credential, CredentialOrigin::DockerConfig)));
        }
        let Some(store) = self.file.creds_store.as_deref().filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        match helpers.get(store, server_url) {
            Ok(credential) => Ok(from_helper(store, credential)),
            Err(CredentialError::HelperNotFound { program }) => {
                tracing::warn!(
                    config = %self.path.display(),
                    helper = %program,
                    "credsStore names a credential helper that is not on PATH; ignoring it"
                );
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// The `credHelpers` entry for the canonical registry key.
    fn cred_helper_for(&self, canonical: &str) -> Option<&str> {
        matching(&self.file.cred_helpers, canonical)
            .first()
            .map(|(_, helper)| helper.as_str())
    }

    /// The first usable `auths` entry for the canonical registry key. Entries
    /// with no credential fields (as left by `docker login` with a
    /// `credsStore`) are passed over.
    fn auths_credential_for(&self, canonical: &str) -> Result<Option<Credential>, CredentialError> {
        for (key, entry) in matching(&self.file.auths, canonical) {
            if let Some(credential) = entry.credential(&self.path, key)? {
                return Ok(Some(credential));
            }
        }
        Ok(None)
    }
}

/// Entries whose key normalises to `canonical`: the key written the way
/// Docker writes it first (`https://index.docker.io/v1/` for Docker Hub, the
/// bare host otherwise), then the others in key order.
fn matching<'a, V>(map: &'a BTreeMap<String, V>, canonical: &str) -> Vec<(&'a String, &'a V)> {
    let preferred = helper_server_url(canonical);
    let mut found: Vec<_> = map
        .iter()
        .filter(|(key, _)| normalize_registry_key(key) == canonical)
        .collect();
    found.sort_by_key(|(key, _)| key.as_str() != preferred);
    found
}

impl AuthEntry {
    /// This entry's credential: `registrytoken`, else `identitytoken` (with
    /// the username from `auth` or `username`), else `auth`, else `username`
    /// with `password`. `None` when none is present.
    fn credential(&self, path: &Path, key: &str) -> Result<Option<Credential>, CredentialError> {
        let present = |field: &Option<String>| field.clone().filter(|value| !value.is_empty());
        let decoded = present(&self.auth)
            .map(|auth| decode_auth(&auth).ok_or_else(|| invalid_auth(path, key)))
            .transpose()?;

        if let Some(token) = present(&self.registrytoken) {
            return Ok(Some(Credential::Bearer { token }));
        }
        if let Some(token) = present(&self.identitytoken) {
            let username = decoded
                .map(|(username, _)| username)
                .or_else(|| present(&self.username))
                .unwrap_or_default();
            return Ok(Some(Credential::IdentityToken { username, token }));
        }
        if let Some((username, password)) = decoded {
            return Ok(Some(Credential::Basic { username, password }));
        }
        match (present(&self.username), present(&self.password)) {
            (Some(username), Some(password)) => Ok(Some(Credential::Basic { username, password })),
            _ => Ok(None),
        }
    }
}

/// Decodes `auth`: base64 of `username:password`, split at the first colon
/// so passwords may contain colons.
fn decode_auth(auth: &str) -> Option<(String, String)> {
    let bytes = AUTH_BASE64.decode(auth.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (username, password) = text.split_once(':')?;
    Some((username.to_owned(), password.to_owned()))
}

fn invalid_auth(path: &Path, key: &str) -> CredentialError {
    CredentialError::InvalidEntry {
        path: path.to_owned(),
        registry: key.to_owned(),
        reason: "has an `auth` field that is not base64 of `username:password`",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_config(json: &str) -> (tempfile::TempDir, DockerConfig) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DOCKER_CONFIG_FILE_NAME), json).unwrap();
        let config = DockerConfig::load(dir.path()).unwrap().unwrap();
        (dir, config)
    }

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn basic(username: &str, password: &str) -> Option<Credential> {
        Some(Credential::Basic {
            username: username.into(),
            password: password.into(),
        })
    }

    #[test]
    fn missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(DockerConfig::load(dir.path()).unwrap().is_none());
    }

    #[test]
    fn auth_is_decoded_and_passwords_may_contain_colons() {
        let json = format!(
            r#"{{"auths": {{"ghcr.io": {{"auth": "{}"}}}}}}"#,
            b64("bob:pa:ss:word")
        );
        let (_dir, config) = load_config(&json);
        assert_eq!(
            config.auths_credential_for("ghcr.io").unwrap(),
            basic("bob", "pa:ss:word")
        );
    }

    #[test]
    fn auth_without_padding_is_accepted() {
        let encoded = b64("bob:pw1");
        let unpadded = encoded.trim_end_matches('=');
        assert_ne!(encoded, unpadded);
        let json = format!(r#"{{"auths": {{"ghcr.io": {{"auth": "{unpadded}"}}}}}}"#);
        let (_dir, config) = load_config(&json);
        assert_eq!(
            config.auths_credential_for("ghcr.io").unwrap(),
            basic("bob", "pw1")
        );
    }

    #[test]
    fn username_and_password_fields() {
        let (_dir, config) =
            load_config(r#"{"auths": {"quay.io": {"username": "amy", "password": "pw"}}}"#);
        assert_eq!(
            config.auths_credential_for("quay.io").unwrap(),
            basic("amy", "pw")
        );
    }

    #[test]
    fn identity_token_takes_username_from_auth() {
        let json = format!(
            r#"{{"auths": {{"myregistry.azurecr.io": {{"auth": "{}", "identitytoken": "refresh"}}}}}}"#,
            b64("00000000-0000-0000-0000-000000000000:")
        );
        let (_dir, config) = load_config(&json);
        assert_eq!(
            config
                .auths_credential_for("myregistry.azurecr.io")
                .unwrap(),
            Some(Credential::IdentityToken {
                username: "00000000-0000-0000-0000-000000000000".into(),
                token: "refresh".into()
            })
        );
    }

    #[test]
    fn registry_token_is_a_bearer_token() {
        let (_dir, config) = load_config(r#"{"auths": {"r.example": {"registrytoken": "tok"}}}"#);
        assert_eq!(
            config.auths_credential_for("r.example").unwrap(),
            Some(Credential::Bearer {
                token: "tok".into()
            })
        );
    }

    #[test]
    fn empty_entry_gives_nothing() {
        let (_dir, config) = load_config(r#"{"auths": {"ghcr.io": {}}}"#);
        assert_eq!(config.auths_credential_for("ghcr.io").unwrap(), None);
    }

    #[test]
    fn keys_are_normalised_when_matching() {
        for key in [
            "https://ghcr.io",
            "http://ghcr.io",
            "ghcr.io",
            "https://ghcr.io/v1/",
            "GHCR.IO",
        ] {
            let json = format!(r#"{{"auths": {{"{key}": {{"auth": "{}"}}}}}}"#, b64("u:p"));
            let (_dir, config) = load_config(&json);
            assert_eq!(
                config.auths_credential_for("ghcr.io").unwrap(),
                basic("u", "p"),
                "{key}"
            );
        }
    }

    #[test]
    fn docker_hub_aliases_find_the_legacy_key() {
        let json = format!(
            r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{}"}}}}}}"#,
            b64("hubuser:hubpass")
        );
        let (_dir, config) = load_config(&json);
        for registry in ["registry-1.docker.io", "docker.io", "index.docker.io"] {
            let canonical = normalize_registry_key(registry);
            assert_eq!(
                config.auths_credential_for(&canonical).unwrap(),
                basic("hubuser", "hubpass"),
                "{registry}"
            );
        }
    }

    #[test]
    fn docker_hub_prefers_the_legacy_key_over_bare_hosts() {
        let json = format!(
            r#"{{"auths": {{"docker.io": {{"auth": "{}"}}, "https://index.docker.io/v1/": {{"auth": "{}"}}}}}}"#,
            b64("bare:1"),
            b64("legacy:2")
        );
        let (_dir, config) = load_config(&json);
        assert_eq!(
            config.auths_credential_for("docker.io").unwrap(),
            basic("legacy", "2")
        );
    }

    #[test]
    fn other_registries_do_not_match() {
        let json = format!(
            r#"{{"auths": {{"ghcr.io": {{"auth": "{}"}}}}}}"#,
            b64("u:p")
        );
        let (_dir, config) = load_config(&json);
        assert_eq!(
            config.auths_credential_for("ghcr.io.evil.example").unwrap(),
            None
        );
        assert_eq!(config.auths_credential_for("docker.io").unwrap(), None);
    }

    #[test]
    fn bad_auth_names_entry_and_file_without_the_value() {
        let (dir, config) =
            load_config(r#"{"auths": {"ghcr.io": {"auth": "not base64 SECRETSECRET"}}}"#);
        let message = config
            .auths_credential_for("ghcr.io")
            .unwrap_err()
            .to_string();
        assert!(message.contains("ghcr.io"), "{message}");
        assert!(
            message.contains(&dir.path().join("config.json").display().to_string()),
            "{message}"
        );
        assert!(!message.contains("SECRETSECRET"), "{message}");

        let json = format!(
            r#"{{"auths": {{"ghcr.io": {{"auth": "{}"}}}}}}"#,
            b64("no-colon")
        );
        let (_dir, config) = load_config(&json);
        assert!(config.auths_credential_for("ghcr.io").is_err());
    }

    #[test]
    fn malformed_json_names_the_file_but_not_its_content() {
        for json in [
            r#"{"auths": {"ghcr.io": {"auth": "SECRETSECRET""#,
            r#"{"auths": {"ghcr.io": "SECRETSECRET"}}"#,
            r#"{"credsStore": ["SECRETSECRET"]}"#,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(DOCKER_CONFIG_FILE_NAME);
            std::fs::write(&path, json).unwrap();
            let error = DockerConfig::load(dir.path()).unwrap_err();
            let message = error.to_string();
            assert!(
                matches!(error, CredentialError::MalformedFile { .. }),
                "{error:?}"
            );
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(!message.contains("SECRETSECRET"), "{message}");
        }
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let (_dir, config) = load_config(
            r#"{"psFormat": "table", "auths": {"ghcr.io": {"auth": "dTpw", "email": "a@b"}}, "experimental": "enabled"}"#,
        );
        assert_eq!(
            config.auths_credential_for("ghcr.io").unwrap(),
            basic("u", "p")
        );
    }
}

#[cfg(all(test, unix))]
mod helper_tests {
    use super::*;
    use crate::helper::tests::FakeHelpers;

    fn config_in(dir: &Path, json: &str) -> DockerConfig {
        std::fs::write(dir.join(DOCKER_CONFIG_FILE_NAME), json).unwrap();
        DockerConfig::load(dir).unwrap().unwrap()
    }

    fn reply(username: &str, secret: &str) -> String {
        format!(r#"{{"ServerURL":"x","Username":"{username}","Secret":"{secret}"}}"#)
    }

    #[test]
    fn cred_helper_wins_over_auths_and_gets_the_host() {
        let helpers = FakeHelpers::new();
        helpers.recording("ecr-login", &reply("AWS", "ecr-pass"));
        let registry = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
        let config = config_in(
            helpers.dir.path(),
            &format!(
                r#"{{"credHelpers": {{"{registry}": "ecr-login"}}, "auths": {{"{registry}": {{"auth": "dTpw"}}}}}}"#
            ),
        );
        let (credential, origin) = config
            .resolve(registry, &helpers.runner())
            .unwrap()
            .unwrap();
        assert_eq!(
            credential,
            Credential::Basic {
                username: "AWS".into(),
                password: "ecr-pass".into()
            }
        );
        assert_eq!(origin, CredentialOrigin::Helper("ecr-login".into()));
        assert_eq!(helpers.received_url("ecr-login"), registry);
    }

    #[test]
    fn cred_helper_without_credentials_falls_back_to_auths() {
        let helpers = FakeHelpers::new();
        helpers.add(
            "none",
            "echo 'credentials not found in native keychain'; exit 1",
        );
        let config = config_in(
            helpers.dir.path(),
            r#"{"credHelpers": {"gcr.io": "none"}, "auths": {"gcr.io": {"auth": "dTpw"}}}"#,
        );
        let (_, origin) = config
            .resolve("gcr.io", &helpers.runner())
            .unwrap()
            .unwrap();
        assert_eq!(origin, CredentialOrigin::DockerConfig);
    }

    #[test]
    fn auths_win_over_creds_store() {
        let helpers = FakeHelpers::new();
        helpers.recording("desktop", &reply("store", "store-pass"));
        let config = config_in(
            helpers.dir.path(),
            r#"{"credsStore": "desktop", "auths": {"ghcr.io": {"auth": "dTpw"}}}"#,
        );
        let (_, origin) = config
            .resolve("ghcr.io", &helpers.runner())
            .unwrap()
            .unwrap();
        assert_eq!(origin, CredentialOrigin::DockerConfig);
    }

    #[test]
    fn creds_store_gets_the_legacy_hub_address() {
        let helpers = FakeHelpers::new();
        helpers.recording("desktop", &reply("hub", "hub-pass"));
        let config = config_in(
            helpers.dir.path(),
            r#"{"credsStore": "desktop", "auths": {"https://index.docker.io/v1/": {}}}"#,
        );
        let (credential, origin) = config
            .resolve("registry-1.docker.io", &helpers.runner())
            .unwrap()
            .unwrap();
        assert_eq!(
            credential,
            Credential::Basic {
                username: "hub".into(),
                password: "hub-pass".into()
            }
        );
        assert_eq!(origin, CredentialOrigin::Helper("desktop".into()));
        assert_eq!(
            helpers.received_url("desktop"),
            "https://index.docker.io/v1/"
        );
    }

    #[test]
    fn missing_creds_store_program_is_skipped() {
        let helpers = FakeHelpers::new();
        let config = config_in(helpers.dir.path(), r#"{"credsStore": "desktop"}"#);
        assert!(
            config
                .resolve("ghcr.io", &helpers.runner())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn missing_cred_helper_program_is_an_error() {
        let helpers = FakeHelpers::new();
        let config = config_in(
            helpers.dir.path(),
            r#"{"credHelpers": {"gcr.io": "gcloud"}}"#,
        );
        let error = config.resolve("gcr.io", &helpers.runner()).unwrap_err();
        assert!(
            error.to_string().contains("docker-credential-gcloud"),
            "{error}"
        );
    }
}
