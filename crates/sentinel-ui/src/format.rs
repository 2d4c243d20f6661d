//! How numbers and times read on a page.

/// A size in bytes as people read it: `512 B`, `1.5 KB`, `12 MB`, `3.1 GB`
/// (powers of 1,000, as `docker images` shows them).
pub fn bytes(size: u64) -> String {
    const UNITS: [&str; 5] = ["KB", "MB", "GB", "TB", "PB"];
    if size < 1000 {
        return format!("{size} B");
    }
    let mut value = size as f64;
    let mut unit = "B";
    for next in UNITS {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = next;
    }
    if value < 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.0} {unit}")
    }
}

/// A count with thousands separated: `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count and its noun: `1 download`, `1,204 downloads`.
pub fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

/// How long ago `then` was at `now` (both in seconds since the Unix epoch):
/// `just now`, `5 minutes ago`, `3 days ago`, `2 years ago`.
pub fn ago(now: u64, then: u64) -> String {
    let seconds = now.saturating_sub(then);
    let (n, unit) = match seconds {
        0..60 => return "just now".to_owned(),
        60..3_600 => (seconds / 60, "minute"),
        3_600..86_400 => (seconds / 3_600, "hour"),
        86_400..2_592_000 => (seconds / 86_400, "day"),
        2_592_000..31_536_000 => (seconds / 2_592_000, "month"),
        _ => (seconds / 31_536_000, "year"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_500), "1.5 KB");
        assert_eq!(bytes(12_000_000), "12 MB");
        assert_eq!(bytes(3_100_000_000), "3.1 GB");
    }

    #[test]
    fn counts() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn counted_nouns() {
        assert_eq!(counted(0, "tag", "tags"), "0 tags");
        assert_eq!(counted(1, "tag", "tags"), "1 tag");
        assert_eq!(counted(1_204, "download", "downloads"), "1,204 downloads");
    }

    #[test]
    fn times() {
        assert_eq!(ago(100, 100), "just now");
        assert_eq!(ago(100, 200), "just now");
        assert_eq!(ago(3_600, 0), "1 hour ago");
        assert_eq!(ago(5 * 60, 0), "5 minutes ago");
        assert_eq!(ago(3 * 86_400, 0), "3 days ago");
        assert_eq!(ago(2 * 31_536_000, 0), "2 years ago");
    }
}
