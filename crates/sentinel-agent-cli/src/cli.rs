//! The command line: every subcommand, flag and argument of `agent`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `agent`: pack, push and pull Sentinel agent packages on any OCI registry.
#[derive(Debug, Parser)]
#[command(name = "agent", version, about, long_about = None)]
pub struct Cli {
    /// The configuration file (default: config.yaml in the agent config directory).
    #[arg(long, global = true, env = "AGENT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The local package store, an OCI image layout (default: the user's data directory).
    #[arg(long, global = true, env = "AGENT_STORE", value_name = "DIR")]
    pub store: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a valid starting agent.yaml into a directory.
    Init(InitArgs),
    /// Pack an agent or stack directory into a reproducible .sntl file.
    Pack(PackArgs),
    /// Unpack a .sntl file into a directory, verifying every file.
    Unpack(UnpackArgs),
    /// Push a package to a registry (packs the directory when no file is given).
    Push(PushArgs),
    /// Pull a package from a registry into the local store and a directory.
    Pull(PullArgs),
    /// List the versions of a package in a registry, newest first.
    Versions(VersionsArgs),
    /// Search registries for agents and stacks by name, description, tag or capability.
    Search(SearchArgs),
    /// Stacks: push, pull with their agents, search, versions.
    #[command(subcommand)]
    Stack(StackCommand),
    /// Copy a package or image, with its referrers (signatures, SBOMs), between registries.
    Copy(CopyArgs),
    /// Delete a tag, or a manifest with every tag naming it, from a registry.
    Delete(DeleteArgs),
    /// List the packages in the local store.
    Images(ImagesArgs),
    /// Show a package's manifest, definition, digests, sizes and referrers.
    Inspect(InspectArgs),
    /// Give a package in the local store another name.
    Tag(TagArgs),
    /// Remove names from the local store, and the blobs nothing else uses.
    Rmi(RmiArgs),
    /// Check and save credentials for a registry.
    Login(LoginArgs),
    /// Forget the saved credentials for a registry.
    Logout(LogoutArgs),
    /// Signing keys: generate, list, export.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Sign what a reference names (or a package file, with --detached).
    Sign(SignArgs),
    /// Verify the signatures of a reference (or a package file, with --detached).
    Verify(VerifyArgs),
    /// The trust policy: which keys are trusted where, and where pulls must verify.
    #[command(subcommand)]
    Trust(TrustCommand),
    /// A registry itself: ping, health, metrics, logs, and what the saved credentials may do.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// A Sentinel registry's settings: repository permissions and visibility, rate limits, webhooks, retention, immutable tags, quotas.
    #[command(subcommand)]
    Configure(ConfigureCommand),
}

/// Where a command talks to, when its reference names no registry.
#[derive(Debug, Args, Clone, Default)]
pub struct RemoteArgs {
    /// The registry for references that name none (host[:port] or URL).
    #[arg(long, env = "AGENT_REGISTRY_URL", value_name = "REGISTRY")]
    pub registry: Option<String>,

    /// A named profile from the configuration: its registry and auth method.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}

/// Arguments of `agent init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The directory to write agent.yaml into (created when missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,

    /// The agent's name (default: derived from the directory's name).
    #[arg(long)]
    pub name: Option<String>,
}

/// Arguments of `agent pack`.
#[derive(Debug, Args)]
pub struct PackArgs {
    /// The agent or stack directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,

    /// The output file (default: NAME-VERSION.agent.sntl in the current directory).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Arguments of `agent unpack`.
#[derive(Debug, Args)]
pub struct UnpackArgs {
    /// The .sntl file.
    pub file: PathBuf,

    /// The directory to create (default: ./NAME); it must not exist or be empty.
    #[arg(short = 'C', long = "directory", value_name = "DIR")]
    pub directory: Option<PathBuf>,
}

/// Arguments of `agent push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Where to push: [registry/][namespace/]name[:tag] (default: the definition's name and version).
    #[arg(value_name = "REF")]
    pub reference: Option<String>,

    /// The agent or stack directory to pack and push.
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Push this .sntl file instead of packing a directory.
    #[arg(short, long, value_name = "PKG", conflicts_with = "dir")]
    pub file: Option<PathBuf>,

    /// Replace the description annotation of the pushed manifest.
    #[arg(long)]
    pub description: Option<String>,

    /// Also push every other tag of the same repository held in the local store.
    #[arg(long)]
    pub all_tags: bool,

