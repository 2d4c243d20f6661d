//! Namespace usage and quotas: what each namespace stores, counted once per
//! blob, and links refused over a limit.

use sentinel_oci::Digest;

use super::repo;
use crate::{IndexError, MetadataIndex, UploadSession};

/// A blob linked in two repositories of one namespace counts once; in two
/// namespaces, once in each.
pub(super) async fn usage_counts_a_blob_once_per_namespace(index: &dyn MetadataIndex) {
    let (a, b) = (Digest::sha256(b"a"), Digest::sha256(b"b"));
    assert_eq!(index.namespace_usage("acme").await.unwrap(), 0);
    index
        .link_blob(&repo("acme/one"), &a, 10, None)
        .await
        .unwrap();
    index
        .link_blob(&repo("acme/two"), &a, 10, None)
        .await
        .unwrap();
    index
        .link_blob(&repo("acme/team/three"), &b, 5, None)
        .await
        .unwrap();
    index
        .link_blob(&repo("other/one"), &a, 10, None)
        .await
        .unwrap();
    index.link_blob(&repo("solo"), &b, 5, None).await.unwrap();
    // Linking again changes nothing.
    index
        .link_blob(&repo("acme/one"), &a, 10, None)
        .await
        .unwrap();
    assert_eq!(index.namespace_usage("acme").await.unwrap(), 15);
    assert_eq!(index.namespace_usage("other").await.unwrap(), 10);
    assert_eq!(index.namespace_usage("solo").await.unwrap(), 5);
    assert_eq!(
        index.namespace_usages().await.unwrap(),
        vec![
            ("acme".to_owned(), 15),
            ("other".to_owned(), 10),
            ("solo".to_owned(), 5)
        ]
    );
}

/// Unlinking frees a blob's bytes only when no repository of the namespace
/// holds it any more; a namespace holding nothing is not listed.
pub(super) async fn unlinking_frees_usage_with_the_last_link(index: &dyn MetadataIndex) {
    let a = Digest::sha256(b"a");
    index
        .link_blob(&repo("acme/one"), &a, 10, None)
        .await
        .unwrap();
    index
        .link_blob(&repo("acme/two"), &a, 10, None)
        .await
        .unwrap();
    index
        .link_blob(&repo("other/one"), &a, 10, None)
        .await
        .unwrap();
    assert!(index.unlink_blob(&repo("acme/one"), &a).await.unwrap());
    assert_eq!(index.namespace_usage("acme").await.unwrap(), 10);
    assert!(index.unlink_blob(&repo("acme/two"), &a).await.unwrap());
    assert_eq!(index.namespace_usage("acme").await.unwrap(), 0);
    assert!(!index.unlink_blob(&repo("acme/two"), &a).await.unwrap());
    assert_eq!(index.namespace_usage("other").await.unwrap(), 10);
    assert_eq!(
        index.namespace_usages().await.unwrap(),
        vec![("other".to_owned(), 10)]
    );
}

/// A link over the limit is refused with the figures and changes nothing;
/// one up to the limit, or of a blob the namespace holds, goes through.
pub(super) async fn links_over_the_limit_are_refused(index: &dyn MetadataIndex) {
    let (a, b, c) = (
        Digest::sha256(b"a"),
        Digest::sha256(b"b"),
        Digest::sha256(b"c"),
    );
    index
        .link_blob(&repo("acme/one"), &a, 60, Some(100))
        .await
        .unwrap();
    match index.link_blob(&repo("acme/two"), &b, 41, Some(100)).await {
        Err(IndexError::QuotaExceeded {
            namespace,
            quota,
            usage,
            size,
        }) => assert_eq!(
            (namespace.as_str(), quota, usage, size),
            ("acme", 100, 60, 41)
        ),
        other => panic!("expected QuotaExceeded, got {other:?}"),
    }
    assert_eq!(
        index.repository_blob(&repo("acme/two"), &b).await.unwrap(),
        None
    );
    assert_eq!(index.blob(&b).await.unwrap(), None);
    assert_eq!(index.namespace_usage("acme").await.unwrap(), 60);
    // The blob the namespace holds costs nothing, even at the limit.
    index
        .link_blob(&repo("acme/two"), &a, 60, Some(60))
        .await
        .unwrap();
    // Up to the limit exactly is allowed; another namespace is not charged.
    index
        .link_blob(&repo("acme/two"), &b, 40, Some(100))
        .await
        .unwrap();
    index
        .link_blob(&repo("other/x"), &c, 100, Some(100))
        .await
        .unwrap();
    assert_eq!(index.namespace_usage("acme").await.unwrap(), 100);
    assert!(matches!(
        index.link_blob(&repo("acme/one"), &c, 1, Some(100)).await,
        Err(IndexError::QuotaExceeded { .. })
    ));
    // A mount is a link like any other: refused over the limit, free for
    // a blob the namespace holds.
    assert!(matches!(
        index
            .mount_blob(&repo("acme/three"), &c, Some(&repo("other/x")), Some(100))
            .await,
        Err(IndexError::QuotaExceeded { .. })
    ));
    assert_eq!(
        index
            .repository_blob(&repo("acme/three"), &c)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        index
            .mount_blob(&repo("acme/three"), &a, None, Some(100))
            .await
            .unwrap(),
        Some(60)
    );
    assert_eq!(index.namespace_usage("acme").await.unwrap(), 100);
}

/// A refused upload link leaves the session in place (its bytes are the
/// caller's to discard); an accepted one forgets it.
pub(super) async fn a_refused_upload_link_keeps_its_session(index: &dyn MetadataIndex) {
    let a = Digest::sha256(b"a");
    let session = UploadSession::new("u1".into(), &repo("acme/one"), 1);
    index.put_upload(&session).await.unwrap();
    assert!(matches!(
        index
            .link_uploaded_blob(&repo("acme/one"), &a, 11, "u1", Some(10))
            .await,
        Err(IndexError::QuotaExceeded { .. })
    ));
    assert!(index.upload("u1").await.unwrap().is_some());
    assert_eq!(index.namespace_usage("acme").await.unwrap(), 0);
    index
        .link_uploaded_blob(&repo("acme/one"), &a, 10, "u1", Some(10))
        .await
        .unwrap();
    assert!(index.upload("u1").await.unwrap().is_none());
    assert_eq!(index.namespace_usage("acme").await.unwrap(), 10);
}
