//! Sentinel's webhooks, through its management API (`/api/v1/webhooks`,
//! administrators only): list, add, remove, and send a test event.

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::client::RegistryClient;
use crate::error::ClientError;
use crate::response::error_for_status;
use crate::transport::{BodySource, Call};

/// The largest answer read.
const MAX_ANSWER: u64 = 256 * 1024;

/// A webhook as the registry lists it (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookInfo {
    /// Its name.
    pub name: String,
    /// Where events are sent.
    pub url: String,
    /// The full event types it receives.
    pub events: Vec<String>,
    /// Its repository pattern, if it has one.
    #[serde(default)]
    pub repositories: Option<String>,
    /// Whether it receives new events.
    pub enabled: bool,
    /// The secret: only in the answer that created the webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// A webhook to add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewWebhook {
    /// Its name.
    pub name: String,
    /// Where events are sent (http:// or https://).
    pub url: String,
    /// Short names (`push,pull`), full types or `all`, comma-separated.
    pub events: String,
    /// Only events of repositories matching this pattern.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repositories: Option<String>,
    /// The secret; the registry generates one when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// The result of one delivery attempt, as the registry reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// The event's id.
    pub event_id: String,
    /// The event's type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Which attempt it was.
    pub attempt: u32,
    /// When (RFC 3339).
    pub time: String,
    /// The receiver's status, if it answered.
    pub status: Option<u16>,
    /// How long it took.
    pub latency_ms: u64,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Whether the receiver took it (2xx).
    pub delivered: bool,
}

#[derive(Deserialize)]
struct WebhookList {
    webhooks: Vec<WebhookInfo>,
}

impl RegistryClient {
    /// An answer that is not what the webhooks API answers.
    fn protocol(&self, message: String) -> ClientError {
        ClientError::Protocol {
            registry: self.registry().to_owned(),
            message,
        }
    }

    /// `method /api/v1/webhooks{path}` with `body`; the answer's bytes if it
    /// succeeded. A 404 names `what` ([`ClientError::NotFound`]).
    async fn webhook_call(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        what: &str,
    ) -> Result<Bytes, ClientError> {
        let url = self.url(&format!("api/v1/webhooks{path}"))?;
        let mut call = if method == Method::GET || method == Method::DELETE {
            Call::idempotent(method, url, self.management_auth())
        } else {
            Call::once(method, url, self.management_auth())
        };
        if let Some(body) = body {
            call = call
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(BodySource::Bytes(Bytes::from(body)));
        }
        let response = self.execute(call).await?;
        let status = response.status();
        if status.is_success() {
            return self
                .read_body(response, MAX_ANSWER, "the webhooks answer")
                .await;
        }
        let what = (status == StatusCode::NOT_FOUND).then(|| what.to_owned());
        Err(error_for_status(self.registry(), response, what).await)
    }

    /// The registry's webhooks.
    pub async fn webhooks(&self) -> Result<Vec<WebhookInfo>, ClientError> {
        let body = self
            .webhook_call(Method::GET, "", None, "the webhooks API")
            .await?;
        let list: WebhookList = serde_json::from_slice(&body)
            .map_err(|e| self.protocol(format!("the webhook list: {e}")))?;
        Ok(list.webhooks)
    }

    /// Adds `webhook`; the answer holds its secret.
    pub async fn add_webhook(&self, webhook: &NewWebhook) -> Result<WebhookInfo, ClientError> {
        let body = serde_json::to_string(webhook)
            .map_err(|e| self.protocol(format!("the webhook: {e}")))?;
        let answer = self
            .webhook_call(Method::POST, "", Some(body), "the webhooks API")
            .await?;
        serde_json::from_slice(&answer)
            .map_err(|e| self.protocol(format!("the added webhook: {e}")))
    }

    /// Removes webhook `name`.
    pub async fn remove_webhook(&self, name: &str) -> Result<(), ClientError> {
        self.webhook_call(
            Method::DELETE,
            &format!("/{name}"),
            None,
            &format!("webhook {name}"),
        )
        .await
        .map(drop)
    }

    /// Sends webhook `name` a test event now; the result of the attempt.
    pub async fn test_webhook(&self, name: &str) -> Result<WebhookDelivery, ClientError> {
        let answer = self
            .webhook_call(
                Method::POST,
                &format!("/{name}/test"),
                None,
                &format!("webhook {name}"),
            )
            .await?;
        serde_json::from_slice(&answer).map_err(|e| self.protocol(format!("the test result: {e}")))
    }
}
