//! `oathvault formats`: what this version reads and writes.

use oathvault_formats::Format;

#[allow(clippy::print_stdout, reason = "the command's output")]
pub fn run() {
    for f in Format::ALL {
        let modes = if f.writable() { "read, write" } else { "read" };
        println!(
            "{:<12} {:<6} {modes:<13} {}",
            f.name(),
            format!(".{}", f.extension()),
            f.describe()
        );
    }
}
