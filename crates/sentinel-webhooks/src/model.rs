//! A webhook and the events it may ask for.

use std::collections::BTreeSet;

use sentinel_trust::RepositoryPattern;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::WebhookError;

/// The groups of events a webhook asks for by short name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `push`: a manifest was pushed (with its tag, if any).
    Push,
    /// `publish`: a package version was catalogued.
    Publish,
    /// `delete`: a manifest or a tag was deleted.
    Delete,
    /// `pull`: a manifest was read (`GET`) or a package downloaded.
    Pull,
    /// `signature`: a signature artifact was pushed.
    Signature,
    /// `quota`: a push was refused for a namespace's quota.
    Quota,
    /// `gc`: a garbage collection finished.
    Gc,
}

impl EventKind {
    /// Every kind, in the order documented.
    pub const ALL: [EventKind; 7] = [
        EventKind::Push,
        EventKind::Pull,
        EventKind::Delete,
        EventKind::Publish,
        EventKind::Signature,
        EventKind::Quota,
        EventKind::Gc,
    ];

    /// The short name (`push`, `pull`, ...).
    pub fn short_name(self) -> &'static str {
        match self {
            EventKind::Push => "push",
            EventKind::Publish => "publish",
            EventKind::Delete => "delete",
            EventKind::Pull => "pull",
            EventKind::Signature => "signature",
            EventKind::Quota => "quota",
            EventKind::Gc => "gc",
        }
    }

    /// The CloudEvents types of this kind.
    pub fn types(self) -> &'static [&'static str] {
        match self {
            EventKind::Push => &[Self::MANIFEST_PUSHED],
            EventKind::Publish => &[Self::PACKAGE_PUBLISHED],
            EventKind::Delete => &[Self::MANIFEST_DELETED, Self::TAG_DELETED],
            EventKind::Pull => &[Self::MANIFEST_PULLED, Self::PACKAGE_DOWNLOADED],
            EventKind::Signature => &[Self::SIGNATURE_ADDED],
            EventKind::Quota => &[Self::QUOTA_EXCEEDED],
            EventKind::Gc => &[Self::GC_COMPLETED],
        }
    }

    /// A manifest was pushed.
    pub const MANIFEST_PUSHED: &'static str = "io.sentinel.manifest.pushed";
    /// A package version was catalogued.
    pub const PACKAGE_PUBLISHED: &'static str = "io.sentinel.package.published";
    /// A manifest was deleted (with its tags).
    pub const MANIFEST_DELETED: &'static str = "io.sentinel.manifest.deleted";
    /// A tag was deleted (the manifest stays).
    pub const TAG_DELETED: &'static str = "io.sentinel.tag.deleted";
    /// A manifest was read.
    pub const MANIFEST_PULLED: &'static str = "io.sentinel.manifest.pulled";
    /// A package was downloaded through the package API.
    pub const PACKAGE_DOWNLOADED: &'static str = "io.sentinel.package.downloaded";
    /// A signature artifact was pushed.
    pub const SIGNATURE_ADDED: &'static str = "io.sentinel.signature.added";
    /// A push was refused because of a quota.
    pub const QUOTA_EXCEEDED: &'static str = "io.sentinel.quota.exceeded";
    /// A garbage collection finished.
    pub const GC_COMPLETED: &'static str = "io.sentinel.gc.completed";
    /// The test event of `POST /api/v1/webhooks/<name>/test`: sent to the
    /// webhook asked, whatever its events.
    pub const PING: &'static str = "io.sentinel.ping";

    /// Whether `event_type` is one a webhook may ask for.
    pub fn is_known_type(event_type: &str) -> bool {
        EventKind::ALL
            .iter()
            .any(|kind| kind.types().contains(&event_type))
    }
}

/// The full event types named by `text`: short names (`push,pull`), full
/// types (`io.sentinel.tag.deleted`) or `all`, separated by commas.
pub fn parse_events(text: &str) -> Result<BTreeSet<String>, WebhookError> {
    let mut types = BTreeSet::new();
    for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        if word == "all" || word == "*" {
            types.extend(
                EventKind::ALL
                    .iter()
                    .flat_map(|kind| kind.types())
                    .map(|t| (*t).to_owned()),
            );
        } else if let Some(kind) = EventKind::ALL.iter().find(|k| k.short_name() == word) {
            types.extend(kind.types().iter().map(|t| (*t).to_owned()));
        } else if EventKind::is_known_type(word) {
            types.insert(word.to_owned());
        } else {
            return Err(WebhookError::Event(word.to_owned()));
        }
    }
    if types.is_empty() {
        return Err(WebhookError::NoEvents);
    }
    Ok(types)
}

/// Checks a webhook name: 1 to 64 of `[a-z0-9._-]`, starting with a letter or digit.
pub fn validate_name(name: &str) -> Result<(), WebhookError> {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(WebhookError::Name(name.to_owned()))
    }
}

/// A fresh secret: `whsec_` and 64 hex digits of 32 random bytes.
pub fn generate_secret() -> Result<String, WebhookError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| WebhookError::Random(e.to_string()))?;
    Ok(format!("whsec_{}", hex::encode(bytes)))
}

