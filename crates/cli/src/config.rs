//! Configuration: one typed [`Config`] with built-in defaults, layered
//! built-in → `gabarit.toml` → `GABARIT_SECTION__KEY` environment variables → flags.
//!
//! The file is the one `--config` or `GABARIT_CONFIG` names, else `gabarit.toml` in the
//! user's configuration directory when it exists. The layered values become the defaults of
//! the flags they stand for ([`with_defaults`]), so a flag given (or its own environment
//! variable, such as `GABARIT_DATA`) wins, and `--help` shows the values in force.
//! `config/reference.toml` lists every key with its default (a test keeps it true). Secrets
//! (the key-encryption key, API keys, passwords) are never read from flags or from this file:
//! only files named here, or their environment variables.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use gabarit_engine::faces::DecodeLimits;
use gabarit_engine::models::{Backend, Precision};
use gabarit_engine::walk::Budget;

/// Every setting a file or the environment may give, with its default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Config {
    /// Where things are.
    pub(crate) paths: Paths,
    /// The face engine.
    pub(crate) engine: Engine,
    /// Ingestion (`ingest`, `collection reembed`, the server's jobs).
    pub(crate) ingest: Ingest,
    /// Searches.
    pub(crate) search: Search,
    /// The HTTP server.
    pub(crate) serve: Serve,
}

/// Where things are (unset: the user's data directory).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Paths {
    /// Data directory (`--data`).
    pub(crate) data: Option<PathBuf>,
    /// Models directory (`--models`).
    pub(crate) models: Option<PathBuf>,
    /// Sample photos (`--samples`).
    pub(crate) samples: Option<PathBuf>,
    /// Key-encryption key file (`--kek-file`): a path, never the key.
    pub(crate) kek_file: Option<PathBuf>,
    /// File holding the API key commands act with (`--key-file`): a path, never the key.
    pub(crate) key_file: Option<PathBuf>,
}

/// The face engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Engine {
    /// Model pack of new collections (`--pack`; unset: open).
    pub(crate) pack: Option<String>,
    /// `ort` or `openvino` (`--backend`; unset: measured or ruled, see `models check`).
    pub(crate) backend: Option<String>,
    /// `f32` or `bf16` (`--precision`; unset: as the backend).
    pub(crate) precision: Option<String>,
    /// Parallel workers (`--workers`; unset: one per core).
    pub(crate) workers: Option<usize>,
    /// Threads per worker (`--threads`).
    pub(crate) threads: usize,
    /// Detector input size: `auto` or a multiple of 32 (`--det-size`).
    pub(crate) det_size: String,
    /// Largest image, pixels (`--max-pixels`).
    pub(crate) max_pixels: u64,
}

impl Default for Engine {
    fn default() -> Self {
        Engine {
            pack: None,
            backend: None,
            precision: None,
            workers: None,
            threads: 1,
            det_size: "auto".into(),
            max_pixels: DecodeLimits::default().max_pixels,
        }
    }
}

/// Ingestion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Ingest {
    /// Photos (or faces, when re-embedding) per stored batch (`--batch`).
    pub(crate) batch: usize,
    /// Most files a run takes (`--max-files`).
    pub(crate) max_files: usize,
    /// Most folder entries a walk visits (`--max-entries`).
    pub(crate) max_entries: usize,
    /// Longest a run lasts, minutes; 0: no limit (`--max-minutes`).
    pub(crate) max_minutes: u64,
    /// Video frames sampled per second (`--video-rate`).
    pub(crate) video_rate: f64,
    /// Scene-change threshold (`--scene-threshold`).
    pub(crate) scene_threshold: f64,
    /// Sample keyframes only (`--keyframes-only`).
    pub(crate) keyframes_only: bool,
    /// Templates kept per video track (`--track-templates`).
    pub(crate) track_templates: usize,
    /// Longest side of sampled frames (`--video-max-side`).
    pub(crate) video_max_side: u32,
}

impl Default for Ingest {
    fn default() -> Self {
        let budget = Budget::default();
        Ingest {
            batch: 32,
            max_files: budget.max_files,
            max_entries: budget.max_entries,
            max_minutes: 0,
            video_rate: 2.0,
            scene_threshold: 0.3,
            keyframes_only: false,
            track_templates: 3,
            video_max_side: 1920,
        }
    }
}

/// Searches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Search {
    /// Days a search keeps its query faces for the reviewers at most, 1 to 365
    /// (`--probe-days`).
    pub(crate) probe_days: u32,
}

impl Default for Search {
    fn default() -> Self {
        Search { probe_days: gabarit_engine::query::DEFAULT_PROBE_DAYS }
    }
}

/// The HTTP server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Serve {
    /// Address to listen on (`--listen`).
    pub(crate) listen: String,
    /// Largest upload, MiB (`--max-upload-mib`).
    pub(crate) max_upload_mib: usize,
    /// Folders curators may ingest from by path (`--ingest-root`).
    pub(crate) ingest_roots: Vec<PathBuf>,
    /// Breadth of graph searches (`--ef-search`; unset: 8192).
    pub(crate) ef_search: Option<usize>,
    /// Interval of the retention runs: "24h", "30m", "90s", "0" (`--retention-every`).
    pub(crate) retention_every: String,
    /// Where the audit chain's checkpoints go (`--anchor-dir`; unset: beside the data
    /// directory).
    pub(crate) anchor_dir: Option<PathBuf>,
}

