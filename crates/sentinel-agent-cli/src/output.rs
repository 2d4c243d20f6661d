//! Standard output that ends the program quietly when its reader goes away
//! (`agent images | head -1`), instead of panicking on a broken pipe.

use std::io::Write;

/// Writes formatted text to standard output; a closed pipe ends the process
/// with success, as the reader has all it wanted.
pub fn write(arguments: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout.write_fmt(arguments).and_then(|()| stdout.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("agent: cannot write to standard output: {error}");
        std::process::exit(i32::from(crate::exit::GENERAL));
    }
}

/// The first 12 hex digits of a digest, as tables show it.
pub fn short_digest(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, hex)| hex);
    hex[..hex.len().min(12)].to_string()
}

/// Prints `rows` under `headers` in aligned columns, three spaces apart,
/// with no trailing spaces.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|header| header.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: &[&str]| {
        let mut text = String::new();
        for (index, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if index + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}   "));
            }
        }
        write(format_args!("{}\n", text.trim_end()));
    };
    line(headers);
    for row in rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(&cells);
    }
}

/// `println!` for command output.
macro_rules! say {
    () => { $crate::output::write(format_args!("\n")) };
    ($($argument:tt)*) => {
        $crate::output::write(format_args!("{}\n", format_args!($($argument)*)))
    };
}

/// `print!` for command output.
macro_rules! say_raw {
    ($($argument:tt)*) => { $crate::output::write(format_args!($($argument)*)) };
}

pub(crate) use {say, say_raw};
