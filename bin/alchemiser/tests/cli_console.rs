//! The local ledger as a newcomer meets it: `alchemiser run` records each workflow (a failing
//! one as failed, with its reason), `workflows list|show` read it without a stage, `invoke
//! monitor` records into it as a stage's monitor does, and `alchemiser console` serves it on
//! 127.0.0.1 — with clear words when there is no ledger yet.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

fn alchemiser(ledger: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_alchemiser"));
    command
        .env("ALCHEMISER_LEDGER", ledger)
        .env_remove("AWS_PROFILE");
    command
}

fn run(command: &mut Command) -> (String, String, bool) {
    let output = command.output().expect("the alchemiser binary runs");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        output.status.success(),
    )
}

#[test]
fn a_run_is_recorded_and_workflows_list_and_show_read_it_without_a_stage() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite3");
    let (out, err, ok) =
        run(alchemiser(&ledger).args(["run", "--ledger", ledger.to_str().unwrap()]));
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("recorded in {}", ledger.display())),
        "{out}"
    );
    let unpriced = dir.path().join("unpriced.json");
    std::fs::write(
        &unpriced,
        r#"{"strategy": "<img src=x onerror=alert(1)>", "target_allocations": {"SPY": "0.5", "NVDA": "0.5"}}"#,
    )
    .unwrap();
    let (out, _, ok) =
        run(alchemiser(&ledger).args(["run", "--allocation", unpriced.to_str().unwrap()]));
    assert!(!ok, "a failing run exits 1");
    assert!(out.contains("failure: at portfolio"), "{out}");

    let (listed, _, ok) = run(alchemiser(&ledger).args(["workflows", "list", "--json"]));
    assert!(ok);
    let summaries: Vec<Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let states: Vec<&str> = summaries
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["completed", "failed"]);
    let failed = summaries[1]["correlation_id"].as_str().unwrap();
    assert!(summaries[1]["failure"]["reason"]
        .as_str()
        .unwrap()
        .contains("no price for `NVDA`"));

    let completed = summaries[0]["correlation_id"].as_str().unwrap();
    let (shown, err, ok) =
        run(alchemiser(&ledger).args(["workflows", "show", completed, "--json"]));
    assert!(ok, "{err}");
    let view: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(view["summary"]["state"], "completed");
    assert_eq!(view["entries"].as_array().unwrap().len(), 5);
    assert_eq!(view["plan"]["items"].as_array().unwrap().len(), 2);
    assert_eq!(view["orders"][0]["status"], "FILLED");
    assert_eq!(
        view["signal"]["target_weights"].as_array().unwrap().len(),
        2
    );
    let (tree, _, ok) = run(alchemiser(&ledger).args(["workflows", "show", failed]));
    assert!(ok);
    assert!(
        tree.contains("WorkflowFailed") && tree.contains("no price for `NVDA`"),
        "{tree}"
    );

    let (_, err, ok) = run(alchemiser(&ledger).args(["workflows", "sweep"]));
    assert!(!ok);
    assert!(err.contains("name the stage with --stage"), "{err}");
}

#[test]
fn without_a_ledger_the_commands_say_what_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("none.sqlite3");
    let (_, err, ok) = run(alchemiser(&ledger).args(["workflows", "list"]));
    assert!(!ok);
    assert!(err.contains("run `alchemiser run`"), "{err}");
    assert!(!ledger.exists(), "a reader created the ledger");
}

#[test]
fn invoke_monitor_records_an_event_in_the_local_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite3");
    let event = dir.path().join("failed.json");
    std::fs::write(
        &event,
        serde_json::json!({
            "correlation_id": "workflow-invoked", "causation_id": "workflow-invoked",
            "event_id": "workflow-failed-1", "event_type": "WorkflowFailed",
            "timestamp": "2026-12-06T12:00:00Z", "source_module": "execution",
            "schema_version": "1.0", "workflow_type": "trading",
            "failure_reason": "<img src=x onerror=alert(1)>", "failure_step": "execution",
            "error_details": {}
        })
        .to_string(),
    )
    .unwrap();
    let (_, err, ok) =
        run(alchemiser(&ledger).args(["invoke", "monitor", "--event", event.to_str().unwrap()]));
    assert!(ok, "{err}");
    let (shown, err, ok) =
        run(alchemiser(&ledger).args(["workflows", "show", "workflow-invoked", "--json"]));
    assert!(ok, "{err}");
    let view: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(view["summary"]["state"], "failed");
    assert_eq!(view["failure"]["reason"], "<img src=x onerror=alert(1)>");
}

/// The console on a free port, killed when dropped.
struct Served {
    child: Child,
    address: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(ledger: &Path) -> Served {
    let mut child = alchemiser(ledger)
        .args(["console", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .strip_prefix("http://")
        .and_then(|a| a.strip_suffix('/'))
        .unwrap_or_else(|| panic!("the console printed `{line}`, not its address"))
        .to_owned();
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    Served { child, address }
}

/// GET `path` with HTTP/1.1: the status line and the whole answer.
fn get(served: &Served, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(&served.address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        served.address
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.lines().next().unwrap_or_default().to_owned();
    (status, answer)
}

#[test]
fn the_console_serves_the_local_ledger_on_loopback_and_says_when_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite3");
    let served = serve(&ledger);
    let (status, answer) = get(&served, "/");
    assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
    assert!(answer.contains("run `alchemiser run`"), "{answer}");

    // A run while the console is open: the next page shows it.
    let (_, err, ok) = run(alchemiser(&ledger).args(["run"]));
    assert!(ok, "{err}");
    let (status, answer) = get(&served, "/workflows?format=json");
    assert_eq!(status, "HTTP/1.1 200 OK", "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap();
    let model: Value = serde_json::from_str(body).unwrap();
    let id = model["workflows"][0]["correlation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, answer) = get(&served, &format!("/workflow?id={id}"));
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(answer
        .to_ascii_lowercase()
        .contains("content-security-policy: default-src 'none'"));
    assert!(answer.contains(&id) && answer.contains("Orders and fills"));
}
