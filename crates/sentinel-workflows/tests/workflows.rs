//! The workflows against the real `sentinel-registry` on 127.0.0.1, each
//! side with its own temporary local store: no `agent` binary involved.

use std::path::{Path, PathBuf};

use sentinel_client::{
    ClientError, ClientOptions, Credential, NoProgress, RegistryClient, RegistryLocation,
    ResolvedReference,
};
use sentinel_conformance::{ADMIN_PASSWORD, TestRegistry};
use sentinel_local_store::LocalStore;
use sentinel_workflows::{
    BoxError, Extract, Filter, PushReport, PushRequest, Registries, Removal, WorkflowError,
};

/// One registry, reached anonymously; references that name none go there.
struct OneRegistry {
    host: String,
    /// The entries asked for in each page of a listing.
    page_size: Option<u32>,
}

impl OneRegistry {
    fn of(registry: &TestRegistry) -> OneRegistry {
        OneRegistry {
            host: registry
                .base_url()
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string(),
            page_size: None,
        }
    }
}

impl Registries for OneRegistry {
    fn default_registry(&self) -> Result<Option<String>, BoxError> {
        Ok(Some(self.host.clone()))
    }

    fn client(&self, reference: &ResolvedReference) -> Result<RegistryClient, BoxError> {
        let location = RegistryLocation::parse(reference.registry())?;
        let options = ClientOptions {
            page_size: self.page_size,
            ..ClientOptions::default()
        };
        Ok(RegistryClient::new(&location, options)?)
    }
}

/// A temporary directory holding a local store and the agents to push.
struct Workspace {
    dir: tempfile::TempDir,
    store: LocalStore,
}

