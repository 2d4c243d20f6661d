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
