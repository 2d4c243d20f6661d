//! Deterministic catalogue data: package versions over repositories, as the
//! registry would record them, from a seed and nothing else (no network, no
//! files).
//!
//! [`Generator::repositories`] yields one [`Repository`] at a time (its
//! versions, which of them are deprecated, and its downloads), so a load
//! never holds the whole data set in memory; [`write_json_lines`] writes the
//! same data as JSON lines for benchmarks that drive the registry over HTTP.

use std::collections::HashSet;
use std::io::Write;

use semver::Version;
use sentinel_catalogue::{BlobRef, MemberRef, ModelRef, PackageVersion};
use sentinel_oci::{Digest, RepositoryName};
use sentinel_package::PackageKind;
use serde::Serialize;

use crate::BenchError;

mod rng;
#[cfg(test)]
mod tests;
mod vocabulary;

pub use rng::Rng;
use vocabulary::MODELS;
pub use vocabulary::{DOMAIN_WORDS, Vocabulary};

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    /// The seed: the same seed and shape give the same data.
    pub seed: u64,
    /// Package versions in all.
    pub versions: usize,
    /// Repositories (packages) in all.
    pub repositories: usize,
    /// Of those, how many are large.
    pub large_repositories: usize,
    /// Versions in each large repository.
    pub large_versions: usize,
}

impl Default for Shape {
    /// 100,000 versions in 10,000 repositories, 10 of them with 1,000 versions.
    fn default() -> Self {
        Shape {
            seed: 12,
            versions: 100_000,
            repositories: 10_000,
            large_repositories: 10,
            large_versions: 1_000,
        }
    }
}

impl Shape {
    /// Checks that the versions can be spread over the repositories.
    pub fn validate(&self) -> Result<(), BenchError> {
        let large = self.large_repositories.saturating_mul(self.large_versions);
        let small_repositories = self.repositories.saturating_sub(self.large_repositories);
        let fits = self.repositories > 0
            && self.large_repositories <= self.repositories
            && large <= self.versions
            && (small_repositories == 0 || self.versions - large >= small_repositories)
            && (small_repositories > 0 || large == self.versions);
        if fits {
            Ok(())
        } else {
            Err(BenchError::Shape(format!(
                "{} versions cannot fill {} repositories of which {} hold {} versions each",
                self.versions, self.repositories, self.large_repositories, self.large_versions
            )))
        }
    }

    /// How many versions repository `index` gets: the large ones come
    /// first, the rest share what is left as evenly as it divides.
    pub fn versions_of(&self, index: usize) -> usize {
        if index < self.large_repositories {
            return self.large_versions;
        }
        let small = self.repositories - self.large_repositories;
        let left = self.versions - self.large_repositories * self.large_versions;
        let at = index - self.large_repositories;
        left / small + usize::from(at < left % small)
    }
}

/// One repository's package: its versions in push order, the deprecated
/// ones, and its downloads.
#[derive(Clone, Debug)]
pub struct Repository {
    /// Its position in the data set.
    pub index: usize,
    /// Every version, oldest push first.
    pub versions: Vec<PackageVersion>,
    /// Deprecated versions with their messages.
    pub deprecated: Vec<(Version, String)>,
    /// Downloads: (index into `versions`, count), all on [`DOWNLOAD_DAY`].
    pub downloads: Vec<(usize, u64)>,
}

/// The day all downloads are counted on (days since the Unix epoch).
pub const DOWNLOAD_DAY: u32 = 20_000;

impl Repository {
    /// The version the catalogue shows for this package: the highest that
    /// is neither a pre-release nor deprecated, else the highest.
    pub fn shown(&self) -> &PackageVersion {
        let skip = |v: &Version| self.deprecated.iter().any(|(d, _)| d == v);
        let latest =
            sentinel_package::versions::latest(self.versions.iter().map(|e| &e.version), skip)
                .or_else(|| self.versions.iter().map(|e| &e.version).max())
                .expect("a repository has versions")
                .clone();
        self.versions
            .iter()
            .filter(|e| e.version == latest)
            .max_by_key(|e| e.pushed_at)
            .expect("the version is among them")
    }

    /// Downloads of every version together.
    pub fn total_downloads(&self) -> u64 {
        self.downloads.iter().map(|(_, n)| n).sum()
    }

    /// The last push of any version.
    pub fn updated(&self) -> u64 {
        self.versions.iter().map(|e| e.pushed_at).max().unwrap_or(0)
    }
}

/// Makes the data of a [`Shape`].
#[derive(Clone, Debug)]
pub struct Generator {
    shape: Shape,
    vocabulary: Vocabulary,
    names: Vec<String>,
}

/// The first push of the data set, in seconds since the Unix epoch.
const FIRST_PUSH: u64 = 1_700_000_000;

