//! `/webhooks`: where the registry sends its events (admins only). A
//! webhook's secret is shown once, in the answer that created it (or set
//! a new one), and never again.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use sentinel_index::DeliveryResult;
use sentinel_trust::RepositoryPattern;
use sentinel_webhooks::{Webhook, WebhookError, generate_secret, parse_events};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ManagementRequest, created, no_content, no_endpoint, off_thread};
use crate::api::ApiError;
use crate::api::error::ManagementCode;

/// The events of a request body: `"push,pull"` or `["push", "pull"]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum EventList {
    Text(String),
    List(Vec<String>),
}

impl EventList {
    fn types(&self) -> Result<BTreeSet<String>, WebhookError> {
        match self {
            EventList::Text(text) => parse_events(text),
            EventList::List(list) => parse_events(&list.join(",")),
        }
    }
}

/// `POST /webhooks` and `PUT /webhooks/<name>`: for `PUT`, what is left out stays.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookBody {
    /// `POST` only.
    name: Option<String>,
    url: Option<String>,
    events: Option<EventList>,
    /// A pattern, or `null` (`PUT`) to drop the pattern.
    #[serde(default, deserialize_with = "present")]
    repositories: Option<Option<String>>,
    secret: Option<String>,
    enabled: Option<bool>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// A webhook as listed: everything but the secret.
fn webhook_json(webhook: &Webhook) -> Value {
    json!({
        "name": webhook.name,
        "url": webhook.url.as_str(),
        "events": webhook.events,
        "repositories": webhook.repositories.as_ref().map(ToString::to_string),
        "enabled": webhook.enabled,
    })
}

/// A delivery result as listed.
pub(crate) fn result_json(result: &DeliveryResult) -> Value {
    json!({
        "event_id": result.event_id,
        "type": result.event_type,
        "attempt": result.attempt,
        "time": crate::clock::rfc3339(result.at / 1000),
        "status": result.status,
        "latency_ms": result.latency_ms,
        "error": result.error,
        "delivered": result.status.is_some_and(|s| (200..300).contains(&s)),
    })
}

/// The management API's answer to a webhook error.
fn webhook_error(error: WebhookError) -> ApiError {
    let message = crate::describe(&error);
    let code = match error {
        WebhookError::Name(_)
        | WebhookError::Url(_)
        | WebhookError::Event(_)
        | WebhookError::NoEvents
        | WebhookError::Pattern(_) => ManagementCode::Invalid,
        WebhookError::Exists(_) => ManagementCode::Conflict,
        WebhookError::Unknown(_) => ManagementCode::NotFound,
        WebhookError::Client(_)
        | WebhookError::Random(_)
        | WebhookError::Store { .. }
        | WebhookError::Corrupt { .. } => ManagementCode::Internal,
    };
    ApiError::management(code, message)
}

impl ManagementRequest<'_> {
    /// `/webhooks[/<name>[/test|/deliveries]]`.
    pub(super) async fn webhooks(
        &self,
        method: &Method,
        rest: &[&str],
    ) -> Result<Response, ApiError> {
        self.require_admin()?;
        match (method.clone(), rest) {
            (Method::GET, [] | [""]) => {
                let listed: Vec<Value> =
                    self.registry.webhooks().iter().map(webhook_json).collect();
                Ok(axum::Json(json!({ "webhooks": listed })).into_response())
            }
            (Method::POST, [] | [""]) => self.create_webhook().await,
            (Method::GET, [name]) => {
                let webhook = self.known_webhook(name)?;
                Ok(axum::Json(webhook_json(&webhook)).into_response())
            }
            (Method::PUT, [name]) => self.update_webhook(name).await,
            (Method::DELETE, [name]) => {
                self.registry
                    .remove_webhook(name)
                    .await
                    .map_err(webhook_error)?;
                self.audit("webhook-remove", name);
                Ok(no_content())
            }
            (Method::POST, [name, "test"]) => {
                let webhook = self.known_webhook(name)?;
                let result = self.registry.test_webhook(&webhook).await?;
                self.audit("webhook-test", name);
                Ok(axum::Json(result_json(&result)).into_response())
            }
            (Method::GET, [name, "deliveries"]) => {
                let webhook = self.known_webhook(name)?;
                let results = self.registry.webhook_deliveries(&webhook).await?;
                let listed: Vec<Value> = results.iter().map(result_json).collect();
                Ok(axum::Json(json!({ "deliveries": listed })).into_response())
            }
            _ => Err(no_endpoint(method, &format!("webhooks/{}", rest.join("/")))),
        }
    }

    fn known_webhook(&self, name: &str) -> Result<Webhook, ApiError> {
        self.registry
            .webhook(name)
            .ok_or_else(|| webhook_error(WebhookError::Unknown(name.to_owned())))
    }

    /// `POST /webhooks`: answers with the webhook and its secret.
    async fn create_webhook(&self) -> Result<Response, ApiError> {
        let body: WebhookBody = self.json()?;
        let name = body
            .name
            .ok_or_else(|| webhook_error(WebhookError::Name(String::new())))?;
        let url = body
            .url
            .ok_or_else(|| webhook_error(WebhookError::Url(String::new())))?;
        let events = body
            .events
            .ok_or_else(|| webhook_error(WebhookError::NoEvents))?
            .types()
            .map_err(webhook_error)?;
        let repositories = parse_pattern(body.repositories.flatten())?;
        let secret = match body.secret {
            Some(secret) if !secret.is_empty() => secret,
            _ => generate_secret().map_err(webhook_error)?,
        };
        let webhook = Webhook::new(
            &name,
            &url,
            events,
            repositories,
            secret.clone(),
            body.enabled.unwrap_or(true),
        )
        .map_err(webhook_error)?;
        let mut answer = webhook_json(&webhook);
        answer["secret"] = json!(secret);
        let registry = self.registry.clone();
        off_thread(move || registry.add_webhook(webhook), webhook_error).await?;
        self.audit("webhook-add", &name);
        Ok(created(answer))
    }

    /// `PUT /webhooks/<name>`: changes what the body gives.
    async fn update_webhook(&self, name: &str) -> Result<Response, ApiError> {
        let body: WebhookBody = self.json()?;
        if let Some(other) = body.name.as_deref().filter(|other| *other != name) {
            return Err(ApiError::management(
                ManagementCode::Invalid,
                format!("the path names {name} but the body {other}"),
            ));
        }
        let held = self.known_webhook(name)?;
        let events = match &body.events {
            Some(events) => events.types().map_err(webhook_error)?,
            None => held.events.clone(),
        };
        let repositories = match body.repositories {
            Some(pattern) => parse_pattern(pattern)?,
            None => held.repositories.clone(),
        };
        let new_secret = body.secret.filter(|s| !s.is_empty());
        let webhook = Webhook::new(
            name,
            body.url.as_deref().unwrap_or(held.url.as_str()),
            events,
            repositories,
            new_secret.clone().unwrap_or(held.secret),
            body.enabled.unwrap_or(held.enabled),
        )
        .map_err(webhook_error)?;
        let answer = webhook_json(&webhook);
        let registry = self.registry.clone();
        off_thread(move || registry.replace_webhook(webhook), webhook_error).await?;
        self.audit("webhook-update", name);
        Ok((StatusCode::OK, axum::Json(answer)).into_response())
    }
}

fn parse_pattern(text: Option<String>) -> Result<Option<RepositoryPattern>, ApiError> {
    text.map(|text| {
        text.parse::<RepositoryPattern>()
            .map_err(|e| webhook_error(WebhookError::Pattern(e)))
    })
    .transpose()
}
