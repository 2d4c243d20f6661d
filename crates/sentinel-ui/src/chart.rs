//! Downloads per day as a small bar chart, drawn by the server as inline
//! SVG: presentation attributes only (the Content-Security-Policy allows no
//! inline style), one bar per day with a `<title>` naming the day and its
//! count, and `role="img"` with an `aria-label` that sums it up.

use std::fmt::Write;

/// The chart's width, in SVG units: about the width it is drawn at in the
/// package page's side column, so its text reads at its font size.
const WIDTH: u32 = 300;
/// The bars' greatest height.
const BARS_HEIGHT: u32 = 60;
/// Room under the bars for the first and last dates.
const AXIS_HEIGHT: u32 = 16;
/// The gap between bars.
const GAP: u32 = 1;

/// The date of `day` (days since the Unix epoch) as `YYYY-MM-DD`.
pub fn date(day: u32) -> String {
    // Howard Hinnant's days-to-civil, for days after 1970.
    let z = i64::from(day) + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The SVG of `days`, `(day, downloads)` oldest first.
pub fn downloads_chart(days: &[(u32, u64)]) -> String {
    let total: u64 = days.iter().map(|(_, n)| n).sum();
    let most = days.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let count = u32::try_from(days.len()).unwrap_or(u32::MAX).max(1);
    let slot = WIDTH / count;
    let bar = slot.saturating_sub(GAP).max(1);
    let height = BARS_HEIGHT + AXIS_HEIGHT;
    let total_noun = if total == 1 { "download" } else { "downloads" };
    let mut svg = String::with_capacity(200 + days.len() * 120);
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="{total} {total_noun} in the last {} days, at most {most} in a day">"##,
        days.len()
    );
    let _ = write!(
        svg,
        r##"<line x1="0" y1="{BARS_HEIGHT}" x2="{WIDTH}" y2="{BARS_HEIGHT}" stroke="#c9ced6" stroke-width="1"/>"##
    );
    for (at, (day, downloads)) in (0u32..).zip(days) {
        // Every day has a bar to point at; a day without downloads a sliver.
        let tall = downloads
            .saturating_mul(u64::from(BARS_HEIGHT))
            .checked_div(most)
            .map_or(1, |scaled| {
                u32::try_from(scaled).unwrap_or(BARS_HEIGHT).max(1)
            });
        let fill = if *downloads == 0 {
            "#dfe3e8"
        } else {
            "#3b6fd8"
        };
        let noun = if *downloads == 1 {
            "download"
        } else {
            "downloads"
        };
        let _ = write!(
            svg,
            r##"<rect x="{}" y="{}" width="{bar}" height="{tall}" fill="{fill}"><title>{}: {downloads} {noun}</title></rect>"##,
            at * slot,
            BARS_HEIGHT - tall,
            date(*day)
        );
    }
    if let (Some((first, _)), Some((last, _))) = (days.first(), days.last()) {
        let y = height - 3;
        let _ = write!(
            svg,
            r##"<text x="0" y="{y}" font-size="11" fill="#6b7280">{}</text><text x="{WIDTH}" y="{y}" font-size="11" fill="#6b7280" text-anchor="end">{}</text>"##,
            date(*first),
            date(*last)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_read_as_dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(59), "1970-03-01");
        assert_eq!(date(11_016), "2000-02-29");
        assert_eq!(date(20_429), "2025-12-07");
        assert_eq!(date(20_794), "2026-12-07");
    }

    #[test]
    fn every_day_is_a_bar_with_its_title() {
        let days: Vec<(u32, u64)> = (0..30).map(|i| (20_765 + i, u64::from(i % 3))).collect();
        let svg = downloads_chart(&days);
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"), "{svg}");
        assert_eq!(svg.matches("<rect ").count(), 30);
        assert_eq!(svg.matches("<title>").count(), 30);
        assert!(
            svg.contains("<title>2026-11-08: 0 downloads</title>"),
            "{svg}"
        );
        assert!(
            svg.contains("<title>2026-11-09: 1 download</title>"),
            "{svg}"
        );
        assert!(svg.contains(r#"role="img""#));
        assert!(
            svg.contains(r#"aria-label="30 downloads in the last 30 days, at most 2 in a day""#),
            "{svg}"
        );
        // Presentation attributes only: nothing the CSP would block.
        assert!(!svg.contains("style"));
        assert!(!svg.contains("<script"));
        // The busiest day fills the height; the others scale.
        assert!(svg.contains(r#"y="0" width="9" height="60""#), "{svg}");
        assert!(svg.contains(r#"y="30" width="9" height="30""#), "{svg}");
    }

    #[test]
    fn no_downloads_draw_slivers_and_no_days_draw_an_empty_chart() {
        let svg = downloads_chart(&[(20_000, 0), (20_001, 0)]);
        assert_eq!(svg.matches(r#"height="1""#).count(), 2, "{svg}");
        assert!(svg.contains("0 downloads in the last 2 days"));
        assert!(downloads_chart(&[(20_000, 1)]).contains("1 download in the last 1 days"));
        let empty = downloads_chart(&[]);
        assert!(empty.contains(r#"role="img""#) && !empty.contains("<rect"));
    }
}
