//! The command line of `gabarit`: parses flags over the layered configuration, calls
//! `gabarit-engine`, renders text or JSON. Exit codes: 0 success, 1 some inputs failed (each
//! reported), 2 the command could not run. `serve` hands a ready engine to the server the
//! binary passes in ([`Start`]): this crate does not depend on the server.

mod audit;
mod collections;
mod config;
mod faces;
mod flags;
mod keys;
mod migrate;
mod models;
mod people;
mod render;
mod rights;
mod search;
mod serve;
mod users;
mod worker;

pub use serve::{ServeSetup, Start};

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{CommandFactory, FromArgMatches};
use gabarit_engine::models::{DEFAULT_PACK, Pack};
use gabarit_engine::store::Place;

use crate::flags::{
    Cli, Command, ImageCommand, KeysCommand, ModelsCommand, ReportCommand, RetentionCommand, SamplesCommand,
};

/// Runs the command its arguments name; `start` serves HTTP for `gabarit serve`.
pub fn main(start: Start) -> ExitCode {
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
    match run(cli, &config, start) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `data` with the streaming replica named, if any (only a database has one).
fn with_replica(data: Place, replica: Option<&str>, max_lag: f64) -> Result<Place> {
    let Some(url) = replica else { return Ok(data) };
    if !Place::is_database_url(url) {
        anyhow::bail!("--replica: a postgres:// URL is expected");
    }
    let Ok(max_lag) = std::time::Duration::try_from_secs_f64(max_lag) else {
        anyhow::bail!("--replica-max-lag: {max_lag} is not a number of seconds");
    };
    match data {
        Place::Postgres { url: primary, uploads, .. } => Ok(Place::Postgres {
            url: primary,
            uploads,
            replica: Some(gabarit_engine::store::Replica { url: url.to_owned(), max_lag }),
        }),
        Place::Dir(root) => {
            anyhow::bail!("--replica: {} is a data directory; a replica is a PostgreSQL --data's", root.display())
        }
    }
}

fn run(cli: Cli, config: &config::Config, start: Start) -> Result<ExitCode> {
    let _ = keys::KEK_FILE.set(cli.kek_file.clone());
    let _ = keys::KEY_FILE.set(cli.key_file.clone());
    let models = models::models_dir(cli.models.as_deref())?;
    let user_dir = || {
        directories::ProjectDirs::from("", "", "gabarit")
            .map(|d| d.data_dir().to_path_buf())
            .context("cannot determine the user's data directory; pass --data DIR or set GABARIT_DATA")
    };
    let data = match &cli.data {
        Some(d) => Place::parse(d, || match &cli.uploads {
            Some(u) => anyhow::Ok(u.clone()),
            None => Ok(user_dir()?.join("uploads")),
        })?,
        None => Place::Dir(user_dir()?.join("data")),
    };
    let data = with_replica(data, cli.replica.as_deref(), cli.replica_max_lag)?;
    let explicit_pack = cli.pack.is_some();
    let pack = Pack::builtin(cli.pack.as_deref().unwrap_or(DEFAULT_PACK))?;
    match cli.command {
        Command::Models(ModelsCommand::Install { accept_licence }) => {
            models::models_install(&models, &pack, accept_licence.as_deref())
        }
        Command::Models(ModelsCommand::Verify) => models::verify_command(&models, &pack),
        Command::Models(ModelsCommand::Check { photos, samples }) => {
            models::models_verify(&models, &pack)?;
            let samples = samples.unwrap_or_else(|| models.parent().unwrap_or(&models).join("samples"));
            models::models_check(&models, photos, &samples)
        }
        Command::Config => {
            print!("{}", toml::to_string(config)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Models(ModelsCommand::Path) => {
            println!("{}", models.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Samples(SamplesCommand::Install { dir }) => models::samples_install(&models, dir),
        Command::Faces(args) => {
            let mut pack = pack;
            if let Some(flip) = args.flip {
                pack.engine.embedder.flip_average = flip;
            }
            faces::faces(&models, pack, args)
        }
        Command::Compare(args) => faces::compare(&models, pack, args),
        Command::Eval(args) => faces::eval(&models, pack, args),
        Command::Init { admin, key_out, index } => keys::init(&data, admin, key_out, index),
        Command::User(cmd) => users::user(&data, cmd),
        Command::Review { decision, candidate } => search::review(&data, &decision, candidate),
        Command::Audit(cmd) => audit::audit(&data, cmd),
        Command::Rights(cmd) => rights::rights(&models, &data, pack, cmd),
        Command::Retention(RetentionCommand::Run { now }) => rights::retention(&data, now),
        Command::Keys(KeysCommand::Rotate { new_kek_file }) => keys::rotate(&data, &new_kek_file),
        Command::Migrate(args) => migrate::migrate(&data, args, &user_dir),
        Command::Report(ReportCommand::Processing { json }) => audit::processing_record(&data, json),
        Command::Collection(cmd) => collections::collection(&models, &data, (pack, explicit_pack), cmd),
        Command::Ingest(args) => collections::ingest(&models, &data, (pack, explicit_pack), args),
        Command::Search(args) => search::search(&models, &data, pack, args),
        Command::Serve(args) => serve::serve(&models, &data, pack, args, start),
        Command::Worker(args) => worker::worker(&models, &data, pack, args),
        Command::FacesOf { image, json } => search::faces_of(&data, &image, json),
        Command::Image(ImageCommand::Show { id }) => search::image_show(&data, id),
        Command::People(cmd) => people::people(&data, cmd),
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

    /// The front ends see the engine only (and the plain types): no lower crate in their
    /// manifests, and neither front end depends on the other; the binary assembles the two.
    #[test]
    fn front_ends_depend_on_the_engine_only() {
        let root = env!("CARGO_MANIFEST_DIR");
        assert_eq!(gabarit_dependencies(&format!("{root}/Cargo.toml")), ["gabarit-engine", "gabarit-types"]);
        assert_eq!(gabarit_dependencies(&format!("{root}/../server/Cargo.toml")), ["gabarit-engine"]);
        assert_eq!(
            gabarit_dependencies(&format!("{root}/../gabarit/Cargo.toml")),
            ["gabarit-cli", "gabarit-engine", "gabarit-server"]
        );
    }
}
