//! The statement a signature is about: which manifest, for which package.

use std::time::SystemTime;

use sentinel_oci::Digest;
use serde::{Deserialize, Serialize};

/// The manifest a statement is about, as its descriptor names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subject {
    /// The manifest's digest: what the signature vouches for.
    pub digest: Digest,
    /// The manifest's media type (e.g. `application/vnd.oci.image.manifest.v1+json`).
    pub media_type: String,
    /// The manifest's size in bytes.
    pub size: u64,
}

/// The Sentinel package a signed manifest holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignedPackage {
    /// The package's name, from its definition.
    pub name: String,
    /// Its kind: `agent` or `stack`.
    pub kind: String,
    /// Its version, from its definition.
    pub version: String,
}

/// The signed statement: the payload of a DSSE envelope of type
/// [`PAYLOAD_TYPE`](crate::PAYLOAD_TYPE), as JSON with camelCase keys.
///
/// Unknown fields are refused when reading: a verifier must not ignore a
/// field that the signer meant to say something.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Statement {
    /// The signed manifest.
    pub subject: Subject,
    /// Informational: the repository it was signed for
    /// (`registry.example/team/planner`). Not checked on verification, since
    /// a manifest keeps its digest when copied elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The package, when the subject is a Sentinel package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<SignedPackage>,
    /// When it was signed: RFC 3339, UTC, whole seconds
    /// (`2026-12-07T03:20:00Z`).
    pub created: String,
}

impl Statement {
    /// A statement about `subject`, created now, with no repository or
    /// package.
    pub fn new(subject: Subject) -> Statement {
        Statement {
            subject,
            repository: None,
            package: None,
            created: rfc3339_seconds(SystemTime::now()),
        }
    }
}

/// `time` as RFC 3339 UTC with whole seconds, the form of
/// [`Statement::created`].
fn rfc3339_seconds(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Whether `text` is RFC 3339 UTC with whole seconds: `YYYY-MM-DDTHH:MM:SSZ`
/// naming a real time.
pub(crate) fn is_rfc3339_seconds(text: &str) -> bool {
    let shape = text.len() == 20
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    shape && humantime::parse_rfc3339(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_is_rfc3339_utc_seconds() {
        let now = Statement::new(Subject {
            digest: Digest::sha256(b"x"),
            media_type: "m".into(),
            size: 1,
        });
        assert!(is_rfc3339_seconds(&now.created), "{}", now.created);
        assert!(is_rfc3339_seconds("2026-12-07T03:20:00Z"));
        for bad in [
            "",
            "2026-12-07T03:20:00",
            "2026-12-07T03:20:00.5Z",
            "2026-12-07T03:20:00+00:00",
            "2026-12-07 03:20:00Z",
            "2026-13-07T03:20:00Z",
            "2026-02-30T03:20:00Z",
            "2026-12-07T25:20:00Z",
            "２026-12-07T03:20:00Z",
        ] {
            assert!(!is_rfc3339_seconds(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_json_is_camel_case_without_absent_fields() {
        let statement = Statement {
            subject: Subject {
                digest: Digest::sha256(b""),
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                size: 2,
            },
            repository: None,
            package: None,
            created: "2026-12-07T03:20:00Z".into(),
        };
        let json = serde_json::to_string(&statement).unwrap();
        assert_eq!(
            json,
            "{\"subject\":{\"digest\":\"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\
             \"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"size\":2},\
             \"created\":\"2026-12-07T03:20:00Z\"}"
        );
        let back: Statement = serde_json::from_str(&json).unwrap();
        assert_eq!(back, statement);
    }
}
