//! `.sntlignore`: gitignore-like patterns naming files and directories to leave out of a package.
//!
//! Supported: `#` comments, blank lines, `!` negation (the last matching line wins), a
//! trailing `/` for directories only, a leading or inner `/` anchoring the pattern to the
//! package root (otherwise it matches a name at any depth), `*` and `?` (never matching `/`),
//! `[abc]`, `[a-z]`, `[!a]` classes, `**` as a whole component (any number of directories),
//! and `\` escaping the next character. A directory that is ignored is not entered, so a
//! negation cannot bring back a file beneath it, as in git.

/// The ignore file's name, at the package root.
pub(crate) const IGNORE_FILE: &str = ".sntlignore";

/// A compiled `.sntlignore`.
#[derive(Debug, Default)]
pub(crate) struct IgnoreRules {
    rules: Vec<Rule>,
}

#[derive(Debug)]
struct Rule {
    negated: bool,
    directories_only: bool,
    segments: Vec<Segment>,
}

#[derive(Debug)]
enum Segment {
    /// `**`: zero or more whole path components.
    AnyDepth,
    /// One path component matched by a glob.
    Glob(Vec<Token>),
}

#[derive(Debug)]
enum Token {
    Literal(char),
    AnyChar,
    AnyRun,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Token {
    fn matches(&self, c: char) -> bool {
        match self {
            Token::Literal(literal) => *literal == c,
            Token::AnyChar => true,
            Token::AnyRun => false,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|(low, high)| (*low..=*high).contains(&c)) != *negated
            }
        }
    }
}

impl IgnoreRules {
    /// Compiles the text of an ignore file; an error carries the 1-based line and a message.
    pub(crate) fn parse(text: &str) -> Result<Self, (usize, String)> {
        let mut rules = Vec::new();
        for (index, line) in text.lines().enumerate() {
            if let Some(rule) = parse_line(line).map_err(|message| (index + 1, message))? {
                rules.push(rule);
            }
        }
        Ok(IgnoreRules { rules })
    }

    /// Whether the relative `/`-separated `path` is ignored.
    pub(crate) fn is_ignored(&self, path: &str, is_dir: bool) -> bool {
        let components: Vec<&str> = path.split('/').collect();
        let mut ignored = false;
        for rule in &self.rules {
            if rule.directories_only && !is_dir {
                continue;
            }
            if match_segments(&rule.segments, &components) {
                ignored = !rule.negated;
            }
        }
        ignored
    }
}

fn parse_line(line: &str) -> Result<Option<Rule>, String> {
    let line = line.trim_end();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (negated, pattern) = match line.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let (directories_only, pattern) = match pattern.strip_suffix('/') {
        Some(rest) if !rest.ends_with('\\') => (true, rest),
        _ => (false, pattern),
    };
    let anchored = pattern.contains('/');
    let pattern = pattern.strip_prefix('/').unwrap_or(pattern);
    if pattern.is_empty() {
        return Err("the pattern is empty".to_owned());
    }
    let mut segments = Vec::new();
    if !anchored {
        segments.push(Segment::AnyDepth);
    }
    for component in pattern.split('/') {
        match component {
            "" => return Err("the pattern has an empty component ('//')".to_owned()),
            "**" => segments.push(Segment::AnyDepth),
            glob => segments.push(Segment::Glob(parse_glob(glob)?)),
        }
    }
    Ok(Some(Rule {
        negated,
        directories_only,
        segments,
    }))
}

fn parse_glob(glob: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) => tokens.push(Token::Literal(escaped)),
                None => return Err("the pattern ends with a lone '\\'".to_owned()),
            },
            '?' => tokens.push(Token::AnyChar),
            '*' => {
                if !matches!(tokens.last(), Some(Token::AnyRun)) {
                    tokens.push(Token::AnyRun);
                }
            }
            '[' => {
                let negated = chars.next_if(|&c| c == '!' || c == '^').is_some();
                let mut ranges = Vec::new();
                let mut closed = false;
                let mut first = true;
                while let Some(c) = chars.next() {
                    if c == ']' && !first {
                        closed = true;
                        break;
                    }
                    first = false;
                    let low = if c == '\\' {
                        chars.next().ok_or("the pattern ends with a lone '\\'")?
                    } else {
                        c
                    };
                    let high = if chars.peek() == Some(&'-') {
                        chars.next();
                        match chars.next() {
                            Some(']') => {
                                ranges.push((low, low));
                                ranges.push(('-', '-'));
                                closed = true;
                                break;
                            }
                            Some(high) => high,
                            None => break,
                        }
                    } else {
                        low
                    };
                    if high < low {
                        return Err(format!("the class range {low}-{high} is reversed"));
                    }
                    ranges.push((low, high));
                }
                if !closed {
                    return Err("a '[' class is not closed with ']'".to_owned());
                }
                tokens.push(Token::Class { negated, ranges });
            }
            literal => tokens.push(Token::Literal(literal)),
        }
    }
    Ok(tokens)
}

