//! The package catalogue and the `/v1/packages` API, end to end over real
//! HTTP: real packages packed with `sentinel-package`, pushed over `/v2/`
//! as `agent push` pushes them (or published in one request), and read back
//! through `/v1/packages`.

mod common;

#[path = "packages/bad_input.rs"]
mod bad_input;
#[path = "packages/cataloguing.rs"]
mod cataloguing;
#[path = "packages/deletes.rs"]
mod deletes;
#[path = "packages/downloads.rs"]
mod downloads;
#[path = "packages/publish.rs"]
mod publish;
#[path = "packages/restart.rs"]
mod restart;
#[path = "packages/search.rs"]
mod search;
#[path = "packages/signatures.rs"]
mod signatures;
#[path = "packages/support.rs"]
mod support;
#[path = "packages/versions.rs"]
mod versions;
#[path = "packages/visibility.rs"]
mod visibility;