impl Generator {
    /// A generator of `shape`; fails if the shape is impossible.
    pub fn new(shape: Shape) -> Result<Self, BenchError> {
        shape.validate()?;
        let vocabulary = Vocabulary::new(shape.seed);
        let mut rng = Rng::new(shape.seed ^ 0x6e61_6d65);
        let mut seen = HashSet::new();
        let mut names = Vec::with_capacity(shape.repositories);
        while names.len() < shape.repositories {
            let org = rng.pick(&vocabulary.organisations);
            let first = rng.pick(&DOMAIN_WORDS[..120]);
            let second = rng.pick(&DOMAIN_WORDS[120..]);
            let mut name = format!("{org}/{first}-{second}");
            if !seen.insert(name.clone()) {
                name = format!("{org}/{first}-{second}-{}", names.len());
                seen.insert(name.clone());
            }
            names.push(name);
        }
        Ok(Generator {
            shape,
            vocabulary,
            names,
        })
    }

    /// The shape generated.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The lists the data is drawn from.
    pub fn vocabulary(&self) -> &Vocabulary {
        &self.vocabulary
    }

    /// The repository name of repository `index`.
    pub fn name(&self, index: usize) -> &str {
        &self.names[index]
    }

    /// Every repository, in order, made one at a time.
    pub fn repositories(&self) -> impl Iterator<Item = Repository> + '_ {
        (0..self.shape.repositories).map(|index| self.repository(index))
    }

    /// Repository `index` (the same every time).
    pub fn repository(&self, index: usize) -> Repository {
        let mut rng = Rng::new(self.shape.seed.wrapping_mul(1_000_003) ^ index as u64);
        let vocabulary = &self.vocabulary;
        let repository: RepositoryName = self.names[index]
            .parse()
            .expect("generated names are valid repository names");
        let short = self.names[index]
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        // About 5% of packages are stacks (never the large ones, which play
        // the busy agents).
        let kind = if index >= self.shape.large_repositories && rng.chance(0.05) {
            PackageKind::Stack
        } else {
            PackageKind::Agent
        };
        let author = rng.pick(&vocabulary.authors).clone();
        let model = MODELS[rng.skewed(MODELS.len())];
        let mut description = self.description(&mut rng);
        let mut capabilities = self.some(&mut rng, &vocabulary.capabilities, 2, 6);
        let mut tags = self.some(&mut rng, &vocabulary.tags, 1, 4);
        let members: Vec<MemberRef> = if kind == PackageKind::Stack {
            (0..rng.between(2, 5))
                .map(|i| {
                    let target = &self.names[rng.below(self.names.len())];
                    MemberRef {
                        name: format!("member-{i}"),
                        reference: format!("registry.example/{target}:1"),
                        repository: target.clone(),
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        let package = Package {
            repository: &repository,
            short: &short,
            kind,
            author: &author,
            model: (kind == PackageKind::Agent).then(|| ModelRef {
                provider: model.0.to_owned(),
                name: model.1.to_owned(),
            }),
            members: &members,
        };
        let count = self.shape.versions_of(index);
        let mut version = Version::new(0, 1, 0);
        let mut pushed_at = FIRST_PUSH + rng.below(86_400 * 365) as u64;
        let mut versions = Vec::with_capacity(count);
        let mut deprecated = Vec::new();
        for push in 0..count {
            pushed_at += 60 + rng.below(86_400 * 7) as u64;
            let roll = rng.unit();
            let this = if roll < 0.05 {
                // A pre-release of the next minor.
                let mut pre = Version::new(version.major, version.minor + 1, 0);
                pre.pre = semver::Prerelease::new(&format!("rc.{}", rng.between(1, 3)))
                    .expect("a valid pre-release");
                pre
            } else {
                if roll < 0.08 {
                    version = Version::new(version.major + 1, 0, 0);
                } else if roll < 0.25 {
                    version = Version::new(version.major, version.minor + 1, 0);
                } else {
                    version.patch += 1;
                }
                version.clone()
            };
            // Metadata changes now and then between versions.
            if rng.chance(0.1) {
                description = self.description(&mut rng);
            }
            if rng.chance(0.05) {
                capabilities = self.some(&mut rng, &vocabulary.capabilities, 2, 6);
                tags = self.some(&mut rng, &vocabulary.tags, 1, 4);
            }
            if rng.chance(0.02) && this.pre.is_empty() {
                deprecated.push((this.clone(), format!("{short} {this} has a known bug")));
            }
            let labels = Labels {
                description: &description,
                capabilities: &capabilities,
                tags: &tags,
            };
            versions.push(package.entry(&this, &labels, push, pushed_at));
        }
        // Popularity falls off with the repository's rank, with noise, and
        // goes to one to three versions.
        let popularity = (200_000 / (index + 5)) as u64;
        let mut downloads = Vec::new();
        let mut left = popularity / 2 + rng.below(popularity as usize + 1) as u64;
        for _ in 0..3 {
            if left == 0 {
                break;
            }
            let share = if downloads.len() == 2 {
                left
            } else {
                left / 2 + 1
            };
            downloads.push((rng.below(versions.len()), share));
            left -= share.min(left);
        }
        Repository {
            index,
            versions,
            deprecated,
            downloads,
        }
    }

    fn description(&self, rng: &mut Rng) -> String {
        let words = rng.between(10, 30);
        let mut text = String::new();
        for i in 0..words {
            if i > 0 {
                text.push(' ');
            }
            let word: &String = rng.pick_skewed(&self.vocabulary.words);
            text.push_str(word);
        }
        text
    }

    fn some(&self, rng: &mut Rng, from: &[String], low: usize, high: usize) -> Vec<String> {
        let wanted = rng.between(low, high);
        let mut chosen: Vec<String> = Vec::with_capacity(wanted);
        while chosen.len() < wanted {
            let item = rng.pick_skewed(from);
            if !chosen.contains(item) {
                chosen.push(item.clone());
            }
        }
        chosen
    }
}

/// What every version of one package shares.
struct Package<'a> {
    repository: &'a RepositoryName,
    short: &'a str,
    kind: PackageKind,
    author: &'a str,
    model: Option<ModelRef>,
    members: &'a [MemberRef],
}

/// What changes now and then between versions of a package.
struct Labels<'a> {
    description: &'a str,
    capabilities: &'a [String],
    tags: &'a [String],
}

impl Package<'_> {
    /// The entry of `version`, pushed as the package's `push`th manifest at `pushed_at`.
    fn entry(
        &self,
        version: &Version,
        labels: &Labels<'_>,
        push: usize,
        pushed_at: u64,
    ) -> PackageVersion {
        let Package {
            repository,
            short,
            kind,
            ..
        } = *self;
        let description = labels.description;
        // The push number keeps digests apart when a version is pushed twice.
        let seed = format!("{repository} {version} {push}");
        PackageVersion {
            repository: repository.clone(),
            digest: Digest::sha256(format!("manifest {seed}").as_bytes()),
            kind,
            name: short.to_owned(),
            version: version.clone(),
            tag: Some(sentinel_package::versions::version_tag(version)),
            description: Some(description.to_owned()),
            author: Some(self.author.to_owned()),
            license: Some("Apache-2.0".to_owned()),
            source: Some(format!("https://git.example/{repository}")),
            capabilities: if kind == PackageKind::Agent {
                labels.capabilities.to_vec()
            } else {
                Vec::new()
            },
            tags: labels.tags.to_vec(),
            model: self.model.clone(),
            dependencies: Vec::new(),
            members: self.members.to_vec(),
            ports: Vec::new(),
            config: BlobRef {
                digest: Digest::sha256(format!("config {seed}").as_bytes()),
                size: 600,
            },
            package: BlobRef {
                digest: Digest::sha256(format!("package {seed}").as_bytes()),
                size: 20_000,
            },
            file_name: format!("{short}-{version}.{}", kind.file_extension()),
            created: Some("2026-12-01T00:00:00Z".to_owned()),
            pushed_at,
            pushed_by: Some("bench".to_owned()),
            readme: Some(format!("# {short}\n\n{description}\n")),
            definition: serde_json::json!({
                "name": short,
                "version": version.to_string(),
                "description": description,
            }),
        }
    }
}