impl Workspace {
    fn new() -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(&dir.path().join("store")).unwrap();
        Workspace { dir, store }
    }

    /// An agent directory with a definition and two files.
    fn write_agent(&self, name: &str, version: &str) -> PathBuf {
        let dir = self.dir.path().join("src").join(name);
        std::fs::create_dir_all(dir.join("prompts")).unwrap();
        std::fs::write(
            dir.join("agent.yaml"),
            format!(
                "name: {name}\nversion: {version}\ndescription: A test agent\nauthor: Test Author <test@example.com>\ncapabilities: [search]\ntags: [research]\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.join("prompts/system.md"), "You are careful.\n").unwrap();
        std::fs::write(dir.join("README.md"), format!("# {name}\n")).unwrap();
        dir
    }

    /// Pushes `request`; returns each tagged reference with its report.
    async fn push(
        &self,
        registries: &dyn Registries,
        request: &PushRequest,
    ) -> Result<Vec<(String, PushReport)>, WorkflowError> {
        let mut pushed = Vec::new();
        sentinel_workflows::push(
            &self.store,
            registries,
            request,
            &NoProgress,
            |reference, report| pushed.push((reference.to_string(), report.clone())),
        )
        .await?;
        Ok(pushed)
    }
}

fn push_dir(reference: &str, dir: &Path) -> PushRequest {
    PushRequest {
        reference: Some(reference.to_string()),
        dir: Some(dir.to_path_buf()),
        ..PushRequest::default()
    }
}

/// A workspace that has pushed `hello:0.1.0` as `me/hello:0.1.0`, with the
/// agent's directory and what the push reported.
async fn pushed_hello(registries: &OneRegistry) -> (Workspace, PathBuf, PushReport) {
    let author = Workspace::new();
    let dir = author.write_agent("hello", "0.1.0");
    let mut pushed = author
        .push(registries, &push_dir("me/hello:0.1.0", &dir))
        .await
        .unwrap();
    assert_eq!(pushed.len(), 1, "one tag pushed");
    let (reference, report) = pushed.remove(0);
    assert_eq!(reference, format!("{}/me/hello:0.1.0", registries.host));
    (author, dir, report)
}

/// Every regular file under `root`, by relative path, with its contents.
fn tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let contents = std::fs::read(&path).unwrap();
                files.push((path.strip_prefix(root).unwrap().to_path_buf(), contents));
            }
        }
    }
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pushed_package_pulls_back_into_another_store_file_for_file() {
    let registry = TestRegistry::start().await;
    let registries = OneRegistry::of(&registry);
    let (_author, dir, report) = pushed_hello(&registries).await;
    assert_eq!(
        (report.blobs, report.already_present, report.mounted),
        (2, 0, 0)
    );
    assert_eq!(report.uploaded_bytes, report.total_bytes);

    let reader = Workspace::new();
    let resolved = sentinel_workflows::resolve(&[&registries], "me/hello:0.1.0")
        .await
        .unwrap();
    let target = reader.dir.path().join("hello");
    let pulled = resolved
        .pull(
            &reader.store,
            Extract::Into(target.clone()),
            None,
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(pulled.manifest_digest, report.digest);
    assert_eq!(pulled.definition.name(), "hello");
    assert_eq!(pulled.extracted.as_ref().unwrap().0, target);
    assert_eq!(tree(&target), tree(&dir));
    let name = format!("{}/me/hello:0.1.0", registries.host);
    assert_eq!(pulled.reference.to_string(), name);
    let stored = reader.store.find(&name).unwrap().unwrap();
    assert_eq!(stored.digest, report.digest);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_re_push_uploads_nothing_and_another_repository_mounts() {
    let registry = TestRegistry::start().await;
    let registries = OneRegistry::of(&registry);
    let author = Workspace::new();
    let dir = author.write_agent("researcher", "1.2.0");
    let first = author
        .push(&registries, &push_dir("me/researcher:1.2.0", &dir))
        .await
        .unwrap();
    let again = author
        .push(&registries, &push_dir("me/researcher:1.2.0", &dir))
        .await
        .unwrap();
    assert_eq!(again[0].1.digest, first[0].1.digest);
    assert_eq!(
        (again[0].1.uploaded_bytes, again[0].1.already_present),
        (0, 2)
    );
    let other = author
        .push(&registries, &push_dir("team/researcher:1.2.0", &dir))
        .await
        .unwrap();
    assert_eq!((other[0].1.uploaded_bytes, other[0].1.mounted), (0, 2));
}

#[tokio::test(flavor = "multi_thread")]
async fn inspect_reads_the_store_first_and_the_registry_with_its_referrers() {
    let registry = TestRegistry::start().await;
    let registries = OneRegistry::of(&registry);
    let (author, _dir, report) = pushed_hello(&registries).await;
    let digest = report.digest.to_string();

    let local = sentinel_workflows::inspect(Some(&author.store), &registries, "me/hello:0.1.0")
        .await
        .unwrap();
    assert_eq!(local.source, "local store");
    assert_eq!(local.digest, digest);
    assert!(local.referrers.is_none());

    let remote = sentinel_workflows::inspect(None, &registries, "me/hello:0.1.0")
        .await
        .unwrap();
    assert_eq!(remote.source, "registry");
    assert_eq!(remote.digest, digest);
    assert_eq!(
        remote.artifact_type.as_deref(),
        Some("application/x-sentinel-agent")
    );
    assert_eq!(remote.definition.as_ref().unwrap()["name"], "hello");
    assert_eq!(remote.referrers.as_deref().map(<[_]>::len), Some(0));
    assert_eq!(
        remote.layers[0].annotations["org.opencontainers.image.title"],
        "hello-0.1.0.agent.sntl"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_references_are_not_found_and_the_next_registry_is_tried() {
    let empty = TestRegistry::start().await;
    let holding = TestRegistry::start().await;
    let (first, second) = (OneRegistry::of(&empty), OneRegistry::of(&holding));
    pushed_hello(&second).await;

    let alone = sentinel_workflows::resolve(&[&first], "me/hello:0.1.0").await;
    assert!(
        matches!(
            alone,
            Err(WorkflowError::Client(ClientError::NotFound { .. }))
        ),
        "{:?}",
        alone.err()
    );
    let found = sentinel_workflows::resolve(&[&first, &second], "me/hello:0.1.0").await;
    assert!(found.is_ok(), "{:?}", found.err());
    let nowhere = sentinel_workflows::resolve(&[&first, &first], "me/hello:9.9.9").await;
    match nowhere {
        Err(WorkflowError::NotFound(message)) => {
            assert!(
                message.contains("not found in any configured registry"),
                "{message}"
            )
        }
        other => panic!("{:?}", other.err()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_local_store_lists_tags_and_removes_names() {
    let registry = TestRegistry::start().await;
    let registries = OneRegistry::of(&registry);
    let (author, _dir, _report) = pushed_hello(&registries).await;
    let (name, _) = sentinel_workflows::tag(
        &author.store,
        &registries,
        "me/hello:0.1.0",
        "me/hello:stable",
    )
    .unwrap();
    assert_eq!(name, format!("{}/me/hello:stable", registries.host));

    let rows = sentinel_workflows::list(&author.store, false, &[]).unwrap();
    assert_eq!(rows.len(), 2);
    let named =
        sentinel_workflows::list(&author.store, false, &[Filter::Capability("search".into())])
            .unwrap();
    assert_eq!(named.len(), 2);
    assert!(
        sentinel_workflows::list(&author.store, false, &[Filter::Name("other".into())])
            .unwrap()
            .is_empty()
    );

    let mut removals = Vec::new();
    let outcome = sentinel_workflows::remove(
        &author.store,
        &registries,
        &["me/hello:stable".to_string(), "me/absent".to_string()],
        |removal| removals.push(removal),
    );
    assert!(
        matches!(outcome, Err(WorkflowError::NotFound(ref message)) if message.contains("me/absent"))
    );
    assert!(
        matches!(&removals[..], [Removal::Untagged(name)] if name.ends_with("me/hello:stable"))
    );
    assert_eq!(
        sentinel_workflows::list(&author.store, false, &[])
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_digest_reference_cannot_be_pushed_to() {
    let registry = TestRegistry::start().await;
    let registries = OneRegistry::of(&registry);
    let author = Workspace::new();
    let dir = author.write_agent("hello", "0.1.0");
    let digest = format!("me/hello@sha256:{}", "0".repeat(64));
    let refused = author.push(&registries, &push_dir(&digest, &dir)).await;
    assert!(
        matches!(refused, Err(WorkflowError::Usage(ref message)) if message.contains("give a tag")),
        "{:?}",
        refused.err()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_credential_is_checked_before_it_is_kept() {
    let registry = TestRegistry::start_with(|settings| settings.auth = Some(true)).await;
    let location = RegistryLocation::parse(&OneRegistry::of(&registry).host).unwrap();
    let basic = |password: &str| Credential::Basic {
        username: sentinel_registry::BOOTSTRAP_ADMIN.to_string(),
        password: password.to_string(),
    };
    let refused = sentinel_workflows::check_credential(&location, basic("wrong"), false).await;
    assert!(
        matches!(
            refused,
            Err(WorkflowError::CredentialsRefused(
                ClientError::AuthenticationFailed { .. }
            ))
        ),
        "{:?}",
        refused.err()
    );
    let kept = sentinel_workflows::check_credential(&location, basic(ADMIN_PASSWORD), false)
        .await
        .unwrap();
    match kept {
        Credential::Basic { username, .. } | Credential::IdentityToken { username, .. } => {
            assert_eq!(username, sentinel_registry::BOOTSTRAP_ADMIN)
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn versions_and_requirements_follow_the_tag_lists_pages() {
    let registry = TestRegistry::start().await;
    let registries = OneRegistry::of(&registry);
    let author = Workspace::new();
    let tags = [
        ("1.0.0", "1.0.0"),
        ("1.1.0", "1.1.0"),
        ("v1.2.0", "1.2.0"),
        ("2.0.0-alpha.1", "2.0.0-alpha.1"),
        ("0.9.0", "0.9.0"),
        ("latest", "1.2.0"),
        ("edge", "2.0.0-alpha.1"),
    ];
    for (tag, version) in tags {
        let dir = author.write_agent("pager", version);
        author
            .push(&registries, &push_dir(&format!("team/pager:{tag}"), &dir))
            .await
            .unwrap();
    }
    // Two tags a page: seven tags take four pages.
    let paged = OneRegistry {
        page_size: Some(2),
        ..OneRegistry::of(&registry)
    };
    let listing = sentinel_workflows::versions(&[&paged], "team/pager", true)
        .await
        .unwrap();
    let listed: Vec<&str> = listing.rows.iter().map(|row| row.tag.as_str()).collect();
    assert_eq!(
        listed,
        [
            "2.0.0-alpha.1",
            "v1.2.0",
            "1.1.0",
            "1.0.0",
            "0.9.0",
            "edge",
            "latest"
        ]
    );
    let latest: Vec<&str> = listing
        .rows
        .iter()
        .filter(|row| row.latest)
        .map(|row| row.tag.as_str())
        .collect();
    assert_eq!(latest, ["v1.2.0"]);

    let resolved = sentinel_workflows::resolve(&[&paged], "team/pager:^1")
        .await
        .unwrap();
    let resolution = resolved.resolution().expect("a requirement was resolved");
    assert_eq!(resolution.version.to_string(), "1.2.0");
    assert_eq!(resolution.requirement.to_string(), "^1");
    assert_eq!(resolved.reference().tag(), Some("v1.2.0"));
    let reader = Workspace::new();
    let pulled = resolved
        .pull(&reader.store, Extract::No, None, &NoProgress)
        .await
        .unwrap();
    assert_eq!(pulled.definition.version().to_string(), "1.2.0");

    let missing = sentinel_workflows::resolve(&[&paged], "team/pager:^3")
        .await
        .err()
        .unwrap();
    assert!(matches!(missing, WorkflowError::NotFound(_)), "{missing}");
    let malformed = sentinel_workflows::resolve(&[&paged], "team/pager:^^1")
        .await
        .err()
        .unwrap();
    assert!(matches!(malformed, WorkflowError::Usage(_)), "{malformed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tag_pushed_to_while_its_deletion_waits_is_left_alone() {
    let registry = TestRegistry::start().await;
    let registries = OneRegistry::of(&registry);
    let author = Workspace::new();
    let first = author.write_agent("hello", "0.1.0");
    let pushed = author
        .push(&registries, &push_dir("me/hello:stable", &first))
        .await
        .unwrap();
    let shown = sentinel_workflows::Deletion::plan(&registries, "me/hello:stable")
        .await
        .unwrap();
    assert_eq!(shown.digest, pushed[0].1.digest);
    // Someone pushes to the tag while the deletion is being confirmed.
    let second = author.write_agent("hello", "0.2.0");
    let moved = author
        .push(&registries, &push_dir("me/hello:stable", &second))
        .await
        .unwrap();
    assert_ne!(moved[0].1.digest, pushed[0].1.digest);
    match shown.apply().await {
        Err(WorkflowError::Changed(message)) => {
            assert!(message.contains("nothing was deleted"), "{message}")
        }
        other => panic!("the moved tag was not left alone: {other:?}"),
    }
    // Looked up again, it goes.
    let again = sentinel_workflows::Deletion::plan(&registries, "me/hello:stable")
        .await
        .unwrap();
    assert_eq!(again.digest, moved[0].1.digest);
    let report = again.apply().await.unwrap();
    assert_eq!(report.deleted, sentinel_workflows::Deleted::Tag);
    let gone = sentinel_workflows::Deletion::plan(&registries, "me/hello:stable").await;
    assert!(
        matches!(gone, Err(WorkflowError::NotFound(_))),
        "the tag is still there"
    );
}
