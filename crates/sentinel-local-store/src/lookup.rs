//! Finding an entry by name, by digest or by a digest prefix.

use std::collections::BTreeSet;

use sentinel_oci::Digest;

use crate::entry::Entry;
use crate::error::LocalStoreError;

/// The fewest hex digits a digest prefix must have to be looked up.
pub const MIN_DIGEST_PREFIX: usize = 12;

/// Finds the entry `query` designates among `entries`.
///
/// In order: an entry whose name is exactly `query`; an entry whose digest is
/// `query`; an entry whose digest's hex starts with `query` (at least
/// [`MIN_DIGEST_PREFIX`] lowercase hex digits, optionally after `sha256:`),
/// which must then be the only digest that does. When several entries share
/// the digest found, the first in `index.json` order is returned.
pub(crate) fn find(entries: Vec<Entry>, query: &str) -> Result<Option<Entry>, LocalStoreError> {
    if let Some(position) = entries
        .iter()
        .position(|e| e.name.as_deref() == Some(query))
    {
        return Ok(entries.into_iter().nth(position));
    }
    if let Ok(digest) = query.parse::<Digest>() {
        return Ok(entries.into_iter().find(|e| e.digest == digest));
    }
    let Some((algorithm, prefix)) = digest_prefix(query) else {
        return Ok(None);
    };
    let matching = |e: &Entry| {
        algorithm.is_none_or(|a| e.digest.algorithm().as_str() == a)
            && e.digest.hex().starts_with(prefix)
    };
    let distinct: BTreeSet<&Digest> = entries
        .iter()
        .filter(|e| matching(e))
        .map(|e| &e.digest)
        .collect();
    if distinct.len() > 1 {
        return Err(LocalStoreError::AmbiguousPrefix {
            prefix: query.to_owned(),
            count: distinct.len(),
        });
    }
    Ok(entries.into_iter().find(|e| matching(e)))
}

/// Splits `[alg:]hexprefix` if the prefix is long enough and all lowercase hex.
fn digest_prefix(query: &str) -> Option<(Option<&str>, &str)> {
    let (algorithm, prefix) = match query.split_once(':') {
        Some((algorithm, prefix)) => (Some(algorithm), prefix),
        None => (None, query),
    };
    let is_hex = prefix
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (is_hex && prefix.len() >= MIN_DIGEST_PREFIX).then_some((algorithm, prefix))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn entry(name: Option<&str>, hex_start: &str) -> Entry {
        let hex = format!("{hex_start:0<64}");
        Entry {
            name: name.map(str::to_owned),
            digest: format!("sha256:{hex}").parse().unwrap(),
            media_type: sentinel_oci::media_types::OCI_MANIFEST.to_owned(),
            size: 1,
            artifact_type: None,
            annotations: BTreeMap::new(),
        }
    }

    #[test]
    fn short_prefixes_and_non_hex_queries_find_nothing() {
        let entries = vec![entry(Some("a:1"), "abcdef0123456789")];
        assert_eq!(find(entries.clone(), "abcdef01234").unwrap(), None);
        assert_eq!(find(entries.clone(), "ABCDEF012345").unwrap(), None);
        assert_eq!(find(entries.clone(), "sha512:abcdef012345").unwrap(), None);
        assert!(find(entries, "sha256:abcdef012345").unwrap().is_some());
    }

    #[test]
    fn a_name_wins_over_a_prefix() {
        let entries = vec![
            entry(None, "abcdef0123456789"),
            entry(Some("abcdef012345"), "99"),
        ];
        let found = find(entries, "abcdef012345").unwrap().unwrap();
        assert_eq!(found.name.as_deref(), Some("abcdef012345"));
    }

    #[test]
    fn entries_sharing_a_digest_are_not_ambiguous() {
        let entries = vec![
            entry(Some("a:1"), "abcdef0123456789"),
            entry(Some("a:2"), "abcdef0123456789"),
        ];
        let found = find(entries, "abcdef012345").unwrap().unwrap();
        assert_eq!(found.name.as_deref(), Some("a:1"));
    }
}
