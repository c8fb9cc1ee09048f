//! `gabarit`: the command-line face search engine.
//!
//! Parses flags, calls `gabarit-engine`, renders text or JSON. Exit codes: 0 success, 1 some
//! inputs failed (each reported), 2 the command could not run.

mod audit;
mod collections;
mod config;
mod faces;
mod flags;
mod keys;
mod models;
mod rights;
mod search;
mod serve;
mod users;

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{CommandFactory, FromArgMatches};
use gabarit_engine::governed;
use gabarit_engine::models::{DEFAULT_PACK, Pack};
use gabarit_engine::store::Store;

use crate::flags::*;
use crate::{audit::*, collections::*, faces::*, keys::*, models::*, rights::*, search::*, serve::*, users::*};

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let file = config::file_named(&args);
    let config = match config::Config::load(
        file.as_ref().map(|(p, required)| (p.as_path(), *required)),
        config::Config::environment(),
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let matches = config::with_defaults(Cli::command(), &config.as_flags()).get_matches_from(args);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("GABARIT_LOG").unwrap_or_else(|_| level.into()))
        .with_writer(std::io::stderr)
        .init();
    match run(cli, &config) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli, config: &config::Config) -> Result<ExitCode> {
    let _ = KEK_FILE.set(cli.kek_file.clone());
    let _ = KEY_FILE.set(cli.key_file.clone());
    let models = models_dir(cli.models.as_deref())?;
    let data = match &cli.data {
        Some(d) => d.clone(),
        None => directories::ProjectDirs::from("", "", "gabarit")
            .context("cannot determine the user's data directory; pass --data DIR or set GABARIT_DATA")?
            .data_dir()
            .join("data"),
    };
    let explicit_pack = cli.pack.is_some();
    let pack = Pack::builtin(cli.pack.as_deref().unwrap_or(DEFAULT_PACK))?;
    match cli.command {
        Command::Models(ModelsCommand::Install { accept_licence }) => {
            models_install(&models, &pack, accept_licence.as_deref())
        }
        Command::Models(ModelsCommand::Verify) => {
            models_verify(&models, &pack)?;
            let chosen = gabarit_engine::models::default_family(&models, None, None)?;
            let how = if gabarit_engine::models::default_is_measured(&models)? {
                "measured here by `gabarit models check`"
            } else {
                "by rule: OpenVINO where installed, bf16 where native; `gabarit models check` measures"
            };
            println!(
                "default engine: {chosen} ({how}; --backend/--precision or GABARIT_BACKEND/GABARIT_PRECISION \
                 choose another; ingestion into a collection uses the collection's)"
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Models(ModelsCommand::Check { photos, samples }) => {
            models_verify(&models, &pack)?;
            let samples = samples.unwrap_or_else(|| models.parent().unwrap_or(&models).join("samples"));
            models_check(&models, photos, &samples)
        }
        Command::Config => {
            print!("{}", toml::to_string(config)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Models(ModelsCommand::Path) => {
            println!("{}", models.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Samples(SamplesCommand::Install { dir }) => {
            let dir = match dir {
                Some(d) => d,
                None => models.parent().unwrap_or(&models).join("samples"),
            };
            let report = gabarit_engine::models::install_samples(&dir)?;
            println!(
                "samples in {}: {} installed, {} already present",
                dir.display(),
                report.installed.len(),
                report.present.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Faces(args) => {
            let mut pack = pack;
            if let Some(flip) = args.flip {
                pack.engine.embedder.flip_average = flip;
            }
            faces(&models, pack, args)
        }
        Command::Compare(args) => compare(&models, pack, args),
        Command::Eval(args) => eval(&models, pack, args),
        Command::Init { admin, key_out, index } => {
            let kek = match KEK_FILE.get().cloned().flatten() {
                Some(path) if !path.exists() => {
                    let kek = gabarit_engine::store::Kek::generate_to_file(&path)?;
                    println!(
                        "new key-encryption key written to {} (mode 0600): back it up; without it the templates cannot be read",
                        path.display()
                    );
                    kek
                }
                _ => load_kek()?,
            };
            let kind = match index {
                Some(name) => gabarit_engine::store::IndexKind::parse(&name)?,
                None if data.join("catalog.db").exists() => Store::kind_of(&data)?,
                None => gabarit_engine::store::IndexKind::default(),
            };
            if let Some(path) = &key_out
                && path.exists()
            {
                bail!("{}: exists already; name a new file for the admin's key", path.display());
            }
            let mut store = Store::create_with(&data, &kek, kind)?;
            println!(
                "data directory ready: {} (catalog schema v{}, {} index)",
                store.root().display(),
                gabarit_engine::store::SCHEMA_VERSION,
                store.index_kind().name()
            );
            if let Some(name) = admin {
                let key = gabarit_engine::auth::bootstrap_admin(&mut store, &name)?;
                println!("admin {name} created; API key (shown once, store it safely): {key}");
                if let Some(path) = key_out {
                    write_private_file(&path, &key)?;
                    println!("the key is also in {} (mode 0600): pass it with --key-file", path.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::User(cmd) => user(&data, cmd),
        Command::Review { decision, candidate } => {
            let (mut store, who) = open_as(&data)?;
            let state = gabarit_engine::review::review(&mut store, &who, candidate, decision == "confirm")?;
            println!(
                "candidate {candidate}: confirmed by [{}], rejected by [{}]: {}",
                state.candidate.confirmed_by.join(", "),
                state.candidate.rejected_by.join(", "),
                if state.confirmed {
                    "CONFIRMED (two different reviewers)"
                } else {
                    "not confirmed (needs two different reviewers and no rejection)"
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(cmd) => audit(&data, cmd),
        Command::Rights(cmd) => rights(&models, &data, pack, cmd),
        Command::Retention(RetentionCommand::Run { now }) => {
            let (mut store, who) = open_as(&data)?;
            let now = match now {
                Some(t) => t.parse::<jiff::Timestamp>().with_context(|| format!("--now {t:?}: expected RFC 3339"))?,
                None => jiff::Timestamp::now(),
            };
            let r = gabarit_engine::rights::retention_run(&mut store, &who, now)?;
            if r.collections.is_empty() && r.query_faces_expired == 0 {
                println!("nothing has expired");
            }
            for (c, d) in r.collections {
                println!("{c}: {} image(s), {} face(s), {} template(s) deleted", d.images, d.faces, d.templates);
            }
            if r.query_faces_expired > 0 {
                println!("{} query face(s) kept for review deleted (their period ended)", r.query_faces_expired);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(KeysCommand::Rotate { new_kek_file }) => {
            let (store, who) = open_as(&data)?;
            let new = if new_kek_file.exists() {
                gabarit_engine::store::Kek::from_file(&new_kek_file)?
            } else {
                gabarit_engine::store::Kek::generate_to_file(&new_kek_file)?
            };
            let mut store = store;
            governed::rotate_keys(&mut store, &who, &load_kek()?, &new)?;
            println!(
                "data key re-wrapped under the key in {} (id {}); the old key no longer opens this data directory",
                new_kek_file.display(),
                new.id()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Report(ReportCommand::Processing { json }) => {
            let (mut store, who) = open_as(&data)?;
            let record = governed::processing_record(&mut store, &who)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&record)?);
            } else {
                print!("{}", governed::processing_record_text(&record));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Collection(cmd) => collection(&models, &data, (pack, explicit_pack), cmd),
        Command::Ingest(args) => ingest(&models, &data, (pack, explicit_pack), args),
        Command::Search(args) => search(&models, &data, pack, args),
        Command::Serve(args) => serve(&models, &data, pack, args),
        Command::FacesOf { image, json } => faces_of(&data, &image, json),
        Command::Image(ImageCommand::Show { id }) => image_show(&data, id),
    }
}

#[cfg(test)]
mod tests {
    /// The Gabarit crates a manifest's `[dependencies]` name.
    fn gabarit_dependencies(manifest: &str) -> Vec<String> {
        let text = fs_err::read_to_string(manifest).unwrap();
        let manifest: toml::Table = text.parse().unwrap();
        let deps = manifest.get("dependencies").and_then(|d| d.as_table()).cloned().unwrap_or_default();
        deps.keys().filter(|k| k.starts_with("gabarit-")).cloned().collect()
    }

    /// The front ends see the engine only (and the plain types; the CLI also starts the
    /// server): no lower crate in their manifests.
    #[test]
    fn front_ends_depend_on_the_engine_only() {
        let root = env!("CARGO_MANIFEST_DIR");
        assert_eq!(
            gabarit_dependencies(&format!("{root}/Cargo.toml")),
            ["gabarit-engine", "gabarit-server", "gabarit-types"]
        );
        assert_eq!(gabarit_dependencies(&format!("{root}/../server/Cargo.toml")), ["gabarit-engine"]);
    }
}