    /// Print only the pushed reference and digest; no progress.
    #[arg(short, long)]
    pub quiet: bool,

    /// After the push, set who may pull the repository (a Sentinel registry
    /// with authentication only; checked before anything is pushed).
    #[arg(long, value_enum, value_name = "VISIBILITY")]
    pub visibility: Option<VisibilityArg>,

    /// The same as --visibility public.
    #[arg(long, conflicts_with = "visibility")]
    pub public: bool,

    /// After the push, sign the pushed digest and push the signature.
    #[arg(long)]
    pub sign: bool,

    /// The signing key for --sign: a name under the key directory, or a
    /// private key file (default: the key named default).
    #[arg(long, value_name = "NAME|FILE", requires = "sign")]
    pub key: Option<String>,

    /// The registry and profile.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// The values of `agent push --visibility`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VisibilityArg {
    /// Anyone may pull, signed in or not.
    Public,
    /// Only the owner, publishers, administrators and grantees may pull.
    Private,
    /// Like private, and every member of the owning organisation may pull.
    Org,
}

/// Arguments of `agent pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// What to pull: [registry/][namespace/]name[:tag|:requirement|@digest]
    /// (tag default: latest; a requirement such as ^1.2 pulls the highest match).
    #[arg(value_name = "REF")]
    pub reference: String,

    /// Extract the package into this directory (default: ./NAME).
    #[arg(short = 'd', long, value_name = "DIR")]
    pub directory: Option<PathBuf>,

    /// Only store the package; extract nothing.
    #[arg(long, conflicts_with = "directory")]
    pub no_extract: bool,

    /// Verify the package's signatures against the trust policy before
    /// anything is stored or extracted (always done where the policy says
    /// require: true).
    #[arg(long)]
    pub verify_signature: bool,

    /// Print only the pulled reference and digest; no progress.
    #[arg(short, long)]
    pub quiet: bool,

    /// The registry and profile.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Arguments of `agent copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// What to copy: [registry/][namespace/]name[:tag|@digest] (with
    /// --all-tags, a repository alone).
    #[arg(value_name = "SRC")]
    pub source: String,

    /// Where to: [registry/][namespace/]name[:tag] (default tag: SRC's).
    #[arg(value_name = "DST")]
    pub destination: String,

    /// Copy every tag of SRC's repository.
    #[arg(long)]
    pub all_tags: bool,

    /// Print only each destination reference and digest; no progress.
    #[arg(short, long)]
    pub quiet: bool,

    /// The output format of the report.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,

    /// The registry for references that name none, and the profile.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Arguments of `agent delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// What to delete: [registry/][namespace/]name:tag (the tag alone) or
    /// [registry/][namespace/]name@digest (the manifest and all its tags).
    #[arg(value_name = "REF")]
    pub reference: String,

    /// Delete without asking (needed when standard input is not a terminal).
    #[arg(short, long)]
    pub yes: bool,

    /// The output format of the report.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,

    /// The registry for references that name none, and the profile.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `agent stack ...`.
#[derive(Debug, Subcommand)]
pub enum StackCommand {
    /// Push a stack (as agent push; an agent is refused).
    Push(PushArgs),
    /// Pull a stack and, with --extract-agents, every agent it names.
    Pull(StackPullArgs),
    /// Search registries for stacks.
    Search(SearchArgs),
    /// List the versions of a stack, newest first.
    Versions(VersionsArgs),
}

/// Arguments of `agent stack pull`.
#[derive(Debug, Args)]
pub struct StackPullArgs {
    /// The stack: [registry/][namespace/]name[:tag|:requirement|@digest].
    #[arg(value_name = "REF")]
    pub reference: String,

    /// Extract into this directory (default: ./NAME).
    #[arg(short = 'd', long, value_name = "DIR")]
    pub directory: Option<PathBuf>,

    /// Also pull every agent the stack names into DIR/agents/<member>/ and
    /// write DIR/stack.lock; with a lock in DIR, pull exactly its digests.
    #[arg(long)]
    pub extract_agents: bool,

    /// Resolve the members afresh, ignoring DIR/stack.lock.
    #[arg(long, requires = "extract_agents")]
    pub update: bool,

    /// Verify the signatures of the stack and of every agent it pulls
    /// against the trust policy before anything is stored or extracted.
    #[arg(long)]
    pub verify_signature: bool,

