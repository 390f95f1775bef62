//! `oathvault formats`: what this version reads and writes.

use oathvault_formats::Format;

#[allow(clippy::print_stdout, reason = "the command's output")]
pub fn run(json: bool) {
    if json {
        let all: Vec<serde_json::Value> = Format::ALL
            .iter()
            .map(|f| {
                serde_json::json!({
                    "name": f.name(),
                    "extension": f.extension(),
                    "read": f.readable(),
                    "write": f.writable(),
                    "description": f.describe(),
                })
            })
            .collect();
        say!("{}", serde_json::Value::Array(all));
        return;
    }
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
