//! What the catalogue holds and answers: one entry per catalogued manifest,
//! and the shapes of its answers.

use semver::Version;
use sentinel_oci::{Digest, RepositoryName};
use sentinel_package::{Definition, PackageKind};
use serde::{Deserialize, Serialize};

/// The most bytes of a package's README the catalogue keeps.
pub const MAX_README_BYTES: usize = 256 * 1024;

/// The catalogue entry of one package manifest: what its definition says,
/// where its blobs are, and who pushed it when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackageVersion {
    /// The repository holding the manifest.
    pub repository: RepositoryName,
    /// The manifest's digest.
    pub digest: Digest,
    /// Agent or stack.
    pub kind: PackageKind,
    /// The package name from the definition.
    pub name: String,
    /// The version from the definition.
    pub version: Version,
    /// The tag naming this version (`1.2.0`, `v1.2.0`), when the manifest
    /// had one when it was recorded.
    #[serde(default)]
    pub tag: Option<String>,
    /// The description, if any.
    pub description: Option<String>,
    /// The author, if any.
    pub author: Option<String>,
    /// The license expression, if any.
    pub license: Option<String>,
    /// The source URL, if any.
    pub source: Option<String>,
    /// What the agent can do (empty for stacks).
    pub capabilities: Vec<String>,
    /// Free labels.
    pub tags: Vec<String>,
    /// The model the agent uses, if it names one.
    pub model: Option<ModelRef>,
    /// The agents an agent depends on (empty for stacks).
    pub dependencies: Vec<DependencyRef>,
    /// The agents of a stack (empty for agents).
    pub members: Vec<MemberRef>,
    /// The ports an agent listens on.
    pub ports: Vec<PortRef>,
    /// The config blob: the definition file.
    pub config: BlobRef,
    /// The layer: the `.sntl` file.
    pub package: BlobRef,
    /// The `.sntl` file name, from the layer's title annotation.
    pub file_name: String,
    /// The manifest's `org.opencontainers.image.created`, if it has one.
    pub created: Option<String>,
    /// When the registry stored the manifest, in seconds since the Unix epoch.
    pub pushed_at: u64,
    /// Who pushed it, when the registry knows.
    pub pushed_by: Option<String>,
    /// The first [`MAX_README_BYTES`] of the package's `README.md`, if it has one.
    pub readme: Option<String>,
    /// The definition as JSON.
    pub definition: serde_json::Value,
}

/// The model an agent names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    /// E.g. `anthropic`.
    pub provider: String,
    /// E.g. `claude-sonnet-4`.
    pub name: String,
}

/// An agent's dependency on another agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DependencyRef {
    /// The agent depended on.
    pub name: String,
    /// The versions accepted.
    pub requirement: String,
}

/// One agent of a stack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRef {
    /// The member's name within the stack.
    pub name: String,
    /// The reference it is pulled by, as written in `stack.yaml`.
    pub reference: String,
    /// The repository that reference names, without tag or digest: the path
    /// alone when it names no registry (or this registry), else `host/path`.
    pub repository: String,
}

/// A port an agent listens on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRef {
    /// The port's name.
    pub name: String,
    /// The port number.
    pub port: u16,
    /// `http`, `grpc`, `tcp`...
    pub protocol: String,
}

/// A blob's digest and size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    /// The digest.
    pub digest: Digest,
    /// The size in bytes.
    pub size: u64,
}

/// What a manifest says besides its definition, for [`PackageVersion::new`].
#[derive(Clone, Debug)]
pub struct StoredPackage {
    /// The repository.
    pub repository: RepositoryName,
    /// The manifest's digest.
    pub digest: Digest,
    /// The tag naming its version, if it has one.
    pub tag: Option<String>,
    /// The config blob.
    pub config: BlobRef,
    /// The `.sntl` layer.
    pub package: BlobRef,
    /// The layer's title, if it has one.
    pub file_name: Option<String>,
    /// The manifest's `created` annotation.
    pub created: Option<String>,
    /// When it was stored.
    pub pushed_at: u64,
    /// Who stored it.
    pub pushed_by: Option<String>,
}