    /// Print only the pulled references and digests; no progress.
    #[arg(short, long)]
    pub quiet: bool,

    /// The registry and profile.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Output formats of the listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// Aligned columns for a person.
    #[default]
    Table,
    /// JSON for a program.
    Json,
    /// YAML for a program or a person.
    Yaml,
}

/// Arguments of `agent versions`.
#[derive(Debug, Args)]
pub struct VersionsArgs {
    /// The package: [registry/][namespace/]name.
    #[arg(value_name = "REF")]
    pub reference: String,

    /// Also list the tags that are not versions (latest, stable, ...).
    #[arg(short, long)]
    pub all: bool,

    /// The output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,

    /// The registry and profile.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Which kind of package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// Agents only.
    Agent,
    /// Stacks only.
    Stack,
}

/// How search results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum SortArg {
    /// Exact names first, then name prefixes, then the best term matches.
    #[default]
    Relevance,
    /// Most downloaded first.
    Downloads,
    /// Most recently pushed first.
    Updated,
    /// By name.
    Name,
}

/// Arguments of `agent search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words to find in names, descriptions, tags and capabilities.
    #[arg(value_name = "QUERY", default_value = "")]
    pub query: String,

    /// Only packages with this capability.
    #[arg(long, value_name = "C")]
    pub capability: Option<String>,

    /// Only packages whose author contains this.
    #[arg(long, value_name = "A")]
    pub author: Option<String>,

    /// Only packages with this tag.
    #[arg(long, value_name = "T")]
    pub tag: Option<String>,

    /// Only agents or only stacks.
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,

    /// The order of the results.
    #[arg(long, value_enum, default_value_t)]
    pub sort: SortArg,

    /// At most this many results per registry (1 to 100).
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub limit: u32,

    /// Only packages signed by a key the registry's signature policy
    /// trusts (registries without Sentinel's package search return none).
    #[arg(long)]
    pub signed: bool,

    /// The output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,

    /// The registry and profile (default: every configured registry).
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Arguments of `agent images`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Keep packages matching KEY=VALUE; KEY is name, capability, author or tag (repeatable, all must match).
    #[arg(long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,

    /// Also list untagged entries and store entries that are not Sentinel packages.
    #[arg(short, long)]
    pub all: bool,

    /// The output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// Arguments of `agent inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A name or digest in the local store, or a remote reference.
    #[arg(value_name = "REF")]
    pub reference: String,

    /// Ask the registry even when the local store has the reference.
    #[arg(long)]
    pub remote_only: bool,

    /// The output format (table prints a readable summary).
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,

    /// The registry and profile.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Arguments of `agent tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// An existing name or digest in the local store.
    pub source: String,
    /// The new name: [registry/][namespace/]name[:tag].
    pub target: String,

    /// The registry for a target that names none.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Arguments of `agent rmi`.
#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Names or digests in the local store.
    #[arg(required = true, value_name = "REF")]
    pub references: Vec<String>,

    /// The registry for references that name none.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Arguments of `agent login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry (default: the configured default registry).
    pub registry: Option<String>,

    /// The user name.
    #[arg(short, long)]
    pub username: Option<String>,

    /// Read the password from standard input.
    #[arg(long)]
    pub password_stdin: bool,

    /// Save a registry token, sent as a bearer token (conflicts with a password).
    #[arg(long, value_name = "TOKEN", conflicts_with_all = ["password_stdin", "username"])]
    pub token: Option<String>,

    /// A named profile whose registry to log in to.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}

/// Arguments of `agent logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry (default: the configured default registry).
    #[arg(conflicts_with = "all")]
    pub registry: Option<String>,

    /// Forget the credentials of every registry.
    #[arg(long)]
    pub all: bool,
}

/// `agent key ...`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate an ed25519 key pair in the key directory.
    Generate(KeyGenerateArgs),
    /// List the keys in the key directory.
    List(KeyListArgs),
    /// Print (or write) a key's public part, SPKI PEM.
    Export(KeyExportArgs),
}

/// Arguments of `agent key generate`.
#[derive(Debug, Args)]
pub struct KeyGenerateArgs {
    /// The key's name: keys/NAME.key and keys/NAME.pub.
    #[arg(long, default_value = sentinel_workflows::DEFAULT_KEY_NAME)]
    pub name: String,

    /// Encrypt the private key with a passphrase read from standard input
    /// (else from AGENT_KEY_PASSPHRASE when set; else not encrypted).
    #[arg(long)]
    pub passphrase_stdin: bool,

