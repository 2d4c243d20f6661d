//! `sentinel-registry policy retention|immutable|quota ...`: the retention
//! policies, tag immutability rules and namespace quotas of the lifecycle
//! policy file in the data directory, changed under its lock; a running
//! server picks the change up within a quarter of a second.

use clap::Subcommand;
use sentinel_lifecycle::{
    ImmutabilityRule, LifecycleError, LifecycleFile, Quota, RepositoryPattern, RetentionPolicy,
    Rules, TagPattern, human_bytes, parse_size,
};

use crate::DataArgs;
use crate::manage::PatternArgs;

/// `sentinel-registry policy retention ...`
#[derive(Subcommand)]
pub(crate) enum RetentionCommand {
    /// Set the retention policy of a repository pattern (replacing its
    /// previous one). A version is kept when any rule keeps it; the others
    /// go when retention runs (`POST /api/v1/retention/run`, and before
    /// garbage collection).
    Set {
        /// NAME, NS/* or *; the most specific pattern covering a repository
        /// is its policy.
        pattern: String,
        /// Keep the highest N versions (semver order).
        #[arg(long, value_name = "N")]
        keep_last: Option<u32>,
        /// Keep versions pushed in the last D days.
        #[arg(long, value_name = "D")]
        keep_days: Option<u32>,
        /// Keep versions matching a semver requirement (`>=1.0.0`, `^2`).
        #[arg(long, value_name = "REQ")]
        keep_matching: Option<String>,
        /// Do not keep agent versions just because a kept stack version
        /// names them as members.
        #[arg(long)]
        no_keep_stack_members: bool,
        /// Do not keep versions just because a trusted key signed them.
        #[arg(long)]
        no_keep_signed: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List the retention policies of the file and of the configuration.
    List(DataArgs),
    /// Remove the retention policy of a pattern.
    Remove(PatternArgs),
}

/// `sentinel-registry policy immutable ...`
#[derive(Subcommand)]
pub(crate) enum ImmutableCommand {
    /// Make tags matching the patterns immutable in the repositories of a
    /// pattern (replacing its previous rule): once such a tag names a
    /// manifest, it is neither moved nor deleted, nor is that manifest.
    Set {
        /// NAME, NS/* or *.
        pattern: String,
        /// A tag pattern, `*` standing for any run of characters
        /// (`release-*`, `v*`); repeatable.
        #[arg(long = "tag", value_name = "TAG_PATTERN", required = true)]
        tags: Vec<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List the immutability rules of the file and of the configuration.
    List(DataArgs),
    /// Remove the immutability rule of a pattern.
    Remove(PatternArgs),
}

/// `sentinel-registry policy quota ...`
#[derive(Subcommand)]
pub(crate) enum QuotaCommand {
    /// Set how many bytes of distinct blobs a namespace (a user or an
    /// organisation) may hold.
    Set {
        /// The namespace: the first component of its repositories' names.
        namespace: String,
        /// The quota: bytes, or a number with B, KB, MB, GB, TB, KiB, MiB,
        /// GiB or TiB (`10GiB`).
        size: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List the quotas of the file and of the configuration.
    List(DataArgs),
    /// Remove the quota of a namespace.
    Remove {
        /// The namespace.
        namespace: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// One kind of rule of the lifecycle policy file, as the subcommands list
/// and remove it.
trait Rule: Sized {
    /// What names a rule: a repository pattern or a namespace.
    type Key: std::str::FromStr<Err: Into<anyhow::Error>> + PartialEq + std::fmt::Display;
    /// The kind, as messages name it.
    const KIND: &'static str;
    /// The rule's key.
    fn key(&self) -> &Self::Key;
    /// The rules of this kind among `rules`.
    fn all(rules: &Rules) -> &[Self];
    /// Removes the rule of `key` from `file`.
    fn remove(file: &LifecycleFile, key: &Self::Key) -> Result<Rules, LifecycleError>;
    /// Prints the titles of the columns of `print`.
    fn print_titles();
    /// Prints the rule in one line, `source` saying where it is set.
    fn print(&self, source: &str);
}

/// The lifecycle policy file of the data directory `data` names, and `key`
/// parsed, once sure the configuration file (if given) sets no rule of this
/// kind for it: that one cannot be changed here.
fn unconfigured<R: Rule>(data: &DataArgs, key: &str) -> anyhow::Result<(LifecycleFile, R::Key)> {
    let settings = data.resolve()?;
    let key: R::Key = key.parse().map_err(Into::into)?;
    if R::all(&settings.lifecycle)
        .iter()
        .any(|rule| *rule.key() == key)
    {
        return Err(LifecycleError::Configured {
            kind: R::KIND,
            key: key.to_string(),
        }
        .into());
    }
    Ok((LifecycleFile::new(&settings.data_dir), key))
}

/// Lists the rules of the configuration, then those of the file ("file
/// (unused)" where the configuration overrides them).
fn list<R: Rule>(data: &DataArgs) -> anyhow::Result<()> {
    let settings = data.existing()?;
    let configured = R::all(&settings.lifecycle);
    R::print_titles();
    for rule in configured {
        rule.print("configuration");
    }
    for rule in R::all(&LifecycleFile::new(&settings.data_dir).load()?) {
        let overridden = configured.iter().any(|c| c.key() == rule.key());
        rule.print(if overridden { "file (unused)" } else { "file" });
    }
    Ok(())
}

/// Removes the rule of `key` from the file.
fn remove<R: Rule>(data: &DataArgs, key: &str) -> anyhow::Result<()> {
    data.existing()?;
    let (file, key) = unconfigured::<R>(data, key)?;
    R::remove(&file, &key)?;
    println!("removed the {} of {key}", R::KIND);
    Ok(())
}

/// The value, or `-` for none.
fn optional<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

impl Rule for RetentionPolicy {
    type Key = RepositoryPattern;
    const KIND: &'static str = "retention policy";

    fn key(&self) -> &RepositoryPattern {
        &self.repositories
    }

    fn all(rules: &Rules) -> &[Self] {
        &rules.retention
    }

    fn remove(file: &LifecycleFile, key: &RepositoryPattern) -> Result<Rules, LifecycleError> {
        file.remove_retention(key)
    }

    fn print_titles() {
        println!(
            "{:<28} {:<6} {:<6} {:<14} {:<7} {:<7} SOURCE",
            "REPOSITORIES", "LAST", "DAYS", "MATCHING", "STACKS", "SIGNED"
        );
    }

    fn print(&self, source: &str) {
        println!(
            "{:<28} {:<6} {:<6} {:<14} {:<7} {:<7} {source}",
            self.repositories.to_string(),
            optional(self.keep_last),
            optional(self.keep_days),
            optional(self.keep_matching.as_ref()),
            if self.keep_stack_members { "yes" } else { "no" },
            if self.keep_signed { "yes" } else { "no" },
        );
    }
}

impl Rule for ImmutabilityRule {
    type Key = RepositoryPattern;
    const KIND: &'static str = "immutability rule";

    fn key(&self) -> &RepositoryPattern {
        &self.repositories
    }

    fn all(rules: &Rules) -> &[Self] {
        &rules.immutable_tags
    }

    fn remove(file: &LifecycleFile, key: &RepositoryPattern) -> Result<Rules, LifecycleError> {
        file.remove_immutability(key)
    }

    fn print_titles() {
        println!("{:<28} {:<14} TAGS", "REPOSITORIES", "SOURCE");
    }

    fn print(&self, source: &str) {
        let tags: Vec<String> = self.tags.iter().map(ToString::to_string).collect();
        println!(
            "{:<28} {:<14} {}",
            self.repositories.to_string(),
            source,
            tags.join(", ")
        );
    }
}

impl Rule for Quota {
    type Key = String;
    const KIND: &'static str = "quota";

    fn key(&self) -> &String {
        &self.namespace
    }

    fn all(rules: &Rules) -> &[Self] {
        &rules.quotas
    }

    fn remove(file: &LifecycleFile, key: &String) -> Result<Rules, LifecycleError> {
        file.remove_quota(key)
    }

    fn print_titles() {
        println!("{:<28} {:<22} SOURCE", "NAMESPACE", "QUOTA");
    }

    fn print(&self, source: &str) {
        println!(
            "{:<28} {:<22} {source}",
            self.namespace,
            format!("{} ({})", human_bytes(self.bytes), self.bytes)
        );
    }
}

/// Runs a `policy retention` subcommand.
pub(crate) fn retention(command: RetentionCommand) -> anyhow::Result<()> {
    match command {
        RetentionCommand::Set {
            pattern,
            keep_last,
            keep_days,
            keep_matching,
            no_keep_stack_members,
            no_keep_signed,
            data,
        } => {
            let (file, pattern) = unconfigured::<RetentionPolicy>(&data, &pattern)?;
            let keep_matching = keep_matching
                .map(|text| {
                    text.parse().map_err(|e| {
                        anyhow::anyhow!("--keep-matching {text:?} is not a semver requirement: {e}")
                    })
                })
                .transpose()?;
            let policy = RetentionPolicy {
                repositories: pattern,
                keep_last,
                keep_days,
                keep_matching,
                keep_stack_members: !no_keep_stack_members,
                keep_signed: !no_keep_signed,
            };
            file.set_retention(policy.clone())?;
            println!("set the retention policy of {}", policy.repositories);
        }
        RetentionCommand::List(data) => list::<RetentionPolicy>(&data)?,
        RetentionCommand::Remove(PatternArgs { pattern, data }) => {
            remove::<RetentionPolicy>(&data, &pattern)?;
        }
    }
    Ok(())
}

/// Runs a `policy immutable` subcommand.
pub(crate) fn immutable(command: ImmutableCommand) -> anyhow::Result<()> {
    match command {
        ImmutableCommand::Set {
            pattern,
            tags,
            data,
        } => {
            let (file, pattern) = unconfigured::<ImmutabilityRule>(&data, &pattern)?;
            let rule = ImmutabilityRule {
                repositories: pattern,
                tags: tags
                    .iter()
                    .map(|tag| tag.parse::<TagPattern>())
                    .collect::<Result<_, _>>()?,
            };
            file.set_immutability(rule.clone())?;
            println!(
                "{}: tags matching {} are immutable",
                rule.repositories,
                tags.join(", ")
            );
        }
        ImmutableCommand::List(data) => list::<ImmutabilityRule>(&data)?,
        ImmutableCommand::Remove(PatternArgs { pattern, data }) => {
            remove::<ImmutabilityRule>(&data, &pattern)?;
        }
    }
    Ok(())
}

/// Runs a `policy quota` subcommand.
pub(crate) fn quota(command: QuotaCommand) -> anyhow::Result<()> {
    match command {
        QuotaCommand::Set {
            namespace,
            size,
            data,
        } => {
            let (file, namespace) = unconfigured::<Quota>(&data, &namespace)?;
            let bytes = parse_size(&size)?;
            file.set_quota(Quota {
                namespace: namespace.clone(),
                bytes,
            })?;
            println!(
                "{namespace} may hold {} ({bytes} bytes)",
                human_bytes(bytes)
            );
        }
        QuotaCommand::List(data) => list::<Quota>(&data)?,
        QuotaCommand::Remove { namespace, data } => remove::<Quota>(&data, &namespace)?,
    }
    Ok(())
}