impl PackageVersion {
    /// The entry of a stored package manifest whose definition is `definition`.
    pub fn new(stored: StoredPackage, definition: &Definition, readme: Option<String>) -> Self {
        let kind = definition.kind();
        let (model, dependencies, ports, members) = match definition {
            Definition::Agent(agent) => (
                agent.model.as_ref().map(|m| ModelRef {
                    provider: m.provider.clone(),
                    name: m.name.clone(),
                }),
                agent
                    .dependencies
                    .iter()
                    .map(|d| DependencyRef {
                        name: d.name.clone(),
                        requirement: d.version.to_string(),
                    })
                    .collect(),
                agent
                    .ports
                    .iter()
                    .map(|p| PortRef {
                        name: p.name.clone(),
                        port: p.port,
                        protocol: p.protocol.as_str().to_owned(),
                    })
                    .collect(),
                Vec::new(),
            ),
            Definition::Stack(stack) => (
                None,
                Vec::new(),
                Vec::new(),
                stack
                    .agents
                    .iter()
                    .map(|a| MemberRef {
                        name: a.name.clone(),
                        reference: a.reference.to_string(),
                        repository: member_repository(
                            a.reference.registry(),
                            a.reference.repository(),
                        ),
                    })
                    .collect(),
            ),
        };
        let file_name = stored
            .file_name
            .unwrap_or_else(|| sentinel_package::default_file_name(definition));
        PackageVersion {
            repository: stored.repository,
            digest: stored.digest,
            kind,
            name: definition.name().to_owned(),
            version: definition.version().clone(),
            tag: stored.tag,
            description: definition.description().map(str::to_owned),
            author: definition.author().map(str::to_owned),
            license: definition.license().map(str::to_owned),
            source: definition.source().map(str::to_owned),
            capabilities: definition.capabilities().to_vec(),
            tags: definition.tags().to_vec(),
            model,
            dependencies,
            members,
            ports,
            config: stored.config,
            package: stored.package,
            file_name,
            created: stored.created,
            pushed_at: stored.pushed_at,
            pushed_by: stored.pushed_by,
            readme,
            definition: definition_json(definition),
        }
    }
}

/// What a member names, as the dependents index keys it: the repository
/// path alone for a reference to the registry the stack is in (one naming
/// no registry), `host/path` for one naming a registry, which then never
/// matches a repository here.
fn member_repository(registry: Option<&str>, repository: &RepositoryName) -> String {
    match registry {
        Some(host) => format!("{host}/{repository}"),
        None => repository.to_string(),
    }
}

/// The definition as a JSON object of its fields.
fn definition_json(definition: &Definition) -> serde_json::Value {
    match definition {
        Definition::Agent(agent) => serde_json::to_value(agent),
        Definition::Stack(stack) => serde_json::to_value(stack),
    }
    .unwrap_or(serde_json::Value::Null)
}

/// One version of a package, as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// The version.
    pub version: Version,
    /// The tag naming it, if it has one.
    pub tag: Option<String>,
    /// The manifest's digest.
    pub digest: Digest,
    /// The `.sntl` file's digest.
    pub package_digest: Digest,
    /// The manifest's `created` annotation, if any.
    pub created: Option<String>,
    /// When it was stored, in seconds since the Unix epoch.
    pub pushed_at: u64,
    /// The `.sntl` file's size in bytes.
    pub size: u64,
    /// Downloads of this version, all time.
    pub downloads: u64,
    /// The deprecation message, if the version is deprecated.
    pub deprecated: Option<String>,
}

/// Every version of one package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageVersions {
    /// The repository.
    pub repository: RepositoryName,
    /// The package name of the newest version.
    pub name: String,
    /// Agent or stack.
    pub kind: PackageKind,
    /// Newest first, by semver precedence.
    pub versions: Vec<VersionInfo>,
}

