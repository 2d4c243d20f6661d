//! `WWW-Authenticate` parsing (RFC 9110 §11.6.1): several challenges in one
//! header, parameters with quoted strings, escapes and commas inside quotes.

/// One authentication challenge, e.g. `Bearer realm="..",service=".."`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// The scheme, lowercased (`basic`, `bearer`).
    pub scheme: String,
    /// The parameters in order, names lowercased, values unquoted.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Parses every challenge in a `WWW-Authenticate` value. Malformed trailing
/// input is dropped rather than failing the whole header.
pub(crate) fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut parser = Parser {
        input: header.as_bytes(),
        pos: 0,
    };
    let mut challenges = Vec::new();
    loop {
        parser.skip_separators();
        let scheme = parser.token();
        if scheme.is_empty() {
            break;
        }
        let mut challenge = Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params: Vec::new(),
        };
        parser.skip_spaces();
        if parser.is_token68_here() {
            // `Negotiate abc==`: a credential blob, which no registry scheme uses.
            parser.skip_token68();
        }
        loop {
            parser.skip_separators();
            let start = parser.pos;
            let name = parser.token();
            parser.skip_spaces();
            if name.is_empty() || !parser.eat(b'=') {
                // Not `name=`: the start of the next challenge.
                parser.pos = start;
                break;
            }
            parser.skip_spaces();
            let value = if parser.peek() == Some(b'"') {
                parser.quoted_string()
            } else {
                parser.token()
            };
            challenge.params.push((name.to_ascii_lowercase(), value));
        }
        challenges.push(challenge);
        if parser.pos >= parser.input.len() {
            break;
        }
    }
    challenges
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.input[start..self.pos]).into_owned()
    }

    /// A token68 (`abc==`) here: its characters, at least one `=` of padding, then a separator or the end.
    fn is_token68_here(&self) -> bool {
        let mut i = self.pos;
        while self.input.get(i).copied().is_some_and(is_token68_char) {
            i += 1;
        }
        let body_end = i;
        while self.input.get(i) == Some(&b'=') {
            i += 1;
        }
        body_end > self.pos
            && i > body_end
            && matches!(self.input.get(i), None | Some(b',' | b' ' | b'\t'))
    }

    fn skip_token68(&mut self) {
        while self.peek().is_some_and(|b| is_token68_char(b) || b == b'=') {
            self.pos += 1;
        }
    }

    /// A quoted string starting at `"`; `\x` stands for `x`. An unterminated string runs to the end.
    fn quoted_string(&mut self) -> String {
        self.pos += 1;
        let mut value = Vec::new();
        while let Some(byte) = self.peek() {
            self.pos += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    if let Some(escaped) = self.peek() {
                        value.push(escaped);
                        self.pos += 1;
                    }
                }
                other => value.push(other),
            }
        }
        String::from_utf8_lossy(&value).into_owned()
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// RFC 9110 `token68` characters, without the `=` padding.
fn is_token68_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~+/".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// A scheme and its parameters.
    type Expected = (&'static str, Vec<(&'static str, &'static str)>);

    #[test]
    fn parses_challenge_table() {
        let cases: Vec<(&str, Vec<Expected>)> = vec![
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
                vec![(
                    "bearer",
                    vec![
                        ("realm", "https://auth.docker.io/token"),
                        ("service", "registry.docker.io"),
                        ("scope", "repository:library/alpine:pull"),
                    ],
                )],
            ),
            (
                r#"Basic realm="Registry Realm""#,
                vec![("basic", vec![("realm", "Registry Realm")])],
            ),
            (
                r#"BASIC Realm=ecr"#,
                vec![("basic", vec![("realm", "ecr")])],
            ),
            (
                r#"bearer realm="https://a/t", scope="repository:a:pull,push""#,
                vec![(
                    "bearer",
                    vec![
                        ("realm", "https://a/t"),
                        ("scope", "repository:a:pull,push"),
                    ],
                )],
            ),
            (
                r#"Basic realm="x", Bearer realm="https://a/t",service="s""#,
                vec![
                    ("basic", vec![("realm", "x")]),
                    ("bearer", vec![("realm", "https://a/t"), ("service", "s")]),
                ],
            ),
            (
                r#"Bearer realm="a \"quoted\" \\ realm, with comma" , service = svc"#,
                vec![(
                    "bearer",
                    vec![
                        ("realm", r#"a "quoted" \ realm, with comma"#),
                        ("service", "svc"),
                    ],
                )],
            ),
            (
                "Negotiate, Basic realm=r",
                vec![("negotiate", vec![]), ("basic", vec![("realm", "r")])],
            ),
            (
                "Negotiate abc123==, Basic",
                vec![("negotiate", vec![]), ("basic", vec![])],
            ),
            (
                r#"Bearer realm="unterminated"#,
                vec![("bearer", vec![("realm", "unterminated")])],
            ),
            ("", vec![]),
            (" , ,", vec![]),
        ];
        for (header, expected) in cases {
            let parsed = parse_challenges(header);
            let expected: Vec<Challenge> = expected
                .into_iter()
                .map(|(scheme, pairs)| Challenge {
                    scheme: scheme.to_owned(),
                    params: params(&pairs),
                })
                .collect();
            assert_eq!(parsed, expected, "{header}");
        }
    }

    #[test]
    fn param_lookup_ignores_case() {
        let challenge = &parse_challenges(r#"Bearer Realm="r",SERVICE="s""#)[0];
        assert_eq!(challenge.param("realm"), Some("r"));
        assert_eq!(challenge.param("Service"), Some("s"));
        assert_eq!(challenge.param("scope"), None);
    }
}
