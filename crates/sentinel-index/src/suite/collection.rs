//! Garbage collection checks of the shared suite: what is kept (tagged,
//! young, children, subjects and referrers of kept manifests), the
//! re-check inside the collection, touches, and the reservations uploads
//! hold against a blob whose bytes are being deleted.

use sentinel_oci::{Descriptor, Digest};

use super::{manifest, repo, tag};
use crate::{Collected, GcCandidates, IndexError, MetadataIndex, NewManifest};

/// A grace period, in seconds, for these checks.
const GRACE: u64 = 100;

/// The clock the index stamps entries with.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// A time when everything stored by the check is older than [`GRACE`].
fn later() -> u64 {
    now() + 10 * GRACE
}

/// A referrer of `subject` with body `body`.
fn referrer(body: &str, subject: &Digest) -> NewManifest {
    let mut m = manifest(body, &[], &[]);
    let descriptor = Descriptor {
        media_type: m.media_type.clone(),
        digest: m.digest.clone(),
        size: m.body.len() as u64,
        artifact_type: Some("application/example".into()),
        annotations: Default::default(),
    };
    m.subject = Some((subject.clone(), descriptor));
    m
}

/// Snapshots and collects repository `r` at `at`.
async fn collect_at(index: &dyn MetadataIndex, at: u64) -> Collected {
    let candidates = index.gc_candidates(&repo("r"), at, GRACE).await.unwrap();
    index
        .collect(&repo("r"), &candidates, at, GRACE, false)
        .await
        .unwrap()
}

fn sorted(mut digests: Vec<Digest>) -> Vec<Digest> {
    digests.sort();
    digests
}

pub(super) async fn gc_keeps_tagged_and_young_manifests(index: &dyn MetadataIndex) {
    let (a, b) = (Digest::sha256(b"a"), Digest::sha256(b"b"));
    index.link_blob(&repo("r"), &a, 1, None).await.unwrap();
    index.link_blob(&repo("r"), &b, 2, None).await.unwrap();
    let kept = manifest("{\"kept\":1}", &[&a], &[]);
    let loose = manifest("{\"loose\":1}", &[&b], &[]);
    index
        .put_manifest(&repo("r"), kept.clone(), Some(&tag("v1")))
        .await
        .unwrap();
    index
        .put_manifest(&repo("r"), loose.clone(), None)
        .await
        .unwrap();
    // Young: nothing goes.
    assert_eq!(collect_at(index, now()).await, Collected::default());
    let collected = collect_at(index, later()).await;
    assert_eq!(collected.manifests, vec![loose.digest.clone()]);
    assert_eq!(collected.blob_links, vec![(b.clone(), 2)]);
    assert_eq!(collected.orphaned, vec![(b.clone(), 2)]);
    assert!(
        index
            .manifest(&repo("r"), &loose.digest)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        index
            .manifest(&repo("r"), &kept.digest)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        index.repository_blob(&repo("r"), &a).await.unwrap(),
        Some(1)
    );
    assert_eq!(index.repository_blob(&repo("r"), &b).await.unwrap(), None);
    assert_eq!(index.blob(&b).await.unwrap(), None);
    let orphans = index.orphaned_blobs().await.unwrap();
    assert_eq!(orphans.len(), 1);
    assert_eq!((orphans[0].digest.clone(), orphans[0].size), (b, 2));
    // A second run finds nothing more.
    assert_eq!(collect_at(index, later()).await, Collected::default());
}

pub(super) async fn gc_keeps_children_of_kept_indexes(index: &dyn MetadataIndex) {
    let layer = Digest::sha256(b"layer");
    index.link_blob(&repo("r"), &layer, 5, None).await.unwrap();
    let child = manifest("{\"child\":1}", &[&layer], &[]);
    let other_child = manifest("{\"child\":2}", &[&layer], &[]);
    index
        .put_manifest(&repo("r"), child.clone(), None)
        .await
        .unwrap();
    index
        .put_manifest(&repo("r"), other_child.clone(), None)
        .await
        .unwrap();
    let list = manifest("{\"index\":1}", &[], &[&child.digest]);
    let other_list = manifest("{\"index\":2}", &[], &[&child.digest, &other_child.digest]);
    index
        .put_manifest(&repo("r"), list.clone(), Some(&tag("latest")))
        .await
        .unwrap();
    index
        .put_manifest(&repo("r"), other_list.clone(), None)
        .await
        .unwrap();
    // The untagged index goes with the child only it lists; the child the
    // tagged index lists stays, and so does the layer both children use.
    let collected = collect_at(index, later()).await;
    assert_eq!(
        sorted(collected.manifests),
        sorted(vec![other_list.digest.clone(), other_child.digest.clone()])
    );
    assert!(collected.blob_links.is_empty());
    assert!(
        index
            .manifest(&repo("r"), &child.digest)
            .await
            .unwrap()
            .is_some()
    );
    // Untagged, the index goes with its child and the layer.
    assert!(
        index
            .delete_tag(&repo("r"), &tag("latest"), Vec::new())
            .await
            .unwrap()
    );
    let collected = collect_at(index, later()).await;
    assert_eq!(
        sorted(collected.manifests),
        sorted(vec![list.digest, child.digest])
    );
    assert_eq!(collected.blob_links, vec![(layer, 5)]);
}

