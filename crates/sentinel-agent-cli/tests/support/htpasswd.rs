//! An htpasswd file for Distribution's `htpasswd` auth: bcrypt only.

use std::path::Path;

/// bcrypt's cost for test users: low, so that every request stays fast
/// (Distribution checks the hash on each request that carries Basic auth).
const TEST_COST: u32 = 5;

/// Writes `path` with one `user:bcrypt-hash` line per user.
pub fn write(path: &Path, users: &[(&str, &str)]) {
    let mut text = String::new();
    for (user, password) in users {
        let hash = bcrypt::hash(password, TEST_COST).expect("bcrypt hashes a test password");
        text.push_str(&format!("{user}:{hash}\n"));
    }
    std::fs::write(path, text).expect("write the htpasswd file");
}