impl Default for Serve {
    fn default() -> Self {
        Serve {
            listen: "127.0.0.1:8080".into(),
            max_upload_mib: 20,
            ingest_roots: Vec::new(),
            ef_search: None,
            retention_every: "24h".into(),
            anchor_dir: None,
        }
    }
}

/// The configuration file named by `--config` or `GABARIT_CONFIG` in `args` / the
/// environment (read before the flags are parsed: the file sets their defaults), else the
/// user's `gabarit.toml` when it exists.
pub(crate) fn file_named(args: &[std::ffi::OsString]) -> Option<(PathBuf, bool)> {
    let mut named = None;
    for (i, arg) in args.iter().enumerate() {
        let arg = arg.to_string_lossy();
        if let Some(path) = arg.strip_prefix("--config=") {
            named = Some(PathBuf::from(path));
        } else if arg == "--config" {
            named = args.get(i + 1).map(PathBuf::from);
        } else if arg == "--" {
            break;
        }
    }
    if let Some(path) = named.or_else(|| std::env::var_os("GABARIT_CONFIG").map(PathBuf::from)) {
        return Some((path, true));
    }
    let user = directories::ProjectDirs::from("", "", "gabarit")?.config_dir().join("gabarit.toml");
    user.is_file().then_some((user, false))
}

