//! `agent configure webhook add|list|remove|test`: a Sentinel registry's
//! webhooks, through its management API (administrators only).

use std::io::{BufRead as _, IsTerminal as _};

use sentinel_client::{NewWebhook, WebhookDelivery};

use super::client;
use crate::cli::{WebhookAddArgs, WebhookCommand};
use crate::commands::registry::print_structured;
use crate::context::Context;
use crate::exit::UsageError;
use crate::output::{say, table};

/// Runs `agent configure webhook ...`.
pub async fn run(context: &Context, command: WebhookCommand) -> anyhow::Result<()> {
    match command {
        WebhookCommand::Add(args) => add(context, args).await,
        WebhookCommand::List(args) => {
            let client = client(context, &args.target)?;
            let webhooks = sentinel_workflows::webhooks(&client).await?;
            if !print_structured(args.target.format, &webhooks)? {
                let rows: Vec<Vec<String>> = webhooks
                    .iter()
                    .map(|hook| {
                        vec![
                            hook.name.clone(),
                            if hook.enabled { "yes" } else { "no" }.to_owned(),
                            hook.repositories.clone().unwrap_or_else(|| "*".to_owned()),
                            short_events(&hook.events),
                            hook.url.clone(),
                        ]
                    })
                    .collect();
                table(&["NAME", "ENABLED", "REPOSITORIES", "EVENTS", "URL"], &rows);
            }
            Ok(())
        }
        WebhookCommand::Remove(args) => {
            let client = client(context, &args.target)?;
            sentinel_workflows::remove_webhook(&client, &args.name).await?;
            say!("removed webhook {}", args.name);
            Ok(())
        }
        WebhookCommand::Test(args) => {
            let client = client(context, &args.target)?;
            let result = sentinel_workflows::test_webhook(&client, &args.name).await?;
            if !print_structured(args.target.format, &result)? {
                print_result(&args.name, &result);
            }
            if result.delivered {
                Ok(())
            } else {
                Err(anyhow::anyhow!(
                    "the test event to {} was not delivered: {}",
                    args.name,
                    result.error.as_deref().unwrap_or("no 2xx answer")
                ))
            }
        }
    }
}

async fn add(context: &Context, args: WebhookAddArgs) -> anyhow::Result<()> {
    let secret = if args.secret_stdin {
        Some(secret_from_stdin()?)
    } else {
        None
    };
    let client = client(context, &args.target)?;
    let webhook = NewWebhook {
        name: args.name,
        url: args.url,
        events: args.events,
        repositories: args.repository,
        secret,
    };
    let added = sentinel_workflows::add_webhook(&client, &webhook).await?;
    if !print_structured(args.target.format, &added)? {
        say!(
            "added webhook {} -> {} ({})",
            added.name,
            added.url,
            short_events(&added.events)
        );
        if !args.secret_stdin
            && let Some(secret) = &added.secret
        {
            say!("secret (shown once): {secret}");
        }
    }
    Ok(())
}

/// The event types without their common prefix.
fn short_events(events: &[String]) -> String {
    events
        .iter()
        .map(|t| t.strip_prefix("io.sentinel.").unwrap_or(t))
        .collect::<Vec<_>>()
        .join(",")
}

fn print_result(name: &str, result: &WebhookDelivery) {
    let status = result
        .status
        .map_or_else(|| "no answer".to_owned(), |s| s.to_string());
    say!(
        "{name}: {} in {} ms{}",
        status,
        result.latency_ms,
        result
            .error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    );
}

/// The secret from stdin's first line.
fn secret_from_stdin() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        eprintln!("secret (then Enter):");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let secret = line.trim_end_matches(['\n', '\r']).to_owned();
    if secret.is_empty() {
        return Err(UsageError("no secret on stdin".to_owned()).into());
    }
    Ok(secret)
}
