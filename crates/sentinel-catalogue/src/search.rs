//! Full-text matching in memory: an inverted index from lowercased words to
//! the packages whose name, tags, capabilities or description hold them.
//!
//! A query word matches every indexed word it is a prefix of (`summ` finds
//! `summarise`); every query word must match (AND). A package scores more
//! for a word found in its name than in its tags or capabilities, more there
//! than in its description, and more for a whole word than for a prefix.

use std::collections::{BTreeMap, HashMap};

/// The most words of a query that are used; the rest are ignored.
pub const MAX_QUERY_TERMS: usize = 16;

/// The longest word indexed or searched, in bytes; longer ones are cut.
const MAX_TERM_BYTES: usize = 64;

/// Where in a package a word was found, as its weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Field {
    /// The description.
    Description = 1,
    /// A tag or capability.
    Label = 3,
    /// The package or repository name.
    Name = 6,
}

/// The lowercased words of `text`: runs of letters and digits.
pub(crate) fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut word = w.to_lowercase();
            if word.len() > MAX_TERM_BYTES {
                let mut end = MAX_TERM_BYTES;
                while !word.is_char_boundary(end) {
                    end -= 1;
                }
                word.truncate(end);
            }
            word
        })
}

/// The words of a query, at most [`MAX_QUERY_TERMS`], without repeats.
pub(crate) fn query_words(text: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for word in words(text) {
        if !seen.contains(&word) {
            seen.push(word);
        }
        if seen.len() == MAX_QUERY_TERMS {
            break;
        }
    }
    seen
}

/// The words of one package, each with the best field it was found in.
pub(crate) fn document<'a>(
    names: impl IntoIterator<Item = &'a str>,
    labels: impl IntoIterator<Item = &'a str>,
    description: Option<&'a str>,
) -> HashMap<String, Field> {
    let mut document = HashMap::new();
    let mut add = |text: &str, field: Field| {
        for word in words(text) {
            let best = document.entry(word).or_insert(field);
            *best = (*best).max(field);
        }
    };
    for name in names {
        add(name, Field::Name);
    }
    for label in labels {
        add(label, Field::Label);
    }
    if let Some(description) = description {
        add(description, Field::Description);
    }
    document
}

/// Words -> the packages (by slot) holding them, with where.
#[derive(Default)]
pub(crate) struct SearchIndex {
    postings: BTreeMap<Box<str>, Vec<(u32, Field)>>,
}

impl SearchIndex {
    /// Adds package `slot` with its words.
    pub(crate) fn insert(&mut self, slot: u32, document: &HashMap<String, Field>) {
        for (word, field) in document {
            self.postings
                .entry(word.as_str().into())
                .or_default()
                .push((slot, *field));
        }
    }

    /// Removes package `slot`, which was added with `document`.
    pub(crate) fn remove(&mut self, slot: u32, document: &HashMap<String, Field>) {
        for word in document.keys() {
            if let Some(list) = self.postings.get_mut(word.as_str()) {
                list.retain(|(s, _)| *s != slot);
                if list.is_empty() {
                    self.postings.remove(word.as_str());
                }
            }
        }
    }

    /// The packages every word of `query` matches, with their scores.
    /// `None` when the query has no words (everything matches).
    pub(crate) fn matches(&self, query: &[String]) -> Option<HashMap<u32, u32>> {
        let mut result: Option<HashMap<u32, u32>> = None;
        for word in query {
            let mut found: HashMap<u32, u32> = HashMap::new();
            let start: &str = word;
            let from = (std::ops::Bound::Included(start), std::ops::Bound::Unbounded);
            for (indexed, list) in self.postings.range::<str, _>(from) {
                if !indexed.starts_with(word.as_str()) {
                    break;
                }
                let whole = if indexed.len() == word.len() { 2 } else { 1 };
                for (slot, field) in list {
                    let score = *field as u32 * whole;
                    let best = found.entry(*slot).or_insert(0);
                    *best = (*best).max(score);
                }
            }
            result = Some(match result {
                None => found,
                Some(mut previous) => {
                    previous.retain(|slot, score| match found.get(slot) {
                        Some(more) => {
                            *score += more;
                            true
                        }
                        None => false,
                    });
                    previous
                }
            });
            if result.as_ref().is_some_and(HashMap::is_empty) {
                break;
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lowercased_runs_of_letters_and_digits() {
        let found: Vec<String> = words("Web-Search, PDF2text & résumé_writer").collect();
        assert_eq!(found, ["web", "search", "pdf2text", "résumé", "writer"]);
        let long = "x".repeat(500);
        assert_eq!(words(&long).next().unwrap().len(), MAX_TERM_BYTES);
        assert_eq!(query_words("a a b").len(), 2);
        assert_eq!(query_words(&"w ".repeat(100)).len(), 1);
        let many: String = (0..100).map(|i| format!("w{i} ")).collect();
        assert_eq!(query_words(&many).len(), MAX_QUERY_TERMS);
    }

    #[test]
    fn every_word_must_match_and_names_weigh_most() {
        let mut index = SearchIndex::default();
        let a = document(["summariser"], ["pdf"], Some("summarises papers"));
        let b = document(["planner"], ["summaries"], Some("plans trips"));
        let c = document(["translator"], [], Some("summarises web pages"));
        index.insert(1, &a);
        index.insert(2, &b);
        index.insert(3, &c);
        let hits = index.matches(&query_words("summ")).unwrap();
        assert_eq!(hits.len(), 3);
        assert!(hits[&1] > hits[&2] && hits[&2] > hits[&3]);
        let both = index.matches(&query_words("summ web")).unwrap();
        assert_eq!(both.keys().copied().collect::<Vec<_>>(), [3]);
        assert!(index.matches(&query_words("nothing")).unwrap().is_empty());
        assert!(index.matches(&[]).is_none());
        index.remove(3, &c);
        assert!(index.matches(&query_words("web")).unwrap().is_empty());
        assert_eq!(index.matches(&query_words("summ")).unwrap().len(), 2);
    }
}