    /// Replace an existing key of that name.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `agent key list`.
#[derive(Debug, Args)]
pub struct KeyListArgs {
    /// The output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// Arguments of `agent key export`.
#[derive(Debug, Args)]
pub struct KeyExportArgs {
    /// The key's name.
    #[arg(default_value = sentinel_workflows::DEFAULT_KEY_NAME)]
    pub name: String,

    /// Write the public key to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Arguments of `agent sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// What to sign: [registry/][namespace/]name[:tag|@digest], or with
    /// --detached a package file.
    #[arg(value_name = "REF|FILE")]
    pub target: String,

    /// The signing key: a name under the key directory, or a private key
    /// file (default: the key named default).
    #[arg(long, value_name = "NAME|FILE")]
    pub key: Option<String>,

    /// Read the key's passphrase from standard input (else from
    /// AGENT_KEY_PASSPHRASE, else a prompt on a terminal).
    #[arg(long)]
    pub passphrase_stdin: bool,

    /// Sign a package file into a detached signature file instead.
    #[arg(long)]
    pub detached: bool,

    /// The detached signature file (default: the package file with .sntl
    /// replaced by .sig.sntl).
    #[arg(short, long, value_name = "FILE", requires = "detached")]
    pub output: Option<PathBuf>,

    /// The output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,

    /// The registry and profile.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Arguments of `agent verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// What to verify: [registry/][namespace/]name[:tag|@digest], or with
    /// --detached a package file.
    #[arg(value_name = "REF|FILE")]
    pub target: String,

    /// A trusted public key file (repeatable); without one, the trust
    /// policy's keys for the reference's scope.
    #[arg(long, value_name = "FILE")]
    pub key: Vec<PathBuf>,

    /// Verify a package file against a detached signature file.
    #[arg(long)]
    pub detached: bool,

    /// The detached signature file (default: the package file with .sntl
    /// replaced by .sig.sntl).
    #[arg(long, value_name = "FILE", requires = "detached")]
    pub signature: Option<PathBuf>,

    /// The output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,

    /// The registry and profile.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `agent trust ...`.
#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Trust a public key in a scope (created when missing).
    Add(TrustAddArgs),
    /// List the scopes, their keys and whether pulls there must verify.
    List(TrustListArgs),
    /// Remove a scope, or one key from it.
    Remove(TrustRemoveArgs),
}

/// Arguments of `agent trust add`.
#[derive(Debug, Args)]
pub struct TrustAddArgs {
    /// The scope: *, HOST/*, HOST/PREFIX/* or HOST/REPOSITORY.
    pub scope: String,

    /// The public key file (SPKI PEM, as agent key export writes).
    #[arg(value_name = "KEYFILE")]
    pub key_file: PathBuf,

    /// Make every pull in the scope verify a signature.
    #[arg(long)]
    pub require: bool,
}

/// Arguments of `agent trust list`.
#[derive(Debug, Args)]
pub struct TrustListArgs {
    /// The output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// Arguments of `agent trust remove`.
#[derive(Debug, Args)]
pub struct TrustRemoveArgs {
    /// The scope.
    pub scope: String,

    /// Remove only this key (its key id) from the scope.
    #[arg(value_name = "KEYID")]
    pub key_id: Option<String>,
}

/// `agent registry ...`.
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Reachability, TLS, the API version header, the auth scheme and round-trip times of /v2/.
    Ping(PingArgs),
    /// Liveness and readiness with each check (Sentinel), or what /v2/ says (any other registry).
    Health(HealthArgs),
    /// A readable summary of Sentinel's metrics, or one metric's series.
    Metrics(MetricsArgs),
    /// Sentinel's recent log events or audit trail (administrators).
    Logs(LogsArgs),
    /// Credentials: whether they work and what they may do.
    #[command(subcommand)]
    Auth(RegistryAuthCommand),
}

/// `agent registry auth ...`.
#[derive(Debug, Subcommand)]
pub enum RegistryAuthCommand {
    /// Whether the saved credentials work, who they sign in as and what they may do.
    Test(AuthTestArgs),
}

/// The registry an `agent registry` or `agent configure` command talks to.
#[derive(Debug, Args, Clone)]
pub struct RegistryTarget {
    /// The registry, host[:port] or URL (default: --registry, the profile's, the configured default).
    #[arg(value_name = "REGISTRY")]
    pub address: Option<String>,

