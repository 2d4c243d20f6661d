//! `sentinel-registry webhook ...`: `add`, `list`, `enable`, `disable` and
//! `remove` read or change the webhooks file of the data directory under
//! its lock (a running server picks the change up within a quarter of a
//! second); `test` and `deliveries` ask the running server, through its
//! admin socket.

use std::process::ExitCode;

use clap::Subcommand;
use sentinel_webhooks::{Webhook, WebhookFile, generate_secret, parse_events};

use crate::DataArgs;

/// `sentinel-registry webhook ...`
#[derive(Subcommand)]
pub(crate) enum WebhookCommand {
    /// Add a webhook. Its secret is read from stdin with --secret-stdin,
    /// else generated and printed once.
    Add {
        /// The webhook's name (lowercase letters, digits, '-', '_', '.').
        name: String,
        /// Where events are POSTed (http:// or https://).
        #[arg(long)]
        url: String,
        /// Comma-separated: push, pull, delete, publish, signature, quota,
        /// gc, all, or full types (io.sentinel.manifest.pushed).
        #[arg(long)]
        events: String,
        /// Only events of repositories matching this pattern (acme/*).
        #[arg(long, value_name = "PATTERN")]
        repository: Option<String>,
        /// Read the secret from the first line of stdin.
        #[arg(long)]
        secret_stdin: bool,
        /// Add it disabled (it receives nothing until enabled).
        #[arg(long)]
        disabled: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List webhooks (never their secrets).
    List(DataArgs),
    /// Enable a webhook (one its receiver's 410 Gone disabled, say).
    Enable {
        /// The webhook's name.
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Disable a webhook: it receives no new events.
    Disable {
        /// The webhook's name.
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Remove a webhook; its pending deliveries and history are dropped.
    Remove {
        /// The webhook's name.
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Send a webhook an io.sentinel.ping event now and show the result
    /// (the server must be running); exits 1 if it was not delivered.
    Test {
        /// The webhook's name.
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Show a webhook's last 50 delivery results, newest first (the server
    /// must be running).
    Deliveries {
        /// The webhook's name.
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// `method path` on the running server's admin socket; the answer if it is
/// a success, else its error message.
async fn ask_server(
    data: &DataArgs,
    method: axum::http::Method,
    path: &str,
) -> anyhow::Result<serde_json::Value> {
    let settings = data.existing()?;
    sentinel_registry::admin::call(&settings.data_dir, method, path, None)
        .await
        .map_err(|error| match error {
            sentinel_registry::admin::AdminError::NotRunning(_) => {
                anyhow::anyhow!("{error}: this command needs the running server")
            }
            other => other.into(),
        })
}

/// One delivery result, in one line.
fn result_line(result: &serde_json::Value) -> String {
    let number = |field: &str| {
        result[field]
            .as_u64()
            .map_or_else(|| "-".to_owned(), |n| n.to_string())
    };
    format!(
        "{:<20} {:<6} {:<7} {:>6}ms  {:<36} {:<30} {}",
        result["time"].as_str().unwrap_or(""),
        number("status"),
        number("attempt"),
        number("latency_ms"),
        result["event_id"].as_str().unwrap_or(""),
        result["type"].as_str().unwrap_or(""),
        result["error"].as_str().unwrap_or("")
    )
}

/// The webhooks file of the data directory `data` names (created by the
/// first change).
fn file(data: &DataArgs) -> anyhow::Result<WebhookFile> {
    let settings = data.resolve()?;
    Ok(WebhookFile::new(&settings.data_dir))
}

/// The webhooks file of the existing data directory `data` names.
fn existing_file(data: &DataArgs) -> anyhow::Result<WebhookFile> {
    Ok(WebhookFile::new(&data.existing()?.data_dir))
}

/// Runs a `webhook` subcommand.
pub(crate) async fn run(command: WebhookCommand) -> anyhow::Result<ExitCode> {
    match command {
        WebhookCommand::Add {
            name,
            url,
            events,
            repository,
            secret_stdin,
            disabled,
            data,
        } => {
            let events = parse_events(&events)?;
            let repositories = repository.map(|p| p.parse()).transpose()?;
            let (secret, generated) = if secret_stdin {
                (crate::secret_from_stdin("secret")?, false)
            } else {
                (generate_secret()?, true)
            };
            let webhook =
                Webhook::new(&name, &url, events, repositories, secret.clone(), !disabled)?;
            file(&data)?.add(webhook)?;
            println!("added webhook {name} -> {url}");
            if generated {
                println!("secret (shown once): {secret}");
            }
        }
        WebhookCommand::List(data) => {
            println!(
                "{:<20} {:<8} {:<24} {:<40} URL",
                "NAME", "ENABLED", "REPOSITORIES", "EVENTS"
            );
            for webhook in existing_file(&data)?.load()? {
                let events: Vec<&str> = webhook
                    .events
                    .iter()
                    .map(|t| t.strip_prefix("io.sentinel.").unwrap_or(t))
                    .collect();
                println!(
                    "{:<20} {:<8} {:<24} {:<40} {}",
                    webhook.name,
                    if webhook.enabled { "yes" } else { "no" },
                    webhook
                        .repositories
                        .as_ref()
                        .map_or_else(|| "(all)".to_owned(), ToString::to_string),
                    events.join(","),
                    webhook.url
                );
            }
        }
        WebhookCommand::Enable { name, data } => {
            existing_file(&data)?.set_enabled(&name, true)?;
            println!("enabled webhook {name}");
        }
        WebhookCommand::Disable { name, data } => {
            existing_file(&data)?.set_enabled(&name, false)?;
            println!("disabled webhook {name}");
        }
        WebhookCommand::Remove { name, data } => {
            existing_file(&data)?.remove(&name)?;
            println!("removed webhook {name}");
        }
        WebhookCommand::Test { name, data } => {
            let result = ask_server(
                &data,
                axum::http::Method::POST,
                &format!("/api/v1/webhooks/{name}/test"),
            )
            .await?;
            println!("{}", result_line(&result));
            if result["delivered"] != true {
                eprintln!("sentinel-registry: the ping to {name} was not delivered");
                return Ok(ExitCode::FAILURE);
            }
        }
        WebhookCommand::Deliveries { name, data } => {
            let answer = ask_server(
                &data,
                axum::http::Method::GET,
                &format!("/api/v1/webhooks/{name}/deliveries"),
            )
            .await?;
            println!(
                "{:<20} {:<6} {:<7} {:>8}  {:<36} {:<30} ERROR",
                "TIME", "STATUS", "ATTEMPT", "LATENCY", "EVENT", "TYPE"
            );
            for result in answer["deliveries"].as_array().into_iter().flatten() {
                println!("{}", result_line(result));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
