//! `migrate`: the store copied to another place, with a progress bar per stage.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use gabarit_engine::migrate::{MigrateOptions, Stage};
use gabarit_engine::store::{IndexKind, Place};

use crate::flags::MigrateArgs;
use crate::keys::{load_kek, open_as};

pub(crate) fn migrate(data: &Place, args: MigrateArgs, user_dir: &dyn Fn() -> Result<PathBuf>) -> Result<ExitCode> {
    let target = Place::parse(&args.to, || match &args.to_uploads {
        Some(dir) => anyhow::Ok(dir.clone()),
        None => Ok(user_dir()?.join("uploads")),
    })?;
    let index = args.index.as_deref().map(IndexKind::parse).transpose()?;
    let (gabarit, who) = open_as(data)?;
    let opts = MigrateOptions { target, index, chunk: args.chunk };
    let bar = if args.quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(0) };
    let style = |unit: &str| {
        indicatif::ProgressStyle::with_template(&format!("{{bar:40}} {{pos}}/{{len}} {unit} {{per_sec}} ETA {{eta}}"))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    };
    let mut stage = None;
    let report = gabarit.migrate(&who, &load_kek()?, &opts, &mut |p| {
        if stage != Some(p.stage) {
            stage = Some(p.stage);
            bar.reset();
            match p.stage {
                Stage::Records => bar.set_style(style("rows")),
                Stage::Uploads => bar.set_style(style("uploaded files")),
                Stage::Checking => {
                    bar.set_style(indicatif::ProgressStyle::default_spinner());
                    bar.set_message("building the index and comparing both stores");
                }
            }
        }
        bar.set_length(p.total);
        bar.set_position(p.done);
    });
    bar.finish_and_clear();
    let r = report?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "{} copied to {}{}: {} rows in {} tables ({} this run), {} uploaded files ({} bytes), {} templates indexed",
            r.from,
            r.to,
            if r.resumed { " (taken up again)" } else { "" },
            r.rows,
            r.tables,
            r.copied,
            r.uploads,
            r.upload_bytes,
            r.templates_indexed
        );
        println!("both stores hold the same content (SHA-256 {}); the migration is in both audit logs", r.digest);
        println!("{} is unchanged: retire it once the new store serves", r.from);
    }
    Ok(ExitCode::SUCCESS)
}
