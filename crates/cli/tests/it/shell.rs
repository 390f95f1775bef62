//! `oathvault completions` and `oathvault man`: bash completes subcommands
//! with the generated script, every shell gets a script, and `docs/man/` is
//! what the command-line definition makes now (refresh it with the command
//! the failure names).
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failure is a failed test"
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_oathvault");

fn completions(shell: &str) -> String {
    let out = Command::new(BIN)
        .args(["completions", shell])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What bash offers for `words` (the last one being completed).
fn bash_completes(words: &[&str]) -> Vec<String> {
    let script =
        std::env::temp_dir().join(format!("oathvault-completion-{}.bash", std::process::id()));
    std::fs::write(&script, completions("bash")).unwrap();
    let cword = words.len() - 1;
    let prev = if cword > 0 { words[cword - 1] } else { "" };
    let program = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={cword}; _oathvault oathvault '{}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        words.join(" "),
        words[cword],
    );
    let out = Command::new("bash")
        .args(["-c", &program])
        .output()
        .unwrap();
    std::fs::remove_file(&script).ok();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_commands_and_flags_and_every_shell_gets_a_script() {
    assert_eq!(bash_completes(&["oathvault", "por"]), ["portal"]);
    assert_eq!(bash_completes(&["oathvault", "portal", "se"]), ["serve"]);
    let flags = bash_completes(&["oathvault", "portal", "serve", "--bas"]);
    assert_eq!(flags, ["--base-url"]);
    for (shell, marker) in [
        ("zsh", "#compdef oathvault"),
        ("fish", "complete -c oathvault"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let script = completions(shell);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("serve"), "{shell}");
    }
    let out = Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

fn pages(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_man_pages_in_docs_are_fresh() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["man", "--out"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made = pages(tmp.path());
    assert!(made.contains_key("oathvault.1") && made.contains_key("oathvault-portal-serve.1"));
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/man");
    let kept = pages(&docs);
    let stale: std::collections::BTreeSet<&String> = made
        .keys()
        .chain(kept.keys())
        .filter(|k| made.get(*k) != kept.get(*k))
        .collect();
    assert!(
        stale.is_empty(),
        "docs/man is stale ({stale:?} differ): run `cargo run -p oathvault -- man --out docs/man` (after `rm -r docs/man`) and commit the result"
    );
}
