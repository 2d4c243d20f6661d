//! A reader of the Prometheus text exposition format (0.0.4) and of
//! OpenMetrics text (1.0.0), as far as a summary needs it: every sample's
//! name, labels and value, and each family's type.
//!
//! Written here rather than taken from crates.io: the one small crate for
//! it (`prometheus-parse`) reads only the older format, not OpenMetrics'
//! `# EOF`, `# UNIT` and exemplars, which Sentinel's `/metrics` serves.

use std::collections::BTreeMap;

use serde::Serialize;

/// One sample: `name{labels} value`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// The sample's name (`sentinel_pushes_total`, `..._bucket`).
    pub name: String,
    /// Its labels, by name.
    pub labels: BTreeMap<String, String>,
    /// Its value (`+Inf`, `-Inf` and `NaN` included).
    pub value: f64,
}

/// A parsed exposition: the samples in order, and the declared type of each family.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    /// Every sample, in the order served.
    pub samples: Vec<Sample>,
    /// `# TYPE` of each family (`counter`, `gauge`, `histogram`, ...).
    pub types: BTreeMap<String, String>,
}

/// A line that is not valid exposition text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} of the metrics is not in the exposition format: {reason}")]
pub struct ExpositionError {
    /// The 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: &'static str,
}

/// The suffixes a sample's name may add to its family's.
const SUFFIXES: [&str; 7] = [
    "_total", "_bucket", "_count", "_sum", "_created", "_info", "_gcount",
];

impl Exposition {
    /// Parses `text`. Comments other than `# TYPE` are skipped, and so is
    /// everything after OpenMetrics' `# EOF`.
    pub fn parse(text: &str) -> Result<Exposition, ExpositionError> {
        let mut exposition = Exposition::default();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                let mut words = comment.split_whitespace();
                match words.next() {
                    Some("EOF") => break,
                    Some("TYPE") => {
                        if let (Some(name), Some(kind)) = (words.next(), words.next()) {
                            exposition.types.insert(name.to_owned(), kind.to_owned());
                        }
                    }
                    _ => {}
                }
                continue;
            }
            let sample = parse_sample(line).map_err(|reason| ExpositionError {
                line: index + 1,
                reason,
            })?;
            exposition.samples.push(sample);
        }
        Ok(exposition)
    }

    /// The samples of `name`: those named exactly so, or, for a family's
    /// name, every sample of the family (a histogram's `_bucket`, `_sum`
    /// and `_count`; a counter's `_total`).
    pub fn series(&self, name: &str) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|sample| sample.name == name || family_of(&sample.name) == Some(name))
            .collect()
    }

    /// The declared type of `name`'s family (`name` a family's or a sample's name).
    pub fn kind_of(&self, name: &str) -> Option<&str> {
        self.types
            .get(name)
            .or_else(|| family_of(name).and_then(|family| self.types.get(family)))
            .map(String::as_str)
    }

    /// The sum of every sample named `name` whose labels pass `keep`.
    pub fn sum_where(&self, name: &str, keep: impl Fn(&BTreeMap<String, String>) -> bool) -> f64 {
        self.samples
            .iter()
            .filter(|sample| sample.name == name && keep(&sample.labels))
            // A fold from +0.0: an empty float sum is -0.0, shown as "-0".
            .fold(0.0, |total, sample| total + sample.value)
    }

    /// The value of the sample named `name` (the first, or the sum of all
    /// when it has several series); `None` when there is none.
    pub fn value(&self, name: &str) -> Option<f64> {
        let mut matching = self
            .samples
            .iter()
            .filter(|sample| sample.name == name)
            .peekable();
        matching.peek()?;
        Some(matching.fold(0.0, |total, sample| total + sample.value))
    }
}

/// The family a sample name belongs to, when it carries a known suffix.
fn family_of(name: &str) -> Option<&str> {
    SUFFIXES.iter().find_map(|suffix| name.strip_suffix(suffix))
}

/// `name{a="b",c="d"} value [timestamp] [# exemplar]`.
fn parse_sample(line: &str) -> Result<Sample, &'static str> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("a sample must start with a metric name");
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        rest = parse_labels(after_brace, &mut labels)?;
    }
    let mut fields = rest.split_whitespace();
    let value = fields.next().ok_or("a sample has no value")?;
    let value = parse_value(value).ok_or("a sample's value is not a number")?;
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Reads `a="b",c="d"}` into `labels`; returns what follows the `}`.
fn parse_labels<'a>(
    mut rest: &'a str,
    labels: &mut BTreeMap<String, String>,
) -> Result<&'a str, &'static str> {
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let (name, after_name) = rest.split_once('=').ok_or("a label has no value")?;
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err("a label name is invalid");
        }
        let after_name = after_name
            .trim_start()
            .strip_prefix('"')
            .ok_or("a label value is not quoted")?;
        let mut value = String::new();
        let mut chars = after_name.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("a label value is not closed"),
                Some((at, '"')) => break at,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => value.push(other),
                    None => return Err("a label value is not closed"),
                },
                Some((_, other)) => value.push(other),
            }
        };
        labels.insert(name.to_owned(), value);
        rest = after_name[end + 1..].trim_start();
        if let Some(after_comma) = rest.strip_prefix(',') {
            rest = after_comma;
        } else if !rest.starts_with('}') {
            return Err("labels must be separated by commas");
        }
    }
}