/// One webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Its name, unique in the registry.
    pub name: String,
    /// Made when it is added, never reused: its deliveries and history are
    /// kept under it ([`Webhook::key`]), so a webhook removed and added
    /// again under the same name starts afresh. Empty for a webhook of a
    /// file written before ids existed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Where events are sent (`POST`).
    pub url: Url,
    /// The full event types it receives.
    pub events: BTreeSet<String>,
    /// Only events of repositories matching this pattern (events without a
    /// repository, such as `gc.completed`, are not filtered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repositories: Option<RepositoryPattern>,
    /// The key of each delivery's HMAC-SHA256 signature.
    pub secret: String,
    /// Whether events are delivered; a disabled webhook receives nothing
    /// new (what was already due to it is still delivered).
    pub enabled: bool,
}

impl Webhook {
    /// A webhook, checked: a valid name, an http(s) URL, known events; with
    /// a fresh id.
    pub fn new(
        name: &str,
        url: &str,
        events: BTreeSet<String>,
        repositories: Option<RepositoryPattern>,
        secret: String,
        enabled: bool,
    ) -> Result<Webhook, WebhookError> {
        validate_name(name)?;
        let url = parse_url(url)?;
        if events.is_empty() {
            return Err(WebhookError::NoEvents);
        }
        if let Some(unknown) = events.iter().find(|t| !EventKind::is_known_type(t)) {
            return Err(WebhookError::Event(unknown.clone()));
        }
        Ok(Webhook {
            name: name.to_owned(),
            id: uuid::Uuid::new_v4().to_string(),
            url,
            events,
            repositories,
            secret,
            enabled,
        })
    }

    /// What its deliveries and history are kept under: its id, or its name
    /// if it has none (a file written before ids existed).
    pub fn key(&self) -> &str {
        if self.id.is_empty() {
            &self.name
        } else {
            &self.id
        }
    }

    /// Whether an event of `event_type` about `repository` (if it is about
    /// one) goes to this webhook.
    pub fn wants(&self, event_type: &str, repository: Option<&str>) -> bool {
        self.enabled
            && self.events.contains(event_type)
            && match (&self.repositories, repository) {
                (Some(pattern), Some(repository)) => pattern.matches(repository),
                _ => true,
            }
    }

    /// Whether it wants events of `event_type` at all, from any repository.
    pub fn wants_type(&self, event_type: &str) -> bool {
        self.enabled && self.events.contains(event_type)
    }
}

/// An absolute http or https URL.
fn parse_url(text: &str) -> Result<Url, WebhookError> {
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(url),
        _ => Err(WebhookError::Url(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_expand_to_types() {
        let types = parse_events("push, delete,io.sentinel.gc.completed").unwrap();
        let expected: BTreeSet<String> = [
            "io.sentinel.manifest.pushed",
            "io.sentinel.manifest.deleted",
            "io.sentinel.tag.deleted",
            "io.sentinel.gc.completed",
        ]
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
        assert_eq!(types, expected);
        assert_eq!(parse_events("all").unwrap().len(), 9);
        assert!(matches!(
            parse_events("push,shove"),
            Err(WebhookError::Event(e)) if e == "shove"
        ));
        assert!(matches!(parse_events(" , "), Err(WebhookError::NoEvents)));
        assert!(parse_events("io.sentinel.ping").is_err());
    }

    #[test]
    fn names_and_urls_are_checked() {
        let events = parse_events("push").unwrap();
        let make =
            |name: &str, url: &str| Webhook::new(name, url, events.clone(), None, "s".into(), true);
        assert!(make("ci-1", "https://ci.example.com/hook").is_ok());
        assert!(matches!(
            make("CI", "https://x"),
            Err(WebhookError::Name(_))
        ));
        assert!(matches!(
            make("-ci", "https://x"),
            Err(WebhookError::Name(_))
        ));
        assert!(matches!(
            make("a/b", "https://x"),
            Err(WebhookError::Name(_))
        ));
        assert!(matches!(make("ci", "ftp://x/"), Err(WebhookError::Url(_))));
        assert!(matches!(make("ci", "/relative"), Err(WebhookError::Url(_))));
    }

    #[test]
    fn a_pattern_filters_repository_events_only() {
        let hook = Webhook::new(
            "ci",
            "http://127.0.0.1:9/",
            parse_events("push,gc").unwrap(),
            Some("acme/*".parse().unwrap()),
            "s".into(),
            true,
        )
        .unwrap();
        assert!(hook.wants(EventKind::MANIFEST_PUSHED, Some("acme/app")));
        assert!(!hook.wants(EventKind::MANIFEST_PUSHED, Some("other/app")));
        assert!(!hook.wants(EventKind::MANIFEST_PULLED, Some("acme/app")));
        assert!(hook.wants(EventKind::GC_COMPLETED, None));
        let disabled = Webhook {
            enabled: false,
            ..hook
        };
        assert!(!disabled.wants(EventKind::MANIFEST_PUSHED, Some("acme/app")));
    }

    #[test]
    fn each_webhook_has_a_key_of_its_own() {
        let make = || {
            Webhook::new(
                "ci",
                "http://127.0.0.1:9/",
                parse_events("push").unwrap(),
                None,
                "s".into(),
                true,
            )
            .unwrap()
        };
        let (first, second) = (make(), make());
        assert_eq!(first.key(), first.id);
        assert_ne!(first.key(), second.key());
        let older = Webhook {
            id: String::new(),
            ..first
        };
        assert_eq!(older.key(), "ci");
    }

    #[test]
    fn secrets_are_fresh() {
        let (a, b) = (generate_secret().unwrap(), generate_secret().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with("whsec_") && a.len() == 6 + 64);
    }
}
