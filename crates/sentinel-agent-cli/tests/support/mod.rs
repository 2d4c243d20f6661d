//! What the CNCF Distribution tests need besides the `agent` binary: the
//! registry as a child process, its credentials, a token issuer, and large
//! files written and compared without holding them in memory.

pub mod distribution;
pub mod files;
pub mod htpasswd;
pub mod token_issuer;