/// A package as a search finds it: its newest version's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageSummary {
    /// The repository.
    pub repository: RepositoryName,
    /// The package name.
    pub name: String,
    /// Agent or stack.
    pub kind: PackageKind,
    /// The highest version that is neither a pre-release nor deprecated,
    /// if there is one.
    pub latest: Option<Version>,
    /// The version whose metadata is shown: `latest`, else the highest.
    pub shown: Version,
    /// Its description.
    pub description: Option<String>,
    /// Its author.
    pub author: Option<String>,
    /// Its capabilities.
    pub capabilities: Vec<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its model.
    pub model: Option<ModelRef>,
    /// Downloads of every version, all time (or in the period asked, for
    /// [`crate::Catalogue::popular`]).
    pub downloads: u64,
    /// When a version was last stored, in seconds since the Unix epoch.
    pub updated: u64,
}

/// How search results are ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sort {
    /// Exact name matches, then name prefixes, then by how well the terms
    /// match; ties by downloads.
    #[default]
    Relevance,
    /// Most downloaded first.
    Downloads,
    /// Most recently pushed first.
    Updated,
    /// By repository name.
    Name,
}

/// A search: terms and filters, combined with AND.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// Words matched against name, description, tags and capabilities.
    pub text: String,
    /// Only this kind.
    pub kind: Option<PackageKind>,
    /// Only packages with this capability (case-insensitive).
    pub capability: Option<String>,
    /// Only packages with this tag (case-insensitive).
    pub tag: Option<String>,
    /// Only packages whose author contains this (case-insensitive).
    pub author: Option<String>,
    /// Only packages whose model is this `provider/name`, provider or name.
    pub model: Option<String>,
    /// Only packages whose repository lies under this path: `acme` keeps
    /// `acme/planner` and `acme/team/planner`, not `acme` nor `acmeco/x`
    /// (case-insensitive).
    pub namespace: Option<String>,
    /// The order.
    pub sort: Sort,
    /// How many results to skip.
    pub offset: usize,
    /// How many results to return.
    pub limit: usize,
}

/// A page of search results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchPage {
    /// The results.
    pub packages: Vec<PackageSummary>,
    /// How many packages match in all.
    pub total: usize,
}

/// The most capabilities [`Facets::capabilities`] lists.
pub const MAX_CAPABILITY_FACETS: usize = 20;

/// The most models [`Facets::models`] lists.
pub const MAX_MODEL_FACETS: usize = 20;

/// How the matches of a search spread over kinds, capabilities and models:
/// every match counts, not only the page shown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facets {
    /// Matches per kind, agents first; kinds without matches are left out.
    pub kinds: Vec<(PackageKind, usize)>,
    /// Matches per capability (lowercased), most first, ties by name; at
    /// most [`MAX_CAPABILITY_FACETS`].
    pub capabilities: Vec<(String, usize)>,
    /// Matches per model, as `provider/name` (lowercased, as
    /// [`SearchQuery::model`] compares it), most first, ties by name; at
    /// most [`MAX_MODEL_FACETS`]. Packages without a model are not counted.
    pub models: Vec<(String, usize)>,
}

/// A page of search results with the facets of all the matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FacetedPage {
    /// The page, as [`crate::Catalogue::search`] answers it.
    pub page: SearchPage,
    /// The facets of every match.
    pub facets: Facets,
}

/// The most days [`crate::Catalogue::daily_downloads`] answers for.
pub const MAX_DOWNLOAD_DAYS: u32 = 365;

/// What a repository holds, in brief ([`crate::Catalogue::holding`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holding {
    /// The package's name (of the version it shows).
    pub name: String,
    /// Agent or stack.
    pub kind: PackageKind,
    /// The manifest of the version asked about, if it is catalogued (the
    /// most recently pushed, if two manifests carry it).
    pub version: Option<Digest>,
}

/// A stack version that names an agent among its members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dependent {
    /// The stack's repository.
    pub repository: RepositoryName,
    /// The stack's name.
    pub name: String,
    /// The stack's version.
    pub version: Version,
    /// The member reference naming the agent.
    pub reference: String,
}