    /// The output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,

    /// The registry and profile.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Arguments of `agent registry ping`.
#[derive(Debug, Args)]
pub struct PingArgs {
    /// How many times to send GET /v2/ (the round trips' minimum and median are shown).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub samples: u32,

    /// The registry and output format.
    #[command(flatten)]
    pub target: RegistryTarget,
}

/// Arguments of `agent registry health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Show each readiness check (Sentinel), with its latency and error.
    #[arg(long)]
    pub detailed: bool,

    /// How long the whole check may take (e.g. 30s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,

    /// The registry and output format.
    #[command(flatten)]
    pub target: RegistryTarget,
}

/// Arguments of `agent registry metrics`.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Print this metric's series (a sample name, or a family's name for all its samples).
    #[arg(long, value_name = "NAME")]
    pub metric: Option<String>,

    /// The time between the two samples the rates come from; 0s shows totals only.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    pub interval: std::time::Duration,

    /// The registry and output format.
    #[command(flatten)]
    pub target: RegistryTarget,
}

/// Arguments of `agent registry logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// That level or more severe: error, warn, info, debug, trace.
    #[arg(long, value_parser = ["error", "warn", "info", "debug", "trace"])]
    pub level: Option<String>,

    /// Only events this recent: a duration (90s, 30m, 1h, 2d) or an RFC 3339 time.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,

    /// The newest that many events (the registry's default: 1,000).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,

    /// Keep printing new events as they come, until Ctrl-C.
    #[arg(short, long)]
    pub follow: bool,

    /// How often --follow asks for new events.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = humantime::parse_duration, requires = "follow")]
    pub poll: std::time::Duration,

    /// Read the audit trail instead of the log.
    #[arg(long, conflicts_with = "level")]
    pub audit: bool,

    /// Audit events of this user only.
    #[arg(long, requires = "audit")]
    pub user: Option<String>,

    /// Audit events of this action only (push, delete, login-failed, ...).
    #[arg(long, requires = "audit")]
    pub action: Option<String>,

    /// Audit events of this repository only.
    #[arg(long, requires = "audit")]
    pub repository: Option<String>,

    /// The registry and output format.
    #[command(flatten)]
    pub target: RegistryTarget,
}

/// Arguments of `agent registry auth test`.
#[derive(Debug, Args)]
pub struct AuthTestArgs {
    /// Also ask which of pull, push and delete the credentials may do on this repository.
    #[arg(long, value_name = "REPOSITORY")]
    pub repository: Option<String>,

    /// The registry and output format.
    #[command(flatten)]
    pub target: RegistryTarget,
}

/// `agent configure ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigureCommand {
    /// Grants on a repository: add, remove, list.
    #[command(subcommand)]
    Permission(PermissionCommand),
    /// Set who may pull a repository: public, private or org.
    Visibility(VisibilityArgs),
    /// Show or change the registry's request rate limits, live (administrators).
    RateLimit(RateLimitArgs),
    /// Where the registry sends its events: add, list, remove, test (administrators).
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Retention policies: which package versions the registry keeps; and running them now.
    #[command(subcommand)]
    Retention(crate::commands::configure::retention::RetentionCommand),
    /// Tag immutability rules: tags that never move once set.
    #[command(subcommand)]
    Immutable(crate::commands::configure::immutable::ImmutableCommand),
    /// Namespace quotas: how many bytes a user or organisation may store.
    #[command(subcommand)]
    Quota(crate::commands::configure::quota::QuotaCommand),
}

/// `agent configure permission ...`.
#[derive(Debug, Subcommand)]
pub enum PermissionCommand {
    /// Grant a user read, write or admin on a repository (replacing their grant).
    Add(PermissionAddArgs),
    /// Remove a user's grant on a repository.
    Remove(PermissionRemoveArgs),
    /// List a repository's visibility and grants.
    List(PermissionListArgs),
}

/// The values of `--permission`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PermissionArg {
    /// Pull.
    Read,
    /// Pull, push and delete.
    Write,
    /// Pull, push, delete, and manage the repository's visibility and grants.
    Admin,
}

/// The repository an `agent configure` command changes.
#[derive(Debug, Args)]
pub struct RepositoryTarget {
    /// The repository: [registry/]repository.
    #[arg(value_name = "REF")]
    pub reference: String,

    /// The output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,

