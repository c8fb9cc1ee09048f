//! `rights`: requests of access, erasure and objection.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use gabarit_engine::faces::DecodeLimits;
use gabarit_engine::models::{Backend, Pack, Precision};
use gabarit_engine::store::Place;

use crate::faces::services;
use crate::flags::{DetSize, EngineArgs, EngineChoice, RightsCommand};
use crate::keys::open_as;
use crate::render;

pub(crate) fn rights(models: &Path, data: &Place, pack: Pack, cmd: RightsCommand) -> Result<ExitCode> {
    use gabarit_engine::rights;
    let (gabarit, who) = open_as(data)?;
    let engine = EngineArgs {
        workers: Some(1),
        threads: 1,
        choice: EngineChoice { backend: Some(Backend::Ort), precision: Some(Precision::F32) },
        det_size: DetSize::Pack,
        max_pixels: DecodeLimits::default().max_pixels,
    };
    match cmd {
        RightsCommand::Open { kind, requester, verification, received } => {
            let r = gabarit.open_request(&who, &kind, &requester, &verification, &received)?;
            println!("request {} ({}) recorded; answer due by {}", r.id, r.kind, r.deadline);
        }
        RightsCommand::List => {
            render::rights_requests(&mut std::io::stdout().lock(), &gabarit.list_requests(&who)?)?;
        }
        RightsCommand::Access { request, photo, out, persons } => {
            let gabarit = gabarit.with_faces(services(models, pack, &engine, 1)?);
            let r = gabarit.access(&who, request, &photo, None, &persons)?;
            fs_err::create_dir_all(&out)?;
            let (json_path, html_path) =
                (out.join(format!("access-{request}.json")), out.join(format!("access-{request}.html")));
            fs_err::write(&json_path, serde_json::to_string_pretty(&r)?)?;
            fs_err::write(&html_path, rights::report_html(&r))?;
            render::rights_report(&mut std::io::stdout().lock(), &r)?;
            println!("report: {} and {}", json_path.display(), html_path.display());
        }
        RightsCommand::Erase { request, photo, confirm, persons } => {
            let gabarit = gabarit.with_faces(services(models, pack, &engine, 1)?);
            let (r, deleted) = gabarit.erase(&who, request, &photo, (None, &persons), confirm)?;
            render::rights_report(&mut std::io::stdout().lock(), &r)?;
            match deleted {
                None => println!(
                    "nothing deleted yet: to erase these {} face(s), run again with --confirm {}",
                    r.matches.len(),
                    r.matches.len()
                ),
                Some(d) => println!(
                    "erased: {} template(s), {} face(s), {} image(s) left without a face, {} person(s) left without a face; index compacted, catalog vacuumed",
                    d.templates, d.faces, d.images, d.persons
                ),
            }
        }
        RightsCommand::Object { request, photo } => {
            let gabarit = gabarit.with_faces(services(models, pack, &engine, 1)?);
            let r = gabarit.object(&who, request, &photo, None)?;
            render::rights_report(&mut std::io::stdout().lock(), &r)?;
            println!("suppression template stored: these faces are hidden from search and never ingested again");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `retention run`: the collections' retention applied (and expired query faces deleted).
pub(crate) fn retention(data: &Place, now: Option<String>) -> Result<ExitCode> {
    let (gabarit, who) = open_as(data)?;
    let now = match now {
        Some(t) => t.parse::<jiff::Timestamp>().with_context(|| format!("--now {t:?}: expected RFC 3339"))?,
        None => jiff::Timestamp::now(),
    };
    let r = gabarit.retention_run(&who, now)?;
    render::retention(&mut std::io::stdout().lock(), &r)?;
    Ok(ExitCode::SUCCESS)
}
