//! The events webhooks receive: CloudEvents 1.0 in structured JSON mode.
//!
//! Every event has the required attributes `specversion` (`1.0`), `id`
//! (a UUID made once, when the event is recorded, so every retry of it
//! carries the same one and receivers can drop duplicates), `source` (the
//! registry's public URL, or its host) and `type` (`io.sentinel.*`), and the
//! optional `time` (RFC 3339), `subject` (what the event is about:
//! `repository@digest`, `repository:tag` or a package's
//! `repository@version`) and
//! `datacontenttype` (`application/json`), with the details in `data`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The media type of a CloudEvent in structured JSON mode.
pub const CLOUDEVENTS_CONTENT_TYPE: &str = "application/cloudevents+json";

/// One event, as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    /// Always `1.0`.
    pub specversion: String,
    /// Unique per event, the same in every delivery of it.
    pub id: String,
    /// The registry that emitted it.
    pub source: String,
    /// `io.sentinel.manifest.pushed` and so on.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When it happened (RFC 3339, UTC).
    pub time: String,
    /// What it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// The details.
    pub data: EventData,
}

/// The details of an event; absent fields are left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventData {
    /// The repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The manifest's digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The manifest's media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The tag pushed, deleted or pulled by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The tags a deleted manifest had.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The package version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<PackageData>,
    /// The manifest a signature signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_digest: Option<String>,
    /// Who did it: a user name, absent for anonymous callers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Anything else (figures of a garbage collection, a quota).
    #[serde(flatten)]
    pub details: Map<String, Value>,
}

/// A package, as events name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageData {
    /// The name its definition gives it (`agent.yaml`'s `name`).
    pub name: String,
    /// `agent` or `stack`.
    pub kind: String,
}

impl CloudEvent {
    /// A new event of `event_type` from `source`, at `time`, with a fresh id.
    pub fn new(
        event_type: &str,
        source: &str,
        time: String,
        subject: Option<String>,
        data: EventData,
    ) -> CloudEvent {
        CloudEvent {
            specversion: "1.0".to_owned(),
            id: uuid::Uuid::new_v4().to_string(),
            source: source.to_owned(),
            event_type: event_type.to_owned(),
            time,
            subject,
            datacontenttype: "application/json".to_owned(),
            data,
        }
    }

    /// The JSON body sent.
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a CloudEvent always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_has_the_required_attributes() {
        let event = CloudEvent::new(
            "io.sentinel.manifest.pushed",
            "https://registry.example.com",
            "2026-01-02T03:04:05Z".into(),
            Some("acme/app:1.0.0".into()),
            EventData {
                repository: Some("acme/app".into()),
                tag: Some("1.0.0".into()),
                ..EventData::default()
            },
        );
        let json: Value = serde_json::from_slice(&event.to_body()).unwrap();
        for attribute in ["specversion", "id", "source", "type"] {
            assert!(json[attribute].is_string(), "{attribute} missing: {json}");
        }
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["data"]["repository"], "acme/app");
        assert!(json["data"].get("digest").is_none());
        let back: CloudEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        let other = CloudEvent::new("t", "s", "x".into(), None, EventData::default());
        assert_ne!(other.id, event.id);
    }
}
