//! The event outbox's checks ([`crate::EventOutbox`]).

use sentinel_oci::Digest;

use super::{manifest, repo, tag};
use crate::{DELIVERY_HISTORY, DeliveryNext, DeliveryResult, IndexError, MetadataIndex};

fn result(event_id: &str, status: Option<u16>) -> DeliveryResult {
    DeliveryResult {
        event_id: event_id.to_owned(),
        event_type: "test.event".to_owned(),
        attempt: 1,
        at: 1_000,
        status,
        latency_ms: 3,
        error: status.is_none().then(|| "connection refused".to_owned()),
    }
}

async fn bodies(index: &dyn MetadataIndex) -> Vec<Vec<u8>> {
    index
        .pending_events(100)
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.body)
        .collect()
}

/// Events enter with a write that happens, and only then.
pub(super) async fn events_commit_with_their_cause(index: &dyn MetadataIndex) {
    let config = Digest::sha256(b"config");
    let mut refused = manifest("{\"m\":0}", &[&config], &[]);
    refused.events = vec![b"refused".to_vec()];
    assert!(matches!(
        index.put_manifest(&repo("a"), refused, None).await,
        Err(IndexError::MissingReference(_))
    ));
    assert!(bodies(index).await.is_empty());

    index.link_blob(&repo("a"), &config, 6, None).await.unwrap();
    let mut pushed = manifest("{\"m\":1}", &[&config], &[]);
    pushed.events = vec![b"pushed".to_vec(), b"published".to_vec()];
    let digest = pushed.digest.clone();
    index
        .put_manifest(&repo("a"), pushed, Some(&tag("v1")))
        .await
        .unwrap();
    assert!(
        !index
            .delete_tag(&repo("a"), &tag("nope"), vec![b"absent tag".to_vec()])
            .await
            .unwrap()
    );
    assert!(
        index
            .delete_tag(&repo("a"), &tag("v1"), vec![b"tag deleted".to_vec()])
            .await
            .unwrap()
    );
    index.append_events(vec![b"pulled".to_vec()]).await.unwrap();
    index.append_events(Vec::new()).await.unwrap();
    assert!(
        index
            .delete_manifest(&repo("a"), &digest, vec![b"deleted".to_vec()])
            .await
            .unwrap()
    );
    assert!(
        !index
            .delete_manifest(&repo("a"), &digest, vec![b"deleted twice".to_vec()])
            .await
            .unwrap()
    );
    let expected: Vec<Vec<u8>> = ["pushed", "published", "tag deleted", "pulled", "deleted"]
        .iter()
        .map(|b| b.as_bytes().to_vec())
        .collect();
    assert_eq!(bodies(index).await, expected);
    let events = index.pending_events(2).await.unwrap();
    assert_eq!(events.len(), 2);
    assert!(events[0].sequence < events[1].sequence);
}

/// Fanning out replaces an event by one delivery per webhook, due at once;
/// sequence numbers are never reused.
pub(super) async fn events_fan_out_to_due_deliveries(index: &dyn MetadataIndex) {
    index
        .append_events(vec![b"one".to_vec(), b"two".to_vec()])
        .await
        .unwrap();
    let events = index.pending_events(10).await.unwrap();
    let (one, two) = (events[0].sequence, events[1].sequence);
    assert!(
        index
            .fan_out_event(one, vec!["a".into(), "b".into()], 1_000)
            .await
            .unwrap()
    );
    assert!(
        !index
            .fan_out_event(one, vec!["a".into()], 1_000)
            .await
            .unwrap()
    );
    // Nobody wants `two`: it simply leaves the outbox.
    assert!(index.fan_out_event(two, Vec::new(), 1_000).await.unwrap());
    assert!(index.pending_events(10).await.unwrap().is_empty());
    assert_eq!(index.pending_deliveries().await.unwrap(), 2);

    assert!(index.due_deliveries(999, 10).await.unwrap().is_empty());
    let due = index.due_deliveries(1_000, 10).await.unwrap();
    let mut webhooks: Vec<&str> = due.iter().map(|d| d.webhook.as_str()).collect();
    webhooks.sort();
    assert_eq!(webhooks, ["a", "b"]);
    for delivery in &due {
        assert_eq!(delivery.sequence, one);
        assert_eq!(delivery.body, b"one");
        assert_eq!(delivery.attempts, 0);
        assert_eq!(delivery.created_at, 1_000);
    }
    assert_eq!(index.due_deliveries(5_000, 1).await.unwrap().len(), 1);

    index.append_events(vec![b"three".to_vec()]).await.unwrap();
    let three = index.pending_events(10).await.unwrap()[0].sequence;
    assert!(three > two);
}

