//! A bounded map of verified access tokens, so a token presented again
//! costs a hash lookup instead of a signature check.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use crate::claims::AccessClaims;

/// The most tokens kept; beyond that expired ones are dropped, and if none
/// are, the cache starts over.
const MAX_ENTRIES: usize = 16_384;

/// Verified access tokens, keyed by their full text.
#[derive(Debug, Default)]
pub(crate) struct VerifiedTokens {
    entries: RwLock<HashMap<Box<str>, Arc<AccessClaims>>>,
}

impl VerifiedTokens {
    /// The claims of a token verified earlier. The caller still checks expiry.
    pub(crate) fn get(&self, token: &str) -> Option<Arc<AccessClaims>> {
        // A panic elsewhere cannot leave the map half-updated in a way that
        // matters: every entry is a verified token.
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries.get(token).cloned()
    }

    /// Remembers a token that has just been verified.
    pub(crate) fn insert(&self, token: &str, claims: Arc<AccessClaims>, now: u64) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, cached| cached.exp > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(token.into(), claims);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> Arc<AccessClaims> {
        Arc::new(AccessClaims {
            iss: "i".into(),
            sub: String::new(),
            aud: "s".into(),
            exp,
            nbf: 0,
            iat: 0,
            jti: "j".into(),
            access: Vec::new(),
            tid: None,
            r#gen: None,
        })
    }

    #[test]
    fn stays_bounded_dropping_expired_entries_first() {
        let cache = VerifiedTokens::default();
        for i in 0..MAX_ENTRIES {
            let exp = if i % 2 == 0 { 10 } else { 100 };
            cache.insert(&format!("t{i}"), claims(exp), 5);
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        cache.insert("fresh", claims(100), 50);
        assert_eq!(cache.len(), MAX_ENTRIES / 2 + 1);
        assert!(cache.get("t1").is_some());
        assert!(cache.get("t0").is_none());
        assert!(cache.get("fresh").is_some());
    }

    #[test]
    fn starts_over_when_nothing_has_expired() {
        let cache = VerifiedTokens::default();
        for i in 0..MAX_ENTRIES {
            cache.insert(&format!("t{i}"), claims(100), 5);
        }
        cache.insert("fresh", claims(100), 5);
        assert_eq!(cache.len(), 1);
        assert!(cache.get("fresh").is_some());
    }
}