pub(super) async fn gc_keeps_referrers_and_subjects_together(index: &dyn MetadataIndex) {
    let subject = manifest("{\"subject\":1}", &[], &[]);
    let signature = referrer("{\"signature\":1}", &subject.digest);
    index
        .put_manifest(&repo("r"), subject.clone(), Some(&tag("v1")))
        .await
        .unwrap();
    index
        .put_manifest(&repo("r"), signature.clone(), None)
        .await
        .unwrap();
    // A tagged subject keeps its referrer.
    assert_eq!(collect_at(index, later()).await, Collected::default());
    // A tagged referrer keeps its subject.
    assert!(
        index
            .delete_tag(&repo("r"), &tag("v1"), Vec::new())
            .await
            .unwrap()
    );
    index
        .put_manifest(&repo("r"), signature.clone(), Some(&tag("sig")))
        .await
        .unwrap();
    assert_eq!(collect_at(index, later()).await, Collected::default());
    // Neither tagged: both go, and the referrer's entry with them.
    assert!(
        index
            .delete_tag(&repo("r"), &tag("sig"), Vec::new())
            .await
            .unwrap()
    );
    let collected = collect_at(index, later()).await;
    assert_eq!(
        sorted(collected.manifests),
        sorted(vec![subject.digest.clone(), signature.digest])
    );
    assert!(
        index
            .referrers(&repo("r"), &subject.digest)
            .await
            .unwrap()
            .is_empty()
    );
}

pub(super) async fn gc_checks_its_snapshot_again(index: &dyn MetadataIndex) {
    let (a, b) = (Digest::sha256(b"a"), Digest::sha256(b"b"));
    index.link_blob(&repo("r"), &a, 1, None).await.unwrap();
    let child = manifest("{\"child\":1}", &[&a], &[]);
    let tagged_later = manifest("{\"tagged\":1}", &[], &[]);
    index
        .put_manifest(&repo("r"), child.clone(), None)
        .await
        .unwrap();
    index
        .put_manifest(&repo("r"), tagged_later.clone(), None)
        .await
        .unwrap();
    let snapshot = index
        .gc_candidates(&repo("r"), later(), GRACE)
        .await
        .unwrap();
    assert_eq!(
        sorted(snapshot.manifests.clone()),
        sorted(vec![child.digest.clone(), tagged_later.digest.clone()])
    );
    assert_eq!(snapshot.blobs, vec![a.clone()]);
    // Since the snapshot: one manifest was tagged, an index now lists the
    // other, and a blob link the snapshot never saw appeared.
    index
        .put_manifest(&repo("r"), tagged_later.clone(), Some(&tag("t")))
        .await
        .unwrap();
    let list = manifest("{\"index\":1}", &[], &[&child.digest]);
    index
        .put_manifest(&repo("r"), list.clone(), None)
        .await
        .unwrap();
    index.link_blob(&repo("r"), &b, 2, None).await.unwrap();
    let snapshot = GcCandidates {
        blobs: vec![a.clone(), b.clone()],
        ..snapshot
    };
    // At a time when the new index is still young, nothing goes.
    let at = super::collection::now();
    let collected = index
        .collect(&repo("r"), &snapshot, at, GRACE, false)
        .await
        .unwrap();
    assert_eq!(collected, Collected::default());
    assert_eq!(
        index.repository_blob(&repo("r"), &b).await.unwrap(),
        Some(2)
    );
    // Later, a candidate set that misses the index keeps the child too.
    let collected = index
        .collect(&repo("r"), &snapshot, later(), GRACE, false)
        .await
        .unwrap();
    assert!(collected.manifests.is_empty());
    assert_eq!(collected.blob_links, vec![(b, 2)]);
    assert!(
        index
            .manifest(&repo("r"), &child.digest)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        index.repository_blob(&repo("r"), &a).await.unwrap(),
        Some(1)
    );
}

