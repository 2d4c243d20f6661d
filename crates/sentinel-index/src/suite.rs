//! The behaviour every [`MetadataIndex`] implementation must have.
//!
//! An implementation's tests call [`run`] with a factory that makes a fresh,
//! empty index (and a guard that keeps its backing resources alive); each
//! check runs on its own index and panics with its name on failure.

mod collection;
mod outbox;
mod usage;

use std::future::Future;

use sentinel_oci::{Descriptor, Digest, RepositoryName, Tag};

use crate::{IndexError, ListedUpload, MetadataIndex, NewManifest, PageRequest, UploadSession};

fn repo(name: &str) -> RepositoryName {
    name.parse().expect("a valid repository name")
}

fn tag(name: &str) -> Tag {
    name.parse().expect("a valid tag")
}

fn manifest(body: &str, blobs: &[&Digest], manifests: &[&Digest]) -> NewManifest {
    NewManifest {
        digest: Digest::sha256(body.as_bytes()),
        media_type: sentinel_oci::media_types::OCI_MANIFEST.to_owned(),
        body: body.as_bytes().to_vec(),
        blobs: blobs.iter().map(|d| (*d).clone()).collect(),
        manifests: manifests.iter().map(|d| (*d).clone()).collect(),
        subject: None,
        events: Vec::new(),
    }
}

fn all(limit: usize) -> PageRequest {
    PageRequest { last: None, limit }
}

/// Runs every check, each on a fresh index from `factory`.
pub async fn run<I, G, F, Fut>(factory: F)
where
    I: MetadataIndex,
    F: Fn() -> Fut,
    Fut: Future<Output = (I, G)>,
{
    macro_rules! check {
        ($name:path) => {{
            let (index, _guard) = factory().await;
            $name(&index).await;
        }};
    }
    check!(blobs_are_linked_per_repository);
    check!(unlinking_a_blob_leaves_other_repositories_alone);
    check!(manifests_keep_their_exact_bytes_and_media_type);
    check!(manifests_require_their_references);
    check!(tags_move_and_delete);
    check!(a_manifest_knows_its_tags);
    check!(deleting_a_manifest_removes_its_tags_and_referrer_entry);
    check!(tags_page_in_lexical_order);
    check!(unknown_repository_has_no_tag_list);
    check!(referrers_are_listed_per_subject);
    check!(repositories_page_in_lexical_order);
    check!(uploads_round_trip);
    check!(repository_contents_are_enumerated);
    check!(collection::gc_keeps_tagged_and_young_manifests);
    check!(collection::gc_keeps_children_of_kept_indexes);
    check!(collection::gc_keeps_referrers_and_subjects_together);
    check!(collection::gc_checks_its_snapshot_again);
    check!(collection::gc_dry_run_changes_nothing);
    check!(collection::gc_preview_counts_manifests_as_if_deleted);
    check!(collection::gc_deleted_manifests_release_their_blobs);
    check!(collection::gc_touch_refreshes_only_stale_times);
    check!(collection::gc_reservations_and_deletions_exclude_each_other);
    check!(collection::gc_linking_an_orphan_adopts_it);
    check!(collection::gc_stale_reservations_orphan_their_digest);
    check!(collection::gc_mounts_only_held_blobs);
    check!(outbox::events_commit_with_their_cause);
    check!(outbox::events_fan_out_to_due_deliveries);
    check!(outbox::attempts_reschedule_or_finish_deliveries);
    check!(outbox::history_keeps_the_last_results_newest_first);
    check!(outbox::forgetting_a_webhook_leaves_others_alone);
    check!(usage::usage_counts_a_blob_once_per_namespace);
    check!(usage::unlinking_frees_usage_with_the_last_link);
    check!(usage::links_over_the_limit_are_refused);
    check!(usage::a_refused_upload_link_keeps_its_session);
}