/// A sample value: a float, or `+Inf`, `-Inf`, `NaN`.
fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENMETRICS: &str = r#"# HELP sentinel_pushes Manifests pushed.
# TYPE sentinel_pushes counter
sentinel_pushes_total 3
# TYPE sentinel_http_request_duration_seconds histogram
# UNIT sentinel_http_request_duration_seconds seconds
sentinel_http_request_duration_seconds_sum{api="oci",endpoint="manifest",method="GET",status="200"} 0.012
sentinel_http_request_duration_seconds_count{api="oci",endpoint="manifest",method="GET",status="200"} 10
sentinel_http_request_duration_seconds_bucket{le="0.005",api="oci",endpoint="manifest",method="GET",status="200"} 9
sentinel_http_request_duration_seconds_bucket{le="+Inf",api="oci",endpoint="manifest",method="GET",status="200"} 10
sentinel_http_request_duration_seconds_count{api="oci",endpoint="blob",method="GET",status="500"} 2
# TYPE sentinel_build_info gauge
sentinel_build_info{version="0.1.0"} 1
# EOF
this is not parsed
"#;

    #[test]
    fn reads_openmetrics_text() {
        let exposition = Exposition::parse(OPENMETRICS).unwrap();
        assert_eq!(exposition.samples.len(), 7);
        assert_eq!(exposition.value("sentinel_pushes_total"), Some(3.0));
        assert_eq!(exposition.types["sentinel_pushes"], "counter");
        assert_eq!(
            exposition.types["sentinel_http_request_duration_seconds"],
            "histogram"
        );
        let count = "sentinel_http_request_duration_seconds_count";
        assert_eq!(exposition.sum_where(count, |_| true), 12.0);
        let none = exposition.sum_where(count, |labels| labels["status"] == "404");
        assert!(none == 0.0 && none.is_sign_positive(), "{none}");
        assert_eq!(
            exposition.sum_where(count, |labels| labels["status"].starts_with('5')),
            2.0
        );
        let inf = &exposition.samples[4];
        assert_eq!(inf.value, 10.0);
        assert_eq!(inf.labels["le"], "+Inf");
        assert_eq!(exposition.samples[6].labels["version"], "0.1.0");
    }

    #[test]
    fn a_family_name_selects_all_its_samples() {
        let exposition = Exposition::parse(OPENMETRICS).unwrap();
        assert_eq!(exposition.series("sentinel_pushes").len(), 1);
        assert_eq!(exposition.kind_of("sentinel_pushes_total"), Some("counter"));
        assert_eq!(exposition.kind_of("sentinel_pushes"), Some("counter"));
        assert_eq!(exposition.kind_of("sentinel_missing_total"), None);
        assert_eq!(exposition.series("sentinel_pushes_total").len(), 1);
        assert_eq!(
            exposition
                .series("sentinel_http_request_duration_seconds")
                .len(),
            5
        );
        assert!(exposition.series("sentinel_missing").is_empty());
        assert_eq!(exposition.value("sentinel_missing"), None);
    }

    #[test]
    fn reads_the_classic_text_format() {
        let text = "# HELP go_goroutines Number of goroutines.\n\
                    # TYPE go_goroutines gauge\n\
                    go_goroutines 42\n\
                    http_requests_total{code=\"200\",handler=\"/v2/\"} 1027 1395066363000\n\
                    weird{path=\"C:\\\\dir\\\\\",text=\"say \\\"hi\\\"\\nbye\"} -Inf\n\
                    missing_ratio NaN\n\
                    rpc_duration_seconds{quantile=\"0.5\"} 4.773e+03\n\
                    empty_labels{} 1\n\
                    trailing_comma{a=\"b\",} 2\n";
        let exposition = Exposition::parse(text).unwrap();
        assert_eq!(exposition.value("go_goroutines"), Some(42.0));
        assert_eq!(exposition.value("http_requests_total"), Some(1027.0));
        let weird = &exposition.samples[2];
        assert_eq!(weird.labels["path"], "C:\\dir\\");
        assert_eq!(weird.labels["text"], "say \"hi\"\nbye");
        assert_eq!(weird.value, f64::NEG_INFINITY);
        assert!(exposition.value("missing_ratio").unwrap().is_nan());
        assert_eq!(exposition.value("rpc_duration_seconds"), Some(4773.0));
        assert!(exposition.samples[5].labels.is_empty());
        assert_eq!(exposition.samples[6].labels["a"], "b");
    }

    #[test]
    fn an_exemplar_after_the_value_is_ignored() {
        let text = "requests_total{path=\"/\"} 5 # {trace_id=\"abc\"} 1.0 1520879607.789\n";
        let exposition = Exposition::parse(text).unwrap();
        assert_eq!(exposition.value("requests_total"), Some(5.0));
    }

    #[test]
    fn malformed_lines_are_reported_with_their_number() {
        let cases = [
            (
                "ok 1\n{a=\"b\"} 1\n",
                2,
                "a sample must start with a metric name",
            ),
            ("m{a=\"b} 1\n", 1, "a label value is not closed"),
            ("m{a=b} 1\n", 1, "a label value is not quoted"),
            ("m{a} 1\n", 1, "a label has no value"),
            (
                "m{a=\"b\" c=\"d\"} 1\n",
                1,
                "labels must be separated by commas",
            ),
            ("m\n", 1, "a sample has no value"),
            ("m one\n", 1, "a sample's value is not a number"),
            ("<html>\n", 1, "a sample must start with a metric name"),
        ];
        for (text, line, reason) in cases {
            assert_eq!(
                Exposition::parse(text),
                Err(ExpositionError { line, reason }),
                "{text}"
            );
        }
    }
}
