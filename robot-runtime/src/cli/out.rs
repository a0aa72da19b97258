//! Writing the command line's results to stdout. A reader that goes away
//! early (`| head -1`) is not an error of ours: the process ends at once,
//! quietly, with 141 (128 + SIGPIPE, what a shell reports for a program
//! killed by the broken pipe), so `set -o pipefail` scripts see the
//! conventional code and no panic message. The output was cut, so it is
//! not 0: `hrobot audit verify | head -1` did not finish verifying.

use std::io::Write;

/// The exit code after stdout was closed by its reader.
pub const BROKEN_PIPE_EXIT: i32 = 141;

/// One line to stdout.
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let r = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    ended(r);
}

/// Text to stdout, no newline.
pub fn text(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let r = out.write_fmt(args);
    ended(r);
}

fn ended(r: std::io::Result<()>) {
    match r {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(BROKEN_PIPE_EXIT),
        Err(e) => {
            eprintln!("error: writing to stdout: {e}");
            std::process::exit(74)
        }
    }
}