impl Config {
    /// The built-in defaults, then `file` (`required`: it must exist), then the
    /// `GABARIT_SECTION__KEY` environment variables; an unknown key or a value of the wrong
    /// type is an error naming the key and where it came from.
    pub(crate) fn load(file: Option<(&Path, bool)>, env: Env) -> Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some((path, required)) = file {
            if required && !path.is_file() {
                bail!("configuration file {}: not found", path.display());
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let config: Config = figment.merge(env).extract().map_err(|e| {
            let errors: Vec<String> = e.into_iter().map(|e| describe(&e)).collect();
            anyhow::anyhow!("configuration: {}", errors.join("; "))
        })?;
        config.check()?;
        Ok(config)
    }

    /// The `GABARIT_SECTION__KEY` variables of the process environment (the flags' own
    /// variables, such as `GABARIT_DATA`, are read by the flags).
    pub(crate) fn environment() -> Env {
        Env::prefixed("GABARIT_").filter(|key| key.as_str().contains("__")).split("__")
    }

    /// Checks the values clap would otherwise first see as defaults, naming the key.
    fn check(&self) -> Result<()> {
        if let Some(b) = &self.engine.backend {
            b.parse::<Backend>().map_err(anyhow::Error::msg).context("configuration key engine.backend")?;
        }
        if let Some(p) = &self.engine.precision {
            p.parse::<Precision>().map_err(anyhow::Error::msg).context("configuration key engine.precision")?;
        }
        crate::flags::parse_det_size(&self.engine.det_size)
            .map_err(anyhow::Error::msg)
            .context("configuration key engine.det_size")?;
        crate::flags::parse_interval(&self.serve.retention_every)
            .map_err(anyhow::Error::msg)
            .context("configuration key serve.retention_every")?;
        Ok(())
    }

    /// Each setting as the flag it stands for: (flag's argument id, its values); unset
    /// settings are left out.
    pub(crate) fn as_flags(&self) -> Vec<(&'static str, Vec<String>)> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| vec![p.display().to_string()]);
        let text = |s: &Option<String>| s.clone().map(|s| vec![s]);
        let one = |s: String| Some(vec![s]);
        let (p, e, i, s) = (&self.paths, &self.engine, &self.ingest, &self.serve);
        let all = [
            ("data", path(&p.data)),
            ("models", path(&p.models)),
            ("samples", path(&p.samples)),
            ("kek_file", path(&p.kek_file)),
            ("key_file", path(&p.key_file)),
            ("pack", text(&e.pack)),
            ("backend", text(&e.backend)),
            ("precision", text(&e.precision)),
            ("workers", e.workers.map(|w| vec![w.to_string()])),
            ("threads", one(e.threads.to_string())),
            ("det_size", one(e.det_size.clone())),
            ("max_pixels", one(e.max_pixels.to_string())),
            ("batch", one(i.batch.to_string())),
            ("max_files", one(i.max_files.to_string())),
            ("max_entries", one(i.max_entries.to_string())),
            ("max_minutes", one(i.max_minutes.to_string())),
            ("video_rate", one(i.video_rate.to_string())),
            ("scene_threshold", one(i.scene_threshold.to_string())),
            ("keyframes_only", one(i.keyframes_only.to_string())),
            ("track_templates", one(i.track_templates.to_string())),
            ("video_max_side", one(i.video_max_side.to_string())),
            ("probe_days", one(self.search.probe_days.to_string())),
            ("listen", one(s.listen.clone())),
            ("max_upload_mib", one(s.max_upload_mib.to_string())),
            ("ingest_root", Some(s.ingest_roots.iter().map(|p| p.display().to_string()).collect())),
            ("ef_search", s.ef_search.map(|e| vec![e.to_string()])),
            ("retention_every", one(s.retention_every.clone())),
            ("anchor_dir", path(&s.anchor_dir)),
        ];
        all.into_iter().filter_map(|(id, values)| values.map(|v| (id, v))).collect()
    }
}

/// One configuration error, naming the file and key, or the environment variable.
fn describe(e: &figment::Error) -> String {
    let key = e.path.join(".");
    let from_env = e.metadata.as_ref().is_some_and(|m| m.name.contains("environment"));
    let place = match e.metadata.as_ref().and_then(|m| m.source.as_ref()) {
        Some(figment::Source::File(file)) => format!("{}: key {key}", file.display()),
        _ if from_env => {
            let names: Vec<String> = e.path.iter().map(|p| p.to_ascii_uppercase()).collect();
            format!("environment variable GABARIT_{}", names.join("__"))
        }
        _ => format!("key {key}"),
    };
    format!("{place}: {}", e.kind)
}

/// `command` (and every subcommand) with the configuration's values as the defaults of the
/// flags they stand for.
pub(crate) fn with_defaults(command: clap::Command, flags: &[(&'static str, Vec<String>)]) -> clap::Command {
    let ids: Vec<String> = command.get_arguments().map(|a| a.get_id().to_string()).collect();
    let mut command = command;
    for (id, values) in flags {
        if ids.iter().any(|known| known == id) {
            let values: Vec<clap::builder::OsStr> = values.iter().map(|v| v.clone().into()).collect();
            command = command.mut_arg(*id, |arg| arg.default_values(values));
        }
    }
    let names: Vec<String> = command.get_subcommands().map(|c| c.get_name().to_string()).collect();
    for name in names {
        command = command.mut_subcommand(name, |sub| with_defaults(sub, flags));
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> String {
        fs_err::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/reference.toml")).unwrap()
    }

    /// The reference with its example lines (`# key = value`) made real.
    fn uncommented(text: &str) -> String {
        let example = |line: &str| {
            let rest = line.strip_prefix("# ")?;
            let (key, _) = rest.split_once(" = ")?;
            key.chars().all(|c| c.is_ascii_lowercase() || c == '_').then_some(rest.to_string())
        };
        text.lines().map(|l| example(l).unwrap_or_else(|| l.to_string())).collect::<Vec<_>>().join("\n")
    }

    /// `section.key` for every key of a configuration (unset ones too).
    fn keys(config: &Config) -> Vec<String> {
        let value = serde_json::to_value(config).unwrap();
        let mut out = Vec::new();
        for (section, table) in value.as_object().unwrap() {
            out.extend(table.as_object().unwrap().keys().map(|k| format!("{section}.{k}")));
        }
        out.sort();
        out
    }

    fn load_text(text: &str) -> Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gabarit.toml");
        fs_err::write(&file, text).unwrap();
        Config::load(Some((&file, true)), Env::prefixed("GABARIT_TEST_NOTHING_"))
    }

    #[test]
    fn the_reference_lists_every_key_with_its_default() {
        let text = reference();
        assert_eq!(load_text(&text).unwrap(), Config::default(), "the values set in the reference are the defaults");
        let examples = load_text(&uncommented(&text)).unwrap();
        assert_eq!(keys(&examples), keys(&Config::default()));
        let unset: Vec<String> = serde_json::to_value(&examples)
            .unwrap()
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(s, t)| {
                t.as_object().unwrap().iter().filter(|(_, v)| v.is_null()).map(move |(k, _)| format!("{s}.{k}"))
            })
            .collect();
        assert!(unset.is_empty(), "keys without a default need an example line in the reference: {unset:?}");
    }

    #[test]
    fn every_key_stands_for_a_flag_and_no_secret_is_a_key() {
        use clap::CommandFactory;
        let examples = load_text(&uncommented(&reference())).unwrap();
        let flags = examples.as_flags();
        assert_eq!(flags.len(), keys(&Config::default()).len(), "every key becomes a flag's default");
        fn ids(command: &clap::Command, out: &mut Vec<String>) {
            out.extend(command.get_arguments().map(|a| a.get_id().to_string()));
            for sub in command.get_subcommands() {
                ids(sub, out);
            }
        }
        let mut known = Vec::new();
        ids(&crate::flags::Cli::command(), &mut known);
        for (id, _) in &flags {
            assert!(known.iter().any(|k| k == id), "no flag {id}");
        }
        for key in keys(&Config::default()) {
            let name = key.split('.').nth(1).unwrap();
            let secret = ["password", "secret", "token", "api_key", "kek"].iter().any(|s| name.contains(s));
            assert!(!secret || name.ends_with("_file"), "{key}: a secret is never a configuration value");
        }
    }
}
