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

/// A package's words as the index holds them: word ids, with where.
pub(crate) type Indexed = Box<[(u32, Field)]>;

/// Words -> the packages (by slot) holding them, with where. Words are
/// interned: each distinct word is stored once, in the sorted vocabulary
/// that prefix lookups walk, and packages hold only word ids.
#[derive(Default)]
pub(crate) struct SearchIndex {
    vocabulary: BTreeMap<Box<str>, u32>,
    postings: Vec<Vec<(u32, Field)>>,
}

/// Per-slot arrays a query sums scores in, kept per thread so that a query
/// neither allocates nor zeroes them: each query resets what it touched.
#[derive(Default)]
struct Scratch {
    /// The best score of the current word, per slot.
    best: Vec<u32>,
    /// The sum over the words matched so far, per slot.
    total: Vec<u32>,
    /// How many words matched, per slot.
    matched: Vec<u8>,
}

impl Scratch {
    /// Makes room for `slots` slots (new ones zero).
    fn fit(&mut self, slots: usize) {
        if self.best.len() < slots {
            self.best.resize(slots, 0);
            self.total.resize(slots, 0);
            self.matched.resize(slots, 0);
        }
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// The packages a query matched: every word matched each of them.
pub(crate) struct Matches {
    /// (slot, score) of each package matched.
    pub(crate) hits: Vec<(u32, u32)>,
}

impl SearchIndex {
    /// Adds package `slot` with its words; returns them as indexed, for
    /// [`SearchIndex::remove`].
    pub(crate) fn insert(&mut self, slot: u32, document: &HashMap<String, Field>) -> Indexed {
        let mut indexed = Vec::with_capacity(document.len());
        for (word, field) in document {
            let id = match self.vocabulary.get(word.as_str()) {
                Some(id) => *id,
                None => {
                    let id = u32::try_from(self.postings.len()).unwrap_or(u32::MAX);
                    self.vocabulary.insert(word.as_str().into(), id);
                    self.postings.push(Vec::new());
                    id
                }
            };
            self.postings[id as usize].push((slot, *field));
            indexed.push((id, *field));
        }
        indexed.into_boxed_slice()
    }

    /// Removes package `slot`, which was added as `indexed`.
    pub(crate) fn remove(&mut self, slot: u32, indexed: &[(u32, Field)]) {
        for (id, _) in indexed {
            if let Some(list) = self.postings.get_mut(*id as usize) {
                list.retain(|(s, _)| *s != slot);
            }
        }
    }

    /// The packages every word of `query` matches, with their scores, among
    /// `slots` slots. `None` when the query has no words (everything
    /// matches).
    ///
    /// Scores are summed in arrays indexed by slot, so a query costs a pass
    /// over each matched word's postings and nothing per package otherwise.
    pub(crate) fn matches(&self, query: &[String], slots: usize) -> Option<Matches> {
        if query.is_empty() {
            return None;
        }
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            scratch.fit(slots);
            let hits = self.matches_in(query, slots, &mut scratch);
            Some(Matches { hits })
        })
    }

    /// [`SearchIndex::matches`] with `scratch`'s arrays, which it leaves
    /// all zero again.
    fn matches_in(&self, query: &[String], slots: usize, scratch: &mut Scratch) -> Vec<(u32, u32)> {
        let Scratch {
            best,
            total,
            matched,
        } = scratch;
        // The slots the first word matched: every later match is among them.
        let mut first: Vec<u32> = Vec::new();
        let mut touched: Vec<u32> = Vec::new();
        for (round, word) in query.iter().enumerate() {
            let from = (
                std::ops::Bound::Included(word.as_str()),
                std::ops::Bound::Unbounded,
            );
            touched.clear();
            for (indexed, id) in self.vocabulary.range::<str, _>(from) {
                if !indexed.starts_with(word.as_str()) {
                    break;
                }
                let whole = if indexed.len() == word.len() { 2 } else { 1 };
                for (slot, field) in &self.postings[*id as usize] {
                    let at = *slot as usize;
                    if at >= slots || usize::from(matched[at]) != round {
                        continue;
                    }
                    let score = *field as u32 * whole;
                    if best[at] == 0 {
                        touched.push(*slot);
                    }
                    best[at] = best[at].max(score);
                }
            }
            for slot in &touched {
                let at = *slot as usize;
                total[at] += best[at];
                best[at] = 0;
                matched[at] += 1;
            }
            if round == 0 {
                first.clone_from(&touched);
            }
            if touched.is_empty() {
                break;
            }
        }
        let rounds = query.len();
        let hits = touched
            .iter()
            .filter(|slot| usize::from(matched[**slot as usize]) == rounds)
            .map(|slot| (*slot, total[*slot as usize]))
            .collect();
        for slot in &first {
            total[*slot as usize] = 0;
            matched[*slot as usize] = 0;
        }
        hits
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
        let c = index.insert(3, &c);
        let found = |index: &SearchIndex, text: &str| -> HashMap<u32, u32> {
            index
                .matches(&query_words(text), 4)
                .unwrap()
                .hits
                .into_iter()
                .collect()
        };
        let hits = found(&index, "summ");
        assert_eq!(hits.len(), 3);
        assert!(hits[&1] > hits[&2] && hits[&2] > hits[&3]);
        let both = found(&index, "summ web");
        assert_eq!(both.keys().copied().collect::<Vec<_>>(), [3]);
        assert!(found(&index, "nothing").is_empty());
        assert!(found(&index, "summ nothing").is_empty());
        assert!(index.matches(&[], 4).is_none());
        // A word matching two indexed words of one package counts once.
        assert_eq!(found(&index, "plan")[&2], Field::Name as u32);
        index.remove(3, &c);
        assert!(found(&index, "web").is_empty());
        assert_eq!(found(&index, "summ").len(), 2);
    }
}
