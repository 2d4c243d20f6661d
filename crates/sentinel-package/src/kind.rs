//! The two kinds of package, and every name and media type that depends on the kind.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Whether a package holds one agent or a stack of agents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageKind {
    /// A single agent, defined by `agent.yaml`.
    Agent,
    /// A multi-agent stack, defined by `stack.yaml`.
    Stack,
}

impl PackageKind {
    /// Both kinds, in a fixed order.
    pub const ALL: [PackageKind; 2] = [PackageKind::Agent, PackageKind::Stack];

    /// The 14 bytes a `.sntl` file of this kind starts with.
    pub fn magic(self) -> &'static [u8] {
        match self {
            PackageKind::Agent => b"SNTL-AGENT-PKG",
            PackageKind::Stack => b"SNTL-STACK-PKG",
        }
    }

    /// The definition file at the root of a package directory.
    pub fn definition_file(self) -> &'static str {
        match self {
            PackageKind::Agent => "agent.yaml",
            PackageKind::Stack => "stack.yaml",
        }
    }

    /// The file extension of a packed package, without the leading dot.
    pub fn file_extension(self) -> &'static str {
        match self {
            PackageKind::Agent => "agent.sntl",
            PackageKind::Stack => "stack.sntl",
        }
    }

    /// The OCI `artifactType` of a pushed package.
    pub fn artifact_type(self) -> &'static str {
        match self {
            PackageKind::Agent => "application/x-sentinel-agent",
            PackageKind::Stack => "application/x-sentinel-stack",
        }
    }

    /// The media type of the OCI config blob, which holds the raw definition file.
    pub fn config_media_type(self) -> &'static str {
        match self {
            PackageKind::Agent => "application/x-sentinel-agent-def+yaml",
            PackageKind::Stack => "application/x-sentinel-stack-def+yaml",
        }
    }

    /// The media type of the single OCI layer, which holds the `.sntl` file.
    pub fn layer_media_type(self) -> &'static str {
        self.artifact_type()
    }

    /// The kind whose [`PackageKind::artifact_type`] is `media_type`, if any.
    pub fn from_artifact_type(media_type: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.artifact_type() == media_type)
    }

    /// The kind whose [`PackageKind::config_media_type`] is `media_type`, if any.
    pub fn from_config_media_type(media_type: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.config_media_type() == media_type)
    }

    /// The kind's name: `agent` or `stack`.
    pub fn as_str(self) -> &'static str {
        match self {
            PackageKind::Agent => "agent",
            PackageKind::Stack => "stack",
        }
    }
}

impl fmt::Display for PackageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_media_types() {
        assert_eq!(PackageKind::Agent.magic(), b"SNTL-AGENT-PKG");
        assert_eq!(PackageKind::Stack.magic(), b"SNTL-STACK-PKG");
        for kind in PackageKind::ALL {
            assert_eq!(kind.magic().len(), 14);
            assert_eq!(kind.layer_media_type(), kind.artifact_type());
            assert_eq!(
                PackageKind::from_artifact_type(kind.artifact_type()),
                Some(kind)
            );
            assert_eq!(
                PackageKind::from_config_media_type(kind.config_media_type()),
                Some(kind)
            );
            assert_eq!(kind.definition_file(), format!("{}.yaml", kind.as_str()));
        }
        assert_eq!(PackageKind::Stack.file_extension(), "stack.sntl");
        assert_eq!(
            PackageKind::Agent.config_media_type(),
            "application/x-sentinel-agent-def+yaml"
        );
        assert_eq!(
            PackageKind::from_artifact_type("application/vnd.oci.image.config.v1+json"),
            None
        );
        assert_eq!(
            serde_json::to_string(&PackageKind::Stack).unwrap(),
            "\"stack\""
        );
    }
}
