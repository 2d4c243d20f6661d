//! `agent configure rate-limit [--requests-per-minute N] [--burst-size M]`:
//! show or change a Sentinel registry's request rate limits while it runs.

use sentinel_client::{RateLimit, RateLimitChange, RateLimitScope, RateLimits};

use super::client;
use crate::cli::{RateLimitArgs, RateLimitScopeArg};
use crate::commands::registry::{fields, print_structured};
use crate::context::Context;

/// Runs `agent configure rate-limit`: no flags show the limits.
pub async fn run(context: &Context, args: RateLimitArgs) -> anyhow::Result<()> {
    let client = client(context, &args.target)?;
    let limits = if args.reset {
        sentinel_workflows::reset_rate_limits(&client).await?
    } else if args.requests_per_minute.is_none() && args.burst_size.is_none() && args.per.is_none()
    {
        sentinel_workflows::rate_limits(&client).await?
    } else {
        let change = RateLimitChange {
            requests_per_minute: args.requests_per_minute,
            burst_size: args.burst_size,
            scope: args.per.map(|per| match per {
                RateLimitScopeArg::Address => RateLimitScope::Address,
                RateLimitScopeArg::User => RateLimitScope::User,
            }),
        };
        sentinel_workflows::change_rate_limits(&client, change).await?
    };
    if !print_structured(args.target.format, &limits)? {
        print_limits(&limits);
    }
    Ok(())
}

fn print_limits(limits: &RateLimits) {
    let source = match limits.source.as_str() {
        "file" => "changed through the API (kept across restarts)".to_owned(),
        "settings" => "the registry's settings".to_owned(),
        other => other.to_owned(),
    };
    fields(&[
        ("per address", limit_text(limits.per_address)),
        ("per user", limit_text(limits.per_user)),
        ("source", source),
    ]);
}

fn limit_text(limit: RateLimit) -> String {
    if limit.requests_per_minute == 0 {
        "no limit".to_owned()
    } else {
        format!(
            "{} requests per minute, bursts of {}",
            limit.requests_per_minute, limit.burst_size
        )
    }
}
