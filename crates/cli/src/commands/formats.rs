//! `oathvault formats`: what this version reads and writes.

use oathvault_formats::Format;

#[allow(clippy::print_stdout, reason = "the command's output")]
pub fn run() {
    for f in Format::ALL {
        let modes = match (f.readable(), f.writable()) {
            (true, true) => "read, write",
            (true, false) => "read",
            _ => "write",
        };
        say!(
            "{:<15} {:<6} {modes:<12} {}",
            f.name(),
            format!(".{}", f.extension()),
            f.describe()
        );
    }
}
