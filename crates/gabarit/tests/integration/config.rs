//! Configuration layers, through the binary: built-in → file → `GABARIT_SECTION__KEY` →
//! the flags (and their own variables); bad files stop every command, naming the key.

use std::process::Command;

use super::run;

/// The binary with none of the variables these tests set.
fn bare() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gabarit"));
    for var in ["GABARIT_MODELS", "GABARIT_CONFIG", "GABARIT_PATHS__MODELS", "GABARIT_SERVE__LISTEN"] {
        c.env_remove(var);
    }
    c
}

fn stdout(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn each_layer_overrides_the_one_before() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gabarit.toml");
    fs_err::write(&file, "[paths]\nmodels = \"/from/file\"\n\n[ingest]\nbatch = 17\n\n[serve]\nmax_upload_mib = 7\n")
        .unwrap();
    let file = file.to_str().unwrap();
    assert_eq!(stdout(bare().args(["--config", file, "models", "path"])), "/from/file");
    assert_eq!(stdout(bare().args(["models", "path"]).env("GABARIT_CONFIG", file)), "/from/file");
    assert_eq!(
        stdout(bare().args(["--config", file, "models", "path"]).env("GABARIT_PATHS__MODELS", "/from/env")),
        "/from/env"
    );
    assert_eq!(
        stdout(
            bare()
                .args(["--config", file, "models", "path"])
                .env("GABARIT_PATHS__MODELS", "/from/env")
                .env("GABARIT_MODELS", "/from/flag-variable")
        ),
        "/from/flag-variable"
    );
    assert_eq!(
        stdout(
            bare()
                .args(["--config", file, "models", "path", "--models", "/from/flag"])
                .env("GABARIT_PATHS__MODELS", "/from/env")
                .env("GABARIT_MODELS", "/from/flag-variable")
        ),
        "/from/flag"
    );
    // What is in force, as TOML: the file's values over the defaults, the variables over both.
    let shown: toml::Table =
        stdout(bare().args(["--config", file, "config"]).env("GABARIT_SERVE__LISTEN", "127.0.0.1:9001"))
            .parse()
            .unwrap();
    assert_eq!(shown["serve"]["max_upload_mib"].as_integer(), Some(7));
    assert_eq!(shown["serve"]["listen"].as_str(), Some("127.0.0.1:9001"));
    assert_eq!(shown["ingest"]["batch"].as_integer(), Some(17));
    assert_eq!(shown["ingest"]["video_max_side"].as_integer(), Some(1920), "a default the file leaves alone");
    // The flags' help shows the values in force.
    let help = stdout(bare().args(["--config", file, "serve", "--help"]));
    assert!(help.contains("[default: 7]"), "{help}");
    assert!(help.contains("[default: 17]"), "the server's ingestion batch follows ingest.batch: {help}");
}

#[test]
fn a_bad_configuration_stops_every_command_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gabarit.toml");
    let cases = [
        ("[serve]\nlisen = \"127.0.0.1:1\"\n", "key serve.lisen: unknown field"),
        ("[serve]\nmax_upload_mib = \"lots\"\n", "key serve.max_upload_mib: invalid type"),
        ("[engine]\nbackend = \"cuda\"\n", "engine.backend: unknown backend \"cuda\""),
        ("[serve]\nretention_every = \"weekly\"\n", "serve.retention_every"),
        ("[paths\n", "gabarit.toml"),
    ];
    for (text, expected) in cases {
        fs_err::write(&file, text).unwrap();
        let out = run(bare().args(["--config", file.to_str().unwrap(), "models", "path"]));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {stderr}");
        assert!(stderr.contains(expected), "{text}: {stderr}");
        assert!(out.stdout.is_empty(), "{text}: nothing done");
    }
    let out = run(bare().args(["models", "path"]).env("GABARIT_SERVE__MAX_UPLOAD_MIB", "lots"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("environment variable GABARIT_SERVE__MAX_UPLOAD_MIB"));
    let out = run(bare().args(["--config", "/nonexistent/gabarit.toml", "models", "path"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/gabarit.toml: not found"));
}
