//! What the `agent` commands do, as a library: the workflows between the
//! local package store (`sentinel-local-store`) and a registry
//! (`sentinel-client`), as oras-go is to oras.
//!
//! - [`push()`]: pack a directory (or take a package file or a stored name),
//!   record it in the local store, and send its blobs and manifest.
//! - [`resolve`] then [`Resolved::pull`]: find a reference over one or more
//!   registries, download and verify the package into the store, name it
//!   there and extract it.
//! - [`pull_stack`]: a stack and, with its agents, every member resolved,
//!   verified and extracted, with a `stack.lock` that later pulls follow.
//! - [`versions()`]: a package's versions in a registry, from Sentinel's
//!   package API or any registry's tag list; [`resolve`] reads a version
//!   requirement in place of a tag (`team/planner:^1.2`) the same way.
//! - [`search()`]: packages over the configured registries, from Sentinel's
//!   package search, or the names in a registry's open catalog.
//! - [`inspect()`]: a manifest, its definition and referrers, from the
//!   store or a registry.
//! - [`copy()`]: a manifest with its children, blobs and referrers
//!   (signatures, SBOMs) from one registry to another, any two.
//! - [`list`], [`tag`], [`remove`]: the local store's names.
//! - [`unpack_file`]: extract a package file, with a way to stop.
//! - [`check_credential`]: what `agent login` checks before it saves.
//! - [`ping`], [`health`], [`metrics_summary`], [`metric_series`],
//!   [`events`] and [`test_auth`]: what `agent registry` shows of a
//!   registry, from `/v2/` and Sentinel's health, metrics, logs and
//!   management APIs.
//! - [`webhooks()`], [`add_webhook`], [`remove_webhook`], [`test_webhook`]:
//!   a Sentinel registry's webhooks, through its management API.
//! - [`grant`], [`revoke`], [`repository_settings`], [`set_visibility`],
//!   [`rate_limits`], [`change_rate_limits`], [`reset_rate_limits`]: what
//!   `agent configure` changes through Sentinel's management API.
//! - [`retention_policies`], [`set_retention_policy`], [`run_retention`],
//!   [`immutability_rules`], [`set_immutability_rule`], [`quotas`],
//!   [`set_quota`], [`namespace_usage`] and their removals: what `agent
//!   configure retention|immutable|quota` manages through Sentinel's
//!   management API.
//! - [`Deletion`]: a tag, or a manifest with its tags, deleted from a
//!   registry once it has been looked up and shown.
//! - [`KeyDirectory`]: signing keys in the configuration directory;
//!   [`sign()`] and [`sign_detached`]: a signature pushed as an artifact
//!   whose subject is the signed manifest, or written beside a package file;
//!   [`verify()`], [`Resolved::verify_signatures`] and [`verify_detached`]:
//!   every signature checked against the keys [`Trust`] gives, from
//!   `--key` or the trust policy ([`TrustFile`]).
//!
//! The caller decides which registry a short reference means and which
//! credentials apply, through [`Registries`]; it draws progress through
//! [`Progress`]; and it shows the reports the workflows return. Failures are
//! a [`WorkflowError`] whose source chain keeps the client, package or store
//! error beneath.

mod configure;
mod copy;
mod delete;
mod error;
mod images;
mod inspect;
mod keys;
mod lifecycle;
mod local;
mod login;
mod management;
mod manifest;
mod observe;
mod progress;
mod pull;
mod push;
mod registries;
mod search;
mod sign;
mod stack;
mod trust;
mod unpack;
mod verify;
mod versions;
mod webhooks;

pub use configure::{
    change_rate_limits, grant, rate_limits, repository_settings, reset_rate_limits, revoke,
    set_visibility,
};
pub use copy::{
    BlobTally, CopiedTag, CopyReport, CopyRequest, IN_MEMORY_BLOB, MAX_DEPTH, MAX_MANIFESTS, Tally,
    copy,
};
pub use delete::{DeleteReport, Deleted, Deletion};
pub use error::{BoxError, Result, WorkflowError};
pub use images::{Filter, ImageRow, list};
pub use inspect::{Inspection, inspect};
pub use keys::{DEFAULT_KEY_NAME, GeneratedKey, KEYS_DIR, KeyDirectory, KeyEntry, read_public_key};
pub use lifecycle::{
    ImmutabilitySpec, NamespaceQuota, RetentionRun, RetentionSpec, RetiredVersion,
    immutability_rules, namespace_usage, quotas, remove_immutability_rule, remove_quota,
    remove_retention_policy, retention_policies, run_retention, set_immutability_rule, set_quota,
    set_retention_policy,
};
pub use local::{Removal, remove, tag};
pub use login::check_credential;
pub use manifest::DescriptorView;
pub use observe::{
    AuthReport, Challenge, Check, Exposition, ExpositionError, HealthReport, MetricSeries,
    MetricsSummary, NamespaceFigures, PingReport, PopularPackage, Sample, TESTED_ACTIONS, Tls,
    events, health, metric_series, metrics_summary, ping, test_auth,
};
pub use progress::{Progress, Transfer};
pub use pull::{Extract, PullReport, Resolved, resolve};
pub use push::{PushReport, PushRequest, push};
pub use registries::Registries;
pub use search::{SearchOutcome, SearchRow, SearchSource, search};
pub use sign::{DetachedReport, EMPTY_MEDIA_TYPE, SignReport, sign, sign_detached};
pub use stack::{
    LOCK_FILE, LockedMember, LockedPackage, StackLock, StackPullReport, StackPullRequest,
    pull_stack,
};
pub use trust::{TRUST_FILE, Trust, TrustFile, TrustPolicy, TrustScope, TrustedKey};
pub use unpack::unpack_file;
pub use verify::{
    MAX_SIGNATURE_ARTIFACTS, SignatureCheck, SignatureFailure, Verdict, VerifyReport,
    detached_signature_path, verify, verify_detached,
};
pub use versions::{Resolution, VersionListing, VersionRow, VersionSource, versions};
pub use webhooks::{add_webhook, remove_webhook, test_webhook, webhooks};
