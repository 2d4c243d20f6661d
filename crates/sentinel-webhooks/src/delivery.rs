//! Sending one event to one webhook.

use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, USER_AGENT};

use crate::signing::{EVENT_HEADER, ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};
use crate::{CLOUDEVENTS_CONTENT_TYPE, Webhook, WebhookError};

/// What one attempt to deliver came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The receiver's status, if it answered in time.
    pub status: Option<u16>,
    /// How long the attempt took.
    pub latency: Duration,
    /// Why it failed, if it did (a status other than 2xx, a timeout, a
    /// refused connection).
    pub error: Option<String>,
}

impl Attempt {
    /// Whether the receiver took the event (any 2xx).
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// Whether the receiver said `410 Gone`: it wants no more events.
    pub fn gone(&self) -> bool {
        self.status == Some(410)
    }
}

/// Sends events with a timeout; redirects are not followed (a 3xx is a
/// failed attempt), so an event goes only where its webhook says.
#[derive(Clone)]
pub struct Deliverer {
    client: reqwest::Client,
}

impl Deliverer {
    /// A deliverer whose every attempt ends within `timeout`.
    pub fn new(timeout: Duration) -> Result<Deliverer, WebhookError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(WebhookError::Client)?;
        Ok(Deliverer { client })
    }

    /// `POST`s `body` (event `event_id` of `event_type`) to `webhook`,
    /// signed with its secret at `timestamp` (Unix seconds).
    pub async fn deliver(
        &self,
        webhook: &Webhook,
        event_id: &str,
        event_type: &str,
        body: Vec<u8>,
        timestamp: u64,
    ) -> Attempt {
        let started = Instant::now();
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(CLOUDEVENTS_CONTENT_TYPE),
        );
        headers.insert(USER_AGENT, HeaderValue::from_static("sentinel-registry"));
        let text_headers = [
            (
                SIGNATURE_HEADER,
                signature(&webhook.secret, timestamp, &body),
            ),
            (TIMESTAMP_HEADER, timestamp.to_string()),
            (ID_HEADER, event_id.to_owned()),
            (EVENT_HEADER, event_type.to_owned()),
        ];
        for (name, value) in text_headers {
            match HeaderValue::from_str(&value) {
                Ok(value) => {
                    headers.insert(name, value);
                }
                Err(_) => {
                    return Attempt {
                        status: None,
                        latency: started.elapsed(),
                        error: Some(format!("the {name} header cannot carry {value:?}")),
                    };
                }
            }
        }
        let sent = self
            .client
            .post(webhook.url.clone())
            .headers(headers)
            .body(body)
            .send()
            .await;
        let outcome = match sent {
            Ok(response) => {
                let status = response.status();
                // Read (and drop) the answer, so the connection can be reused.
                let read = response.bytes().await;
                let error = if !status.is_success() {
                    Some(format!("the receiver answered {status}"))
                } else {
                    read.err()
                        .map(|e| format!("reading the answer: {}", describe(&e)))
                };
                (Some(status.as_u16()), error)
            }
            Err(error) => (None, Some(describe(&error))),
        };
        Attempt {
            status: outcome.0,
            latency: started.elapsed(),
            error: outcome.1,
        }
    }
}

/// A reqwest error with its causes, in one line.
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