async fn repository_contents_are_enumerated(index: &dyn MetadataIndex) {
    let (a, b) = (Digest::sha256(b"a"), Digest::sha256(b"b"));
    index.link_blob(&repo("r"), &a, 1, None).await.unwrap();
    index.link_blob(&repo("r"), &b, 2, None).await.unwrap();
    index.link_blob(&repo("r0"), &a, 1, None).await.unwrap();
    let mut expected = vec![(a.clone(), 1), (b.clone(), 2)];
    expected.sort();
    assert_eq!(index.repository_blobs(&repo("r")).await.unwrap(), expected);
    let m = manifest("{\"m\":1}", &[&a], &[]);
    index
        .put_manifest(&repo("r"), m.clone(), None)
        .await
        .unwrap();
    assert_eq!(
        index.repository_manifests(&repo("r")).await.unwrap(),
        vec![m.digest]
    );
    assert!(
        index
            .repository_manifests(&repo("r0"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        index
            .repository_blobs(&repo("none"))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn blobs_are_linked_per_repository(index: &dyn MetadataIndex) {
    let d = Digest::sha256(b"layer");
    assert_eq!(index.blob(&d).await.unwrap(), None);
    index.link_blob(&repo("a"), &d, 5, None).await.unwrap();
    assert_eq!(index.blob(&d).await.unwrap(), Some(5));
    assert_eq!(
        index.repository_blob(&repo("a"), &d).await.unwrap(),
        Some(5)
    );
    assert_eq!(index.repository_blob(&repo("b"), &d).await.unwrap(), None);
    // Linking twice is harmless.
    index.link_blob(&repo("a"), &d, 5, None).await.unwrap();
    assert_eq!(
        index.repository_blob(&repo("a"), &d).await.unwrap(),
        Some(5)
    );
}

async fn unlinking_a_blob_leaves_other_repositories_alone(index: &dyn MetadataIndex) {
    let d = Digest::sha256(b"shared");
    index.link_blob(&repo("a"), &d, 6, None).await.unwrap();
    index.link_blob(&repo("b"), &d, 6, None).await.unwrap();
    assert!(index.unlink_blob(&repo("a"), &d).await.unwrap());
    assert!(!index.unlink_blob(&repo("a"), &d).await.unwrap());
    assert_eq!(index.repository_blob(&repo("a"), &d).await.unwrap(), None);
    assert_eq!(
        index.repository_blob(&repo("b"), &d).await.unwrap(),
        Some(6)
    );
}

async fn manifests_keep_their_exact_bytes_and_media_type(index: &dyn MetadataIndex) {
    let config = Digest::sha256(b"config");
    index.link_blob(&repo("a"), &config, 6, None).await.unwrap();
    let mut m = manifest(" {\"odd\":  \"spacing\"}\n", &[&config], &[]);
    m.media_type = sentinel_oci::media_types::DOCKER_MANIFEST.to_owned();
    let digest = m.digest.clone();
    index
        .put_manifest(&repo("a"), m.clone(), Some(&tag("v1")))
        .await
        .unwrap();
    let by_digest = index.manifest(&repo("a"), &digest).await.unwrap().unwrap();
    assert_eq!(by_digest.body, m.body);
    assert_eq!(by_digest.media_type, m.media_type);
    let by_tag = index
        .tagged_manifest(&repo("a"), &tag("v1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_tag, by_digest);
    assert_eq!(index.manifest(&repo("b"), &digest).await.unwrap(), None);
    assert_eq!(
        index.tagged_manifest(&repo("a"), &tag("v2")).await.unwrap(),
        None
    );
}

async fn manifests_require_their_references(index: &dyn MetadataIndex) {
    let missing = Digest::sha256(b"missing");
    let result = index
        .put_manifest(
            &repo("a"),
            manifest("{}", &[&missing], &[]),
            Some(&tag("t")),
        )
        .await;
    assert!(matches!(result, Err(IndexError::MissingReference(d)) if d == missing));
    assert_eq!(
        index.tagged_manifest(&repo("a"), &tag("t")).await.unwrap(),
        None
    );

    // A blob held by another repository does not count.
    index
        .link_blob(&repo("other"), &missing, 1, None)
        .await
        .unwrap();
    let result = index
        .put_manifest(&repo("a"), manifest("{}", &[&missing], &[]), None)
        .await;
    assert!(matches!(result, Err(IndexError::MissingReference(_))));

    // An index needs its child manifests in the same repository.
    let child = manifest("{\"child\":1}", &[], &[]);
    let child_digest = child.digest.clone();
    let parent = manifest("{\"parent\":1}", &[], &[&child_digest]);
    assert!(matches!(
        index.put_manifest(&repo("a"), parent.clone(), None).await,
        Err(IndexError::MissingReference(_))
    ));
    index.put_manifest(&repo("a"), child, None).await.unwrap();
    index.put_manifest(&repo("a"), parent, None).await.unwrap();
}

async fn a_manifest_knows_its_tags(index: &dyn MetadataIndex) {
    let first = manifest("{\"n\":1}", &[], &[]);
    let second = manifest("{\"n\":2}", &[], &[]);
    for (m, t) in [(&first, "v2"), (&first, "v1"), (&second, "other")] {
        index
            .put_manifest(&repo("a"), m.clone(), Some(&tag(t)))
            .await
            .unwrap();
    }
    let tags = |digest: Digest| async move {
        index
            .manifest_tags(&repo("a"), &digest)
            .await
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(tags(first.digest.clone()).await, ["v1", "v2"]);
    index
        .put_manifest(&repo("a"), second.clone(), Some(&tag("v1")))
        .await
        .unwrap();
    assert_eq!(tags(first.digest.clone()).await, ["v2"]);
    assert_eq!(tags(second.digest.clone()).await, ["other", "v1"]);
    index
        .delete_tag(&repo("a"), &tag("v2"), Vec::new())
        .await
        .unwrap();
    assert!(tags(first.digest.clone()).await.is_empty());
    assert!(
        index
            .manifest_tags(&repo("b"), &first.digest)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn tags_move_and_delete(index: &dyn MetadataIndex) {
    let first = manifest("{\"n\":1}", &[], &[]);
    let second = manifest("{\"n\":2}", &[], &[]);
    index
        .put_manifest(&repo("a"), first.clone(), Some(&tag("latest")))
        .await
        .unwrap();
    index
        .put_manifest(&repo("a"), second.clone(), Some(&tag("latest")))
        .await
        .unwrap();
    let current = index
        .tagged_manifest(&repo("a"), &tag("latest"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.digest, second.digest);
    // Deleting the manifest the tag used to point at must not remove the moved tag.
    assert!(
        index
            .delete_manifest(&repo("a"), &first.digest, Vec::new())
            .await
            .unwrap()
    );
    assert!(
        index
            .tagged_manifest(&repo("a"), &tag("latest"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        index
            .delete_tag(&repo("a"), &tag("latest"), Vec::new())
            .await
            .unwrap()
    );
    assert!(
        !index
            .delete_tag(&repo("a"), &tag("latest"), Vec::new())
            .await
            .unwrap()
    );
    assert!(
        index
            .manifest(&repo("a"), &second.digest)
            .await
            .unwrap()
            .is_some()
    );
}

async fn deleting_a_manifest_removes_its_tags_and_referrer_entry(index: &dyn MetadataIndex) {
    let subject = Digest::sha256(b"not pushed yet");
    let mut referrer = manifest("{\"sig\":1}", &[], &[]);
    let descriptor = Descriptor {
        media_type: referrer.media_type.clone(),
        digest: referrer.digest.clone(),
        size: referrer.body.len() as u64,
        artifact_type: Some("application/x-sentinel-signature".into()),
        annotations: Default::default(),
    };
    referrer.subject = Some((subject.clone(), descriptor.clone()));
    let digest = referrer.digest.clone();
    index
        .put_manifest(&repo("a"), referrer.clone(), Some(&tag("sig")))
        .await
        .unwrap();
    index
        .put_manifest(&repo("a"), referrer, Some(&tag("sig2")))
        .await
        .unwrap();
    assert_eq!(
        index.referrers(&repo("a"), &subject).await.unwrap(),
        vec![descriptor]
    );
    assert!(
        index
            .delete_manifest(&repo("a"), &digest, Vec::new())
            .await
            .unwrap()
    );
    assert!(
        !index
            .delete_manifest(&repo("a"), &digest, Vec::new())
            .await
            .unwrap()
    );
    assert!(
        index
            .referrers(&repo("a"), &subject)
            .await
            .unwrap()
            .is_empty()
    );
    let tags = index.tags(&repo("a"), &all(100)).await.unwrap().unwrap();
    assert!(tags.items.is_empty(), "{tags:?}");
}

async fn tags_page_in_lexical_order(index: &dyn MetadataIndex) {
    let m = manifest("{}", &[], &[]);
    for t in ["b", "a", "c", "B", "a1"] {
        index
            .put_manifest(&repo("r"), m.clone(), Some(&tag(t)))
            .await
            .unwrap();
    }
    // A tag of another repository whose name extends this one must not leak in.
    index
        .put_manifest(&repo("r0"), m.clone(), Some(&tag("zz")))
        .await
        .unwrap();
    let everything = index.tags(&repo("r"), &all(100)).await.unwrap().unwrap();
    assert_eq!(everything.items, ["B", "a", "a1", "b", "c"]);
    assert!(!everything.more);
    let first = index.tags(&repo("r"), &all(2)).await.unwrap().unwrap();
    assert_eq!(first.items, ["B", "a"]);
    assert!(first.more);
    let next = PageRequest {
        last: Some("a".into()),
        limit: 2,
    };
    let second = index.tags(&repo("r"), &next).await.unwrap().unwrap();
    assert_eq!(second.items, ["a1", "b"]);
    assert!(second.more);
    let last = PageRequest {
        last: Some("b".into()),
        limit: 2,
    };
    let third = index.tags(&repo("r"), &last).await.unwrap().unwrap();
    assert_eq!(third.items, ["c"]);
    assert!(!third.more);
    let none = index.tags(&repo("r"), &all(0)).await.unwrap().unwrap();
    assert!(none.items.is_empty());
}

async fn unknown_repository_has_no_tag_list(index: &dyn MetadataIndex) {
    assert_eq!(index.tags(&repo("nobody"), &all(10)).await.unwrap(), None);
    index
        .link_blob(&repo("blobs-only"), &Digest::sha256(b"x"), 1, None)
        .await
        .unwrap();
    let page = index
        .tags(&repo("blobs-only"), &all(10))
        .await
        .unwrap()
        .unwrap();
    assert!(page.items.is_empty());
}

async fn referrers_are_listed_per_subject(index: &dyn MetadataIndex) {
    let subject = Digest::sha256(b"subject");
    for (n, artifact_type) in [(1, "application/a"), (2, "application/b")] {
        let mut m = manifest(&format!("{{\"r\":{n}}}"), &[], &[]);
        let descriptor = Descriptor {
            media_type: m.media_type.clone(),
            digest: m.digest.clone(),
            size: m.body.len() as u64,
            artifact_type: Some(artifact_type.into()),
            annotations: [("k".to_owned(), n.to_string())].into(),
        };
        m.subject = Some((subject.clone(), descriptor));
        index.put_manifest(&repo("a"), m, None).await.unwrap();
    }
    let listed = index.referrers(&repo("a"), &subject).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .any(|d| d.artifact_type.as_deref() == Some("application/b"))
    );
    assert!(
        index
            .referrers(&repo("b"), &subject)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        index
            .referrers(&repo("a"), &Digest::sha256(b"other"))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn repositories_page_in_lexical_order(index: &dyn MetadataIndex) {
    for name in ["b", "a/x", "a", "c/d/e"] {
        index
            .link_blob(&repo(name), &Digest::sha256(b"x"), 1, None)
            .await
            .unwrap();
    }
    let everything = index.repositories(&all(100)).await.unwrap();
    assert_eq!(everything.items, ["a", "a/x", "b", "c/d/e"]);
    let page = index
        .repositories(&PageRequest {
            last: Some("a/x".into()),
            limit: 1,
        })
        .await
        .unwrap();
    assert_eq!(page.items, ["b"]);
    assert!(page.more);
}

async fn uploads_round_trip(index: &dyn MetadataIndex) {
    assert_eq!(index.upload("u1").await.unwrap(), None);
    let mut session = UploadSession::new("u1".into(), &repo("a"), 1);
    index.put_upload(&session).await.unwrap();
    session.updated_at = 2;
    session.progress.offset = 3;
    session.progress.parts = vec![3];
    index.put_upload(&session).await.unwrap();
    assert_eq!(index.upload("u1").await.unwrap(), Some(session.clone()));
    assert_eq!(
        index.uploads().await.unwrap(),
        vec![ListedUpload {
            id: "u1".into(),
            session: Some(session)
        }]
    );
    assert!(index.delete_upload("u1").await.unwrap());
    assert!(!index.delete_upload("u1").await.unwrap());
    // Linking the uploaded blob ends the session in the same step.
    let d = Digest::sha256(b"uploaded");
    index
        .put_upload(&UploadSession::new("u2".into(), &repo("a"), 1))
        .await
        .unwrap();
    index
        .link_uploaded_blob(&repo("a"), &d, 8, "u2", None)
        .await
        .unwrap();
    assert_eq!(index.upload("u2").await.unwrap(), None);
    assert_eq!(
        index.repository_blob(&repo("a"), &d).await.unwrap(),
        Some(8)
    );
    assert_eq!(index.upload("u1").await.unwrap(), None);
    assert_eq!(index.uploads().await.unwrap(), vec![]);
}