/// A failed attempt moves a delivery later and counts; a finished one leaves.
pub(super) async fn attempts_reschedule_or_finish_deliveries(index: &dyn MetadataIndex) {
    index
        .append_events(vec![b"e1".to_vec(), b"e2".to_vec()])
        .await
        .unwrap();
    let events = index.pending_events(10).await.unwrap();
    let (first, second) = (events[0].sequence, events[1].sequence);
    index
        .fan_out_event(first, vec!["hook".into()], 1_000)
        .await
        .unwrap();
    index
        .fan_out_event(second, vec!["hook".into()], 2_000)
        .await
        .unwrap();
    index
        .record_delivery(
            "hook",
            Some(first),
            result("e1", Some(500)),
            DeliveryNext::RetryAt(9_000),
        )
        .await
        .unwrap();
    let due = index.due_deliveries(5_000, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].sequence, second);
    let due = index.due_deliveries(9_000, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|d| d.sequence).collect::<Vec<_>>(),
        [second, first],
        "the earliest due first"
    );
    assert_eq!(due[1].attempts, 1);
    assert_eq!(due[1].next_attempt_at, 9_000);
    assert_eq!(due[1].created_at, 1_000);

    index
        .record_delivery(
            "hook",
            Some(first),
            result("e1", Some(204)),
            DeliveryNext::Done,
        )
        .await
        .unwrap();
    // A test event has no pending delivery: it is only history.
    index
        .record_delivery("hook", None, result("ping", Some(200)), DeliveryNext::Done)
        .await
        .unwrap();
    let due = index.due_deliveries(u64::MAX / 2, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].sequence, second);
    assert_eq!(index.pending_deliveries().await.unwrap(), 1);
    let history = index.delivery_results("hook").await.unwrap();
    let ids: Vec<&str> = history.iter().map(|r| r.event_id.as_str()).collect();
    assert_eq!(ids, ["ping", "e1", "e1"]);
    assert_eq!(history[2].status, Some(500));
}

/// Each webhook keeps its last results, newest first.
pub(super) async fn history_keeps_the_last_results_newest_first(index: &dyn MetadataIndex) {
    let total = DELIVERY_HISTORY + 5;
    for n in 0..total {
        index
            .record_delivery(
                "busy",
                None,
                result(&format!("e{n}"), None),
                DeliveryNext::Done,
            )
            .await
            .unwrap();
    }
    index
        .record_delivery("quiet", None, result("only", Some(200)), DeliveryNext::Done)
        .await
        .unwrap();
    let history = index.delivery_results("busy").await.unwrap();
    assert_eq!(history.len(), DELIVERY_HISTORY);
    assert_eq!(history[0].event_id, format!("e{}", total - 1));
    assert_eq!(history[DELIVERY_HISTORY - 1].event_id, "e5");
    assert_eq!(history[0].error.as_deref(), Some("connection refused"));
    assert_eq!(index.delivery_results("quiet").await.unwrap().len(), 1);
    assert!(index.delivery_results("none").await.unwrap().is_empty());
}

/// Forgetting a webhook drops its deliveries and history, nobody else's.
pub(super) async fn forgetting_a_webhook_leaves_others_alone(index: &dyn MetadataIndex) {
    index.append_events(vec![b"e".to_vec()]).await.unwrap();
    let sequence = index.pending_events(1).await.unwrap()[0].sequence;
    index
        .fan_out_event(sequence, vec!["gone".into(), "kept".into()], 10)
        .await
        .unwrap();
    index
        .record_delivery(
            "gone",
            Some(sequence),
            result("e", None),
            DeliveryNext::RetryAt(20),
        )
        .await
        .unwrap();
    index
        .record_delivery("kept", None, result("ping", Some(200)), DeliveryNext::Done)
        .await
        .unwrap();
    assert_eq!(index.forget_webhook("gone").await.unwrap(), 1);
    assert_eq!(index.forget_webhook("gone").await.unwrap(), 0);
    let due = index.due_deliveries(100, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].webhook, "kept");
    assert!(index.delivery_results("gone").await.unwrap().is_empty());
    assert_eq!(index.delivery_results("kept").await.unwrap().len(), 1);
}
