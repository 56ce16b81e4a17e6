//! Every `alchemiser ...` command written in docs/runbooks.md exists: its subcommand answers
//! `--help`, and every `--option` written after it appears in that help. A runbook step that
//! names a command the tool does not have fails here, not on a bad day.

use std::collections::BTreeSet;
use std::process::Command;

fn runbooks() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/runbooks.md");
    std::fs::read_to_string(path).expect("docs/runbooks.md is readable")
}

/// The `alchemiser` command lines of the markdown: in code blocks (a line starting with the
/// command, `\` continuations joined) and in inline code (after a backtick).
fn commands(markdown: &str) -> Vec<Vec<String>> {
    let joined = markdown.replace("\\\n", " ");
    let mut found = Vec::new();
    for line in joined.lines() {
        let mut search = 0;
        while let Some(offset) = line[search..].find("alchemiser ") {
            let start = search + offset;
            search = start + "alchemiser ".len();
            let before = &line[..start];
            let at_command_start = before.trim().is_empty() || before.ends_with('`');
            if !at_command_start {
                continue;
            }
            // Drop command substitutions (`--queue-url $(aws ssm ...)`): not our options.
            let mut rest = line[search..].to_owned();
            while let Some(open) = rest.find("$(") {
                let close = rest[open..].find(')').map_or(rest.len(), |c| open + c + 1);
                rest.replace_range(open..close, "VALUE");
            }
            let end = rest.find(['`', '|', ';', ')']).unwrap_or(rest.len());
            let words: Vec<String> = rest[..end].split_whitespace().map(str::to_owned).collect();
            if !words.is_empty() {
                found.push(words);
            }
        }
    }
    found
}

fn help(args: &[&str]) -> Option<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_alchemiser"))
        .args(args)
        .arg("--help")
        .output()
        .expect("the alchemiser binary runs");
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn every_alchemiser_command_in_the_runbooks_exists() {
    let markdown = runbooks();
    let commands = commands(&markdown);
    let mut checked = BTreeSet::new();
    for words in &commands {
        let subcommands: Vec<&str> = words
            .iter()
            .take_while(|w| {
                !w.is_empty()
                    && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
                    && !w.starts_with('-')
            })
            .map(String::as_str)
            .take(2)
            .collect();
        assert!(
            !subcommands.is_empty(),
            "runbook command without a subcommand: alchemiser {}",
            words.join(" ")
        );
        // `alchemiser dlq list`: both words are subcommands; `alchemiser invoke execution`: the
        // second is an argument (invoke has no subcommands).
        let (path, text) = match help(&subcommands) {
            Some(text) => (subcommands.clone(), text),
            None => {
                let first = &subcommands[..1];
                let text = help(first).unwrap_or_else(|| {
                    panic!(
                        "docs/runbooks.md mentions `alchemiser {}`, which does not exist",
                        words.join(" ")
                    )
                });
                assert!(
                    !text.contains("\nCommands:"),
                    "docs/runbooks.md mentions `alchemiser {}`: `{}` is not a subcommand of `{}`",
                    words.join(" "),
                    subcommands[1],
                    subcommands[0]
                );
                (first.to_vec(), text)
            }
        };
        for option in words.iter().filter(|w| w.starts_with("--")) {
            let name = option.split('=').next().unwrap_or(option);
            assert!(
                text.contains(&format!("{name} ")) || text.contains(&format!("{name}\n")),
                "docs/runbooks.md uses `{name}` with `alchemiser {}`, which has no such option",
                path.join(" ")
            );
        }
        checked.insert(path.join(" "));
    }
    for expected in [
        "dlq list",
        "dlq show",
        "dlq redrive",
        "dlq delete",
        "workflows list",
        "workflows show",
        "workflows sweep",
        "replay",
        "outbox drain",
        "invoke",
        "validate",
    ] {
        assert!(
            checked.contains(expected),
            "expected the runbooks to use `alchemiser {expected}`; checked {checked:?}"
        );
    }
}

#[test]
fn the_checker_finds_commands_and_rejects_unknown_ones() {
    let sample = "Run `alchemiser outbox drain --queue-url $(aws x --name y) --bus-name b` and `alchemiser dlq list --stage X`.\n```\n  alchemiser replay --stage X \\\n    --wait\n```\nnot cargo run -p alchemiser -- run\n";
    let found = commands(sample);
    assert_eq!(found.len(), 3, "{found:?}");
    assert_eq!(
        found[0],
        ["outbox", "drain", "--queue-url", "VALUE", "--bus-name", "b"]
    );
    assert_eq!(found[1], ["dlq", "list", "--stage", "X"]);
    assert!(found[2].contains(&"--wait".to_owned()));
    assert!(help(&["no-such-command"]).is_none());
}