    /// The registry and profile.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Arguments of `agent configure permission add`.
#[derive(Debug, Args)]
pub struct PermissionAddArgs {
    /// The user granted.
    #[arg(long, value_name = "USER")]
    pub user: String,

    /// What the user may do.
    #[arg(long, value_enum, value_name = "PERMISSION")]
    pub permission: PermissionArg,

    /// The repository, registry and output format.
    #[command(flatten)]
    pub target: RepositoryTarget,
}

/// Arguments of `agent configure permission remove`.
#[derive(Debug, Args)]
pub struct PermissionRemoveArgs {
    /// The user whose grant goes.
    #[arg(long, value_name = "USER")]
    pub user: String,

    /// Remove the grant only if it is this one.
    #[arg(long, value_enum, value_name = "PERMISSION")]
    pub permission: Option<PermissionArg>,

    /// The repository, registry and output format.
    #[command(flatten)]
    pub target: RepositoryTarget,
}

/// Arguments of `agent configure permission list`.
#[derive(Debug, Args)]
pub struct PermissionListArgs {
    /// The repository, registry and output format.
    #[command(flatten)]
    pub target: RepositoryTarget,
}

/// Arguments of `agent configure visibility`.
#[derive(Debug, Args)]
pub struct VisibilityArgs {
    /// The repository: [registry/]repository.
    #[arg(value_name = "REF")]
    pub reference: String,

    /// Who may pull it.
    #[arg(value_enum, value_name = "VISIBILITY")]
    pub visibility: VisibilityArg,

    /// The output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,

    /// The registry and profile.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// The values of `agent configure rate-limit --per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RateLimitScopeArg {
    /// The limit per client address.
    Address,
    /// The limit per signed-in user.
    User,
}

/// Arguments of `agent configure rate-limit`.
#[derive(Debug, Args)]
pub struct RateLimitArgs {
    /// Requests per minute (0: no limit).
    #[arg(long, value_name = "N")]
    pub requests_per_minute: Option<u32>,

    /// Requests at once before the rate holds them back (0: one second's worth).
    #[arg(long, value_name = "M")]
    pub burst_size: Option<u32>,

    /// Change only this limit (default: both the per-address and the per-user limit).
    #[arg(long, value_enum, value_name = "LIMIT")]
    pub per: Option<RateLimitScopeArg>,

    /// Forget the changes and return to the limits of the registry's settings.
    #[arg(long, conflicts_with_all = ["requests_per_minute", "burst_size", "per"])]
    pub reset: bool,

    /// The registry and output format.
    #[command(flatten)]
    pub target: RegistryTarget,
}

/// `agent configure webhook ...`.
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Add a webhook; its secret (given with --secret-stdin, else generated) is shown once.
    Add(WebhookAddArgs),
    /// List the registry's webhooks (never their secrets).
    List(WebhookListArgs),
    /// Remove a webhook, with its pending deliveries.
    Remove(WebhookNameArgs),
    /// Send a webhook a test event now and show what its receiver answered.
    Test(WebhookNameArgs),
}

/// Arguments of `agent configure webhook add`.
#[derive(Debug, Args)]
pub struct WebhookAddArgs {
    /// The webhook's name (lowercase letters, digits, '-', '_', '.').
    #[arg(long, value_name = "NAME")]
    pub name: String,

    /// Where events are POSTed (http:// or https://).
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// Comma-separated: push, pull, delete, publish, signature, quota, gc,
    /// all, or full types (io.sentinel.manifest.pushed).
    #[arg(long, value_name = "EVENTS")]
    pub events: String,

    /// Only events of repositories matching this pattern (acme/*).
    #[arg(long, value_name = "PATTERN")]
    pub repository: Option<String>,

    /// Read the secret from the first line of stdin (else the registry generates one).
    #[arg(long)]
    pub secret_stdin: bool,

    /// The registry and output format.
    #[command(flatten)]
    pub target: RegistryTarget,
}

/// Arguments of `agent configure webhook list`.
#[derive(Debug, Args)]
pub struct WebhookListArgs {
    /// The registry and output format.
    #[command(flatten)]
    pub target: RegistryTarget,
}

/// Arguments of `agent configure webhook remove` and `test`.
#[derive(Debug, Args)]
pub struct WebhookNameArgs {
    /// The webhook's name.
    #[arg(value_name = "NAME")]
    pub name: String,

    /// The registry and output format.
    #[command(flatten)]
    pub target: RegistryTarget,
}
