//! The audit trail: who pushed, pulled, deleted, logged in or failed to, and
//! changed users, tokens, organisations or repository settings, from where.
//! Each is one structured event with the target `sentinel::audit`, so it can
//! be routed apart from the access log (`SENTINEL_LOG=sentinel::audit=info`).

use std::net::IpAddr;

/// Records that `user` (empty: anonymous) did `action` from `client`.
/// `repository` and `reference` name what it acted on, where that applies.
pub(crate) fn record(
    action: &str,
    user: &str,
    client: IpAddr,
    repository: Option<&str>,
    reference: Option<&str>,
) {
    let user = if user.is_empty() { "-" } else { user };
    tracing::info!(
        target: "sentinel::audit",
        action,
        user,
        client = %client,
        repository = repository.unwrap_or("-"),
        reference = reference.unwrap_or("-"),
    );
}

/// Records a failed login for the name `user` from `client`, and why.
pub(crate) fn login_failed(user: &str, client: IpAddr, reason: &str) {
    tracing::warn!(
        target: "sentinel::audit",
        action = "login-failed",
        user,
        client = %client,
        reason,
    );
}
