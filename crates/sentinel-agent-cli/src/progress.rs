//! Progress bars on a terminal; nothing when quiet or not a terminal.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sentinel_client::TransferProgress;
use sentinel_workflows::{Progress, Transfer};

/// The set of bars of one command.
pub struct Bars {
    multi: Option<MultiProgress>,
}

impl Bars {
    /// Bars on standard error when it is a terminal and `quiet` is off.
    pub fn new(quiet: bool) -> Bars {
        let visible = !quiet && std::io::stderr().is_terminal();
        Bars {
            multi: visible.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }
}

/// A bar for each transfer of a workflow.
impl Progress for Bars {
    type Transfer = TransferBar;

    fn transfer(&self, label: &str, total: u64) -> TransferBar {
        let bar = match &self.multi {
            Some(multi) => {
                let bar = multi.add(ProgressBar::new(total));
                let style = ProgressStyle::with_template(
                    "{prefix:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                bar.set_style(style);
                bar.set_prefix(label.to_string());
                bar
            }
            None => ProgressBar::hidden(),
        };
        TransferBar { bar }
    }
}

/// One transfer's bar; finishes (and clears) when dropped.
pub struct TransferBar {
    bar: ProgressBar,
}

impl Transfer for TransferBar {
    fn finish_with(&self, message: &str) {
        self.bar.set_position(self.bar.length().unwrap_or(0));
        self.bar.finish_with_message(message.to_string());
    }
}

impl TransferProgress for TransferBar {
    fn advanced(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn restarted_at(&self, offset: u64) {
        self.bar.set_position(offset);
    }
}

impl Drop for TransferBar {
    fn drop(&mut self) {
        if !self.bar.is_finished() {
            self.bar.finish();
        }
    }
}

/// A byte count for a person: `1.5 MiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes_read_like_a_person_writes_them() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(100 * 1024 * 1024), "100.0 MiB");
    }
}