pub(super) async fn gc_dry_run_changes_nothing(index: &dyn MetadataIndex) {
    let a = Digest::sha256(b"a");
    index.link_blob(&repo("r"), &a, 1, None).await.unwrap();
    let loose = manifest("{\"loose\":1}", &[&a], &[]);
    index
        .put_manifest(&repo("r"), loose.clone(), None)
        .await
        .unwrap();
    let at = later();
    let candidates = index.gc_candidates(&repo("r"), at, GRACE).await.unwrap();
    let dry = index
        .collect(&repo("r"), &candidates, at, GRACE, true)
        .await
        .unwrap();
    assert_eq!(dry.manifests, vec![loose.digest.clone()]);
    assert_eq!(dry.orphaned, vec![(a.clone(), 1)]);
    assert!(
        index
            .manifest(&repo("r"), &loose.digest)
            .await
            .unwrap()
            .is_some()
    );
    assert!(index.orphaned_blobs().await.unwrap().is_empty());
    assert_eq!(collect_at(index, at).await, dry);
}

pub(super) async fn gc_preview_counts_manifests_as_if_deleted(index: &dyn MetadataIndex) {
    let (a, b) = (Digest::sha256(b"a"), Digest::sha256(b"b"));
    index.link_blob(&repo("r"), &a, 1, None).await.unwrap();
    index.link_blob(&repo("r"), &b, 2, None).await.unwrap();
    let retired = manifest("{\"retired\":1}", &[&a, &b], &[]);
    let kept = manifest("{\"kept\":1}", &[&b], &[]);
    index
        .put_manifest(&repo("r"), retired.clone(), Some(&tag("1.0.0")))
        .await
        .unwrap();
    index
        .put_manifest(&repo("r"), kept.clone(), Some(&tag("2.0.0")))
        .await
        .unwrap();
    let at = later();
    let plain = index
        .preview_collect(&repo("r"), &[], at, GRACE)
        .await
        .unwrap();
    assert_eq!(plain, Collected::default());
    let preview = index
        .preview_collect(&repo("r"), std::slice::from_ref(&retired.digest), at, GRACE)
        .await
        .unwrap();
    // The retired manifest goes, and with it the blob only it references.
    assert!(preview.manifests.is_empty());
    assert_eq!(preview.blob_links, vec![(a.clone(), 1)]);
    assert_eq!(preview.orphaned, vec![(a.clone(), 1)]);
    assert!(
        index
            .manifest(&repo("r"), &retired.digest)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        index.repository_blob(&repo("r"), &a).await.unwrap(),
        Some(1)
    );
}

pub(super) async fn gc_deleted_manifests_release_their_blobs(index: &dyn MetadataIndex) {
    let a = Digest::sha256(b"a");
    index.link_blob(&repo("r"), &a, 1, None).await.unwrap();
    let m = manifest("{\"m\":1}", &[&a], &[]);
    index
        .put_manifest(&repo("r"), m.clone(), Some(&tag("t")))
        .await
        .unwrap();
    assert_eq!(collect_at(index, later()).await, Collected::default());
    assert!(
        index
            .delete_manifest(&repo("r"), &m.digest, Vec::new())
            .await
            .unwrap()
    );
    assert_eq!(collect_at(index, later()).await.blob_links, vec![(a, 1)]);
}

pub(super) async fn gc_touch_refreshes_only_stale_times(index: &dyn MetadataIndex) {
    let a = Digest::sha256(b"a");
    index.link_blob(&repo("r"), &a, 1, None).await.unwrap();
    let m = manifest("{\"m\":1}", &[], &[]);
    index
        .put_manifest(&repo("r"), m.clone(), None)
        .await
        .unwrap();
    let at = later();
    // A touch that finds the time recent enough writes nothing.
    index.touch_blob(&repo("r"), &a, at, at).await.unwrap();
    index
        .touch_manifest(&repo("r"), &m.digest, at, at)
        .await
        .unwrap();
    let candidates = index.gc_candidates(&repo("r"), at, GRACE).await.unwrap();
    assert_eq!(candidates.blobs, vec![a.clone()]);
    assert_eq!(candidates.manifests, vec![m.digest.clone()]);
    // A touch of a stale time makes the entry young.
    index
        .touch_blob(&repo("r"), &a, at, GRACE / 2)
        .await
        .unwrap();
    index
        .touch_manifest(&repo("r"), &m.digest, at, GRACE / 2)
        .await
        .unwrap();
    assert_eq!(collect_at(index, at).await, Collected::default());
    // Touching what the repository does not hold creates nothing.
    index
        .touch_blob(&repo("other"), &a, at, GRACE / 2)
        .await
        .unwrap();
    assert_eq!(
        index.repository_blob(&repo("other"), &a).await.unwrap(),
        None
    );
}