fn match_segments(segments: &[Segment], components: &[&str]) -> bool {
    match segments.split_first() {
        None => components.is_empty(),
        Some((Segment::AnyDepth, rest)) => {
            (0..=components.len()).any(|skip| match_segments(rest, &components[skip..]))
        }
        Some((Segment::Glob(tokens), rest)) => match components.split_first() {
            Some((first, others)) => match_glob(tokens, first) && match_segments(rest, others),
            None => false,
        },
    }
}

/// Wildcard matching with one backtracking point per `*`, linear in practice.
fn match_glob(tokens: &[Token], name: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    let (mut t, mut n) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while n < name.len() {
        match tokens.get(t) {
            Some(Token::AnyRun) => {
                backtrack = Some((t, n));
                t += 1;
            }
            Some(token) if token.matches(name[n]) => {
                t += 1;
                n += 1;
            }
            _ => match backtrack {
                Some((star, start)) => {
                    t = star + 1;
                    n = start + 1;
                    backtrack = Some((star, start + 1));
                }
                None => return false,
            },
        }
    }
    tokens[t..]
        .iter()
        .all(|token| matches!(token, Token::AnyRun))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> IgnoreRules {
        IgnoreRules::parse(text).unwrap()
    }

    #[test]
    fn unanchored_patterns_match_at_any_depth() {
        let r = rules("*.pyc\n__pycache__/\n");
        assert!(r.is_ignored("a.pyc", false));
        assert!(r.is_ignored("src/deep/a.pyc", false));
        assert!(!r.is_ignored("a.py", false));
        assert!(r.is_ignored("src/__pycache__", true));
        assert!(
            !r.is_ignored("src/__pycache__", false),
            "directory-only pattern"
        );
    }

    #[test]
    fn anchored_patterns_match_from_the_root() {
        let r = rules("/build\ndocs/*.md\n");
        assert!(r.is_ignored("build", true));
        assert!(!r.is_ignored("src/build", true));
        assert!(r.is_ignored("docs/a.md", false));
        assert!(!r.is_ignored("docs/sub/a.md", false));
        assert!(!r.is_ignored("x/docs/a.md", false));
    }

    #[test]
    fn double_star_spans_directories() {
        let r = rules("a/**/z.txt\nlogs/**\n**/secret\n");
        assert!(r.is_ignored("a/z.txt", false));
        assert!(r.is_ignored("a/b/c/z.txt", false));
        assert!(r.is_ignored("logs/x/y", false));
        assert!(r.is_ignored("deep/er/secret", false));
        assert!(!r.is_ignored("b/z.txt", false));
    }

    #[test]
    fn negation_and_order() {
        let r = rules("*.log\n!keep.log\n");
        assert!(r.is_ignored("x.log", false));
        assert!(!r.is_ignored("keep.log", false));
        let r = rules("!keep.log\n*.log\n");
        assert!(
            r.is_ignored("keep.log", false),
            "the last matching line wins"
        );
    }

    #[test]
    fn classes_question_marks_and_escapes() {
        let r = rules("file[0-9].txt\n[!a]b\n?.tmp\n\\#literal\n\\!bang\n");
        assert!(r.is_ignored("file7.txt", false));
        assert!(!r.is_ignored("fileA.txt", false));
        assert!(r.is_ignored("xb", false));
        assert!(!r.is_ignored("ab", false));
        assert!(r.is_ignored("x.tmp", false));
        assert!(!r.is_ignored("xy.tmp", false));
        assert!(r.is_ignored("#literal", false));
        assert!(r.is_ignored("!bang", false));
    }

    #[test]
    fn stars_do_not_cross_slashes() {
        let r = rules("/src/*.rs\n");
        assert!(r.is_ignored("src/a.rs", false));
        assert!(!r.is_ignored("src/x/a.rs", false));
        assert!(match_glob(&parse_glob("a*b*c").unwrap(), "aXXbYYbZc"));
        assert!(!match_glob(&parse_glob("a*b*c").unwrap(), "aXXbYY"));
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let r = rules("# comment\n\n   \nfoo   \n");
        assert!(r.is_ignored("foo", false));
        assert!(!r.is_ignored("# comment", false));
    }

    #[test]
    fn reports_bad_patterns_with_their_line() {
        assert_eq!(IgnoreRules::parse("ok\n[abc\n").unwrap_err().0, 2);
        assert_eq!(IgnoreRules::parse("a//b").unwrap_err().0, 1);
        assert_eq!(IgnoreRules::parse("x\\").unwrap_err().0, 1);
        assert_eq!(IgnoreRules::parse("[z-a]").unwrap_err().0, 1);
        assert_eq!(IgnoreRules::parse("/").unwrap_err().0, 1);
    }
}
