//! Sentinel's webhooks, managed through its management API (what
//! `agent configure webhook` does): list, add, remove, test.
//!
//! A caller who is not an administrator is refused by the registry
//! (`ClientError::Denied`); the other refusals mean what
//! [`management`](crate::management) says: a registry without the
//! management API (another registry, or Sentinel with authentication off)
//! is `WorkflowError::Unsupported`, an unknown webhook not found, a webhook
//! the registry finds invalid (a bad name, URL, event or pattern; a name
//! taken) `WorkflowError::Usage`.

use sentinel_client::{NewWebhook, RegistryClient, WebhookDelivery, WebhookInfo};

use crate::error::Result;
use crate::management::{Purpose, explained};

/// What the webhook requests are for, as their errors say.
const WEBHOOKS: Purpose = Purpose {
    doing: "manage webhooks",
    on_server: "webhook",
};

/// The registry's webhooks.
pub async fn webhooks(client: &RegistryClient) -> Result<Vec<WebhookInfo>> {
    match client.webhooks().await {
        Ok(webhooks) => Ok(webhooks),
        Err(error) => Err(explained(client, error, WEBHOOKS).await),
    }
}

/// Adds `webhook`; the answer holds its secret (shown only now).
pub async fn add_webhook(client: &RegistryClient, webhook: &NewWebhook) -> Result<WebhookInfo> {
    match client.add_webhook(webhook).await {
        Ok(added) => Ok(added),
        Err(error) => Err(explained(client, error, WEBHOOKS).await),
    }
}

/// Removes webhook `name`.
pub async fn remove_webhook(client: &RegistryClient, name: &str) -> Result<()> {
    match client.remove_webhook(name).await {
        Ok(()) => Ok(()),
        Err(error) => Err(explained(client, error, WEBHOOKS).await),
    }
}

/// Sends webhook `name` a test event now; the result of the attempt.
pub async fn test_webhook(client: &RegistryClient, name: &str) -> Result<WebhookDelivery> {
    match client.test_webhook(name).await {
        Ok(result) => Ok(result),
        Err(error) => Err(explained(client, error, WEBHOOKS).await),
    }
}