pub(super) async fn gc_reservations_and_deletions_exclude_each_other(index: &dyn MetadataIndex) {
    let d = Digest::sha256(b"blob");
    index.link_blob(&repo("r"), &d, 4, None).await.unwrap();
    assert!(index.unlink_blob(&repo("r"), &d).await.unwrap());
    assert_eq!(index.orphaned_blobs().await.unwrap()[0].digest, d);
    // A reserved orphan is not deleted.
    assert!(index.reserve_blob(&d, "u1", now()).await.unwrap());
    assert_eq!(
        index
            .begin_blob_deletions(std::slice::from_ref(&d))
            .await
            .unwrap(),
        vec![]
    );
    index.release_blob(&d, "u1").await.unwrap();
    assert_eq!(
        index
            .begin_blob_deletions(std::slice::from_ref(&d))
            .await
            .unwrap(),
        vec![(d.clone(), 4)]
    );
    assert_eq!(index.deleting_blobs().await.unwrap(), vec![(d.clone(), 4)]);
    // While its bytes are being deleted, it cannot be reserved, linked or mounted.
    assert!(!index.reserve_blob(&d, "u2", now()).await.unwrap());
    assert!(matches!(
        index.link_blob(&repo("r"), &d, 4, None).await,
        Err(IndexError::BlobDeleting(_))
    ));
    assert_eq!(
        index.mount_blob(&repo("s"), &d, None, None).await.unwrap(),
        None
    );
    index
        .finish_blob_deletions(std::slice::from_ref(&d))
        .await
        .unwrap();
    assert!(index.deleting_blobs().await.unwrap().is_empty());
    assert!(index.orphaned_blobs().await.unwrap().is_empty());
    // Uploaded afresh: reserved, then linked, which drops the reservation.
    assert!(index.reserve_blob(&d, "u3", now()).await.unwrap());
    index
        .link_uploaded_blob(&repo("r"), &d, 4, "u3", None)
        .await
        .unwrap();
    assert_eq!(index.expire_reservations(later()).await.unwrap(), 0);
    assert_eq!(
        index
            .begin_blob_deletions(std::slice::from_ref(&d))
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(index.blob(&d).await.unwrap(), Some(4));
}

pub(super) async fn gc_linking_an_orphan_adopts_it(index: &dyn MetadataIndex) {
    let d = Digest::sha256(b"blob");
    index.link_blob(&repo("r"), &d, 4, None).await.unwrap();
    assert!(index.unlink_blob(&repo("r"), &d).await.unwrap());
    assert!(index.reserve_blob(&d, "u", now()).await.unwrap());
    index
        .link_uploaded_blob(&repo("r"), &d, 4, "u", None)
        .await
        .unwrap();
    assert!(index.orphaned_blobs().await.unwrap().is_empty());
    assert_eq!(
        index
            .begin_blob_deletions(std::slice::from_ref(&d))
            .await
            .unwrap(),
        vec![]
    );
}

pub(super) async fn gc_stale_reservations_orphan_their_digest(index: &dyn MetadataIndex) {
    let (lone, held) = (Digest::sha256(b"lone"), Digest::sha256(b"held"));
    index.link_blob(&repo("r"), &held, 3, None).await.unwrap();
    assert!(index.reserve_blob(&lone, "u1", 100).await.unwrap());
    assert!(index.reserve_blob(&held, "u2", 100).await.unwrap());
    assert!(index.reserve_blob(&lone, "u3", 300).await.unwrap());
    assert_eq!(index.expire_reservations(200).await.unwrap(), 2);
    // Another reservation still covers `lone`; `held` is linked.
    assert!(index.orphaned_blobs().await.unwrap().is_empty());
    assert_eq!(index.expire_reservations(400).await.unwrap(), 1);
    let orphans = index.orphaned_blobs().await.unwrap();
    assert_eq!(orphans.len(), 1);
    assert_eq!((orphans[0].digest.clone(), orphans[0].size), (lone, 0));
}

pub(super) async fn gc_mounts_only_held_blobs(index: &dyn MetadataIndex) {
    let d = Digest::sha256(b"blob");
    assert_eq!(
        index.mount_blob(&repo("b"), &d, None, None).await.unwrap(),
        None
    );
    index.link_blob(&repo("a"), &d, 7, None).await.unwrap();
    assert_eq!(
        index
            .mount_blob(&repo("b"), &d, Some(&repo("c")), None)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        index
            .mount_blob(&repo("b"), &d, Some(&repo("a")), None)
            .await
            .unwrap(),
        Some(7)
    );
    assert_eq!(
        index.mount_blob(&repo("c"), &d, None, None).await.unwrap(),
        Some(7)
    );
    assert_eq!(
        index.repository_blob(&repo("c"), &d).await.unwrap(),
        Some(7)
    );
}
