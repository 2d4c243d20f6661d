//! `<data-dir>/webhooks.json`: read without a lock (every write is an
//! atomic rename), changed under an exclusive lock on `webhooks.json.lock`,
//! so `sentinel-registry webhook ...` and the server can both change it.
//! The file holds the secrets, so it is created readable by its owner only.

use std::path::Path;

use sentinel_durable::{FileStamp, JsonFileError, VersionedJsonFile};
use serde::{Deserialize, Serialize};

use crate::{Webhook, WebhookError};

/// The format version this build reads and writes.
const FORMAT_VERSION: u32 = 1;
/// The file's name in the data directory.
const FILE_NAME: &str = "webhooks.json";

/// The file's contents (after its version).
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    webhooks: Vec<Webhook>,
}

/// The webhooks file of a data directory.
#[derive(Debug, Clone)]
pub struct WebhookFile {
    file: VersionedJsonFile<Document>,
}

impl WebhookFile {
    /// The webhooks file in `data_dir`; nothing is read or created yet.
    pub fn new(data_dir: &Path) -> WebhookFile {
        WebhookFile {
            file: VersionedJsonFile::new(data_dir, FILE_NAME, FORMAT_VERSION),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// The webhooks in the file; a missing file holds none.
    pub fn load(&self) -> Result<Vec<Webhook>, WebhookError> {
        Ok(self.file.load()?.unwrap_or_default().webhooks)
    }

    /// Adds `webhook`; fails if one of its name exists.
    pub fn add(&self, webhook: Webhook) -> Result<Vec<Webhook>, WebhookError> {
        self.update(|webhooks| {
            if webhooks.iter().any(|held| held.name == webhook.name) {
                return Err(WebhookError::Exists(webhook.name.clone()));
            }
            webhooks.push(webhook);
            Ok(())
        })
    }

    /// Replaces the webhook of `webhook.name`, which keeps its id (it is
    /// the same webhook, changed); fails if there is none.
    pub fn replace(&self, webhook: Webhook) -> Result<Vec<Webhook>, WebhookError> {
        self.update(|webhooks| {
            let held = webhooks
                .iter_mut()
                .find(|held| held.name == webhook.name)
                .ok_or_else(|| WebhookError::Unknown(webhook.name.clone()))?;
            let id = std::mem::take(&mut held.id);
            *held = Webhook { id, ..webhook };
            Ok(())
        })
    }

    /// Enables or disables the webhook `name`; fails if there is none.
    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<Vec<Webhook>, WebhookError> {
        self.update(|webhooks| {
            let held = webhooks
                .iter_mut()
                .find(|held| held.name == name)
                .ok_or_else(|| WebhookError::Unknown(name.to_owned()))?;
            held.enabled = enabled;
            Ok(())
        })
    }

    /// Disables the webhook whose [`Webhook::key`] is `key`, if it is still
    /// there (not removed, nor removed and added again under its name).
    pub fn disable_key(&self, key: &str) -> Result<Vec<Webhook>, WebhookError> {
        self.update(|webhooks| {
            if let Some(held) = webhooks.iter_mut().find(|held| held.key() == key) {
                held.enabled = false;
            }
            Ok(())
        })
    }

    /// Removes the webhook `name`.
    pub fn remove(&self, name: &str) -> Result<Vec<Webhook>, WebhookError> {
        self.update(|webhooks| {
            let before = webhooks.len();
            webhooks.retain(|held| held.name != name);
            if webhooks.len() == before {
                Err(WebhookError::Unknown(name.to_owned()))
            } else {
                Ok(())
            }
        })
    }

    /// Under the lock: loads the webhooks, applies `change` and, if it
    /// succeeds, replaces the file. Returns the webhooks now in the file.
    fn update(
        &self,
        change: impl FnOnce(&mut Vec<Webhook>) -> Result<(), WebhookError>,
    ) -> Result<Vec<Webhook>, WebhookError> {
        self.file.update(|document| {
            change(&mut document.webhooks)?;
            Ok(document.webhooks.clone())
        })
    }

    /// The file's current stamp, or `None` if it does not exist.
    pub fn stamp(&self) -> Option<FileStamp> {
        self.file.stamp()
    }
}

impl From<JsonFileError> for WebhookError {
    fn from(error: JsonFileError) -> WebhookError {
        match error {
            JsonFileError::Store { path, source } => WebhookError::Store { path, source },
            JsonFileError::Corrupt { path, reason } => WebhookError::Corrupt { path, reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_events;

    fn hook(name: &str) -> Webhook {
        Webhook::new(
            name,
            "https://ci.example.com/hook",
            parse_events("push").unwrap(),
            Some("acme/*".parse().unwrap()),
            "whsec_x".into(),
            true,
        )
        .unwrap()
    }

    #[test]
    fn webhooks_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = WebhookFile::new(dir.path());
        assert!(file.load().unwrap().is_empty());
        file.add(hook("ci")).unwrap();
        assert!(matches!(file.add(hook("ci")), Err(WebhookError::Exists(_))));
        let added = file.load().unwrap().remove(0);
        let mut changed = hook("ci");
        changed.enabled = false;
        file.replace(changed.clone()).unwrap();
        let replaced = file.load().unwrap();
        assert_eq!(replaced[0].id, added.id, "a replaced webhook keeps its id");
        assert_eq!(
            replaced,
            vec![Webhook {
                id: added.id.clone(),
                ..changed
            }]
        );
        file.set_enabled("ci", true).unwrap();
        assert!(file.load().unwrap()[0].enabled);
        file.disable_key("another webhook's key").unwrap();
        assert!(file.load().unwrap()[0].enabled);
        file.disable_key(added.key()).unwrap();
        assert!(!file.load().unwrap()[0].enabled);
        assert!(matches!(
            file.set_enabled("other", true),
            Err(WebhookError::Unknown(_))
        ));
        assert!(matches!(
            file.replace(hook("other")),
            Err(WebhookError::Unknown(_))
        ));
        file.remove("ci").unwrap();
        assert!(file.load().unwrap().is_empty());
        assert!(matches!(file.remove("ci"), Err(WebhookError::Unknown(_))));
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = WebhookFile::new(dir.path());
        file.add(hook("ci")).unwrap();
        let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_damaged_file_is_reported_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let file = WebhookFile::new(dir.path());
        std::fs::write(file.path(), "{\"version\": 1, \"hooks\": []}").unwrap();
        let error = file.load().unwrap_err();
        assert!(
            error.to_string().contains("corrupt webhooks file"),
            "{error}"
        );
    }
}