/// One line of the JSON-lines form of the data.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Line<'a> {
    /// A package version to record (push).
    Version(&'a PackageVersion),
    /// A version to deprecate after the versions are recorded.
    Deprecation {
        repository: &'a RepositoryName,
        version: &'a Version,
        message: &'a str,
    },
    /// Downloads of a version's package blob on one day.
    Downloads {
        repository: &'a RepositoryName,
        version: &'a Version,
        blob: &'a Digest,
        day: u32,
        count: u64,
    },
}

/// Writes every repository of `generator` as JSON lines: each version
/// (`"type": "version"`, a `PackageVersion`), then the repository's
/// deprecations and downloads. Returns the number of lines written.
pub fn write_json_lines(generator: &Generator, out: &mut impl Write) -> Result<u64, BenchError> {
    let mut lines = 0;
    let mut put = |line: Line<'_>, out: &mut dyn Write| -> Result<(), BenchError> {
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
        lines += 1;
        Ok(())
    };
    for repository in generator.repositories() {
        for version in &repository.versions {
            put(Line::Version(version), out)?;
        }
        for (version, message) in &repository.deprecated {
            let repository = &repository.versions[0].repository;
            put(
                Line::Deprecation {
                    repository,
                    version,
                    message,
                },
                out,
            )?;
        }
        for (at, count) in &repository.downloads {
            let entry = &repository.versions[*at];
            put(
                Line::Downloads {
                    repository: &entry.repository,
                    version: &entry.version,
                    blob: &entry.package.digest,
                    day: DOWNLOAD_DAY,
                    count: *count,
                },
                out,
            )?;
        }
    }
    out.flush()?;
    Ok(lines)
}
