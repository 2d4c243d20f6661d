//! Package answers kept until the catalogue changes: a version listing of
//! a large package is the same for every caller who may read it, and costs
//! more to write than to keep (1,000 versions make ~200 KB of JSON).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

/// The most answers kept; beyond it, all are dropped and kept afresh.
const MAX_ANSWERS: usize = 1024;

/// Answers by key, each with the catalogue generation it was made at.
#[derive(Default)]
pub(crate) struct Answers {
    kept: Mutex<HashMap<String, (u64, Bytes)>>,
}

impl Answers {
    /// The answer kept for `key` at `generation`, if there is one.
    pub(crate) fn get(&self, key: &str, generation: u64) -> Option<Bytes> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        match kept.get(key) {
            Some((made, body)) if *made == generation => Some(body.clone()),
            _ => None,
        }
    }

    /// Keeps `body` as the answer for `key` at `generation`.
    pub(crate) fn put(&self, key: String, generation: u64, body: Bytes) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() >= MAX_ANSWERS && !kept.contains_key(&key) {
            kept.clear();
        }
        kept.insert(key, (generation, body));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_holds_for_its_generation_only() {
        let answers = Answers::default();
        answers.put("a".to_owned(), 1, Bytes::from_static(b"x"));
        assert_eq!(answers.get("a", 1).as_deref(), Some(&b"x"[..]));
        assert_eq!(answers.get("a", 2), None);
        assert_eq!(answers.get("b", 1), None);
        for i in 0..MAX_ANSWERS + 1 {
            answers.put(format!("k{i}"), 1, Bytes::new());
        }
        assert!(answers.kept.lock().unwrap().len() <= MAX_ANSWERS);
    }
}
