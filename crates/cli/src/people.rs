//! `people`: faces grouped by person, and their corrections.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use gabarit_engine::store::Place;

use crate::flags::PeopleCommand;
use crate::keys::open_as;

pub(crate) fn people(data: &Place, cmd: PeopleCommand) -> Result<ExitCode> {
    let (gabarit, who) = open_as(data)?;
    let mut out = std::io::stdout().lock();
    match cmd {
        PeopleCommand::Group { collection, quiet, json } => {
            let bar = if quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(0) };
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} faces searched {per_sec} ETA {eta}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let report = gabarit.group_people(&who, &collection, &mut |p| {
                bar.set_length(p.to_search as u64);
                bar.set_position(p.searched as u64);
            });
            bar.finish_and_clear();
            let r = report?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?;
            } else {
                writeln!(
                    out,
                    "{}: {} faces ({} searched now, {} candidate pairs) in {} persons ({} new); join {:.3}, {} merges refused by photos or corrections",
                    r.collection, r.faces, r.searched, r.pairs, r.persons, r.new_persons, r.thresholds.join, r.refused
                )?;
            }
        }
        PeopleCommand::List { collection, offset, limit, named, json } => {
            let query = gabarit_engine::grouping::PeopleQuery { offset, limit, named_only: named };
            let page = gabarit.list_people(&who, &collection, query)?;
            let kind = if named { "named persons" } else { "persons" };
            print_page(&mut out, &collection, kind, &page, json)?;
        }
        PeopleCommand::Find { collection, name, offset, limit, json } => {
            let query = gabarit_engine::grouping::PeopleQuery { offset, limit, named_only: true };
            let page = gabarit.find_people(&who, &collection, &name, query)?;
            print_page(&mut out, &collection, "persons of that name", &page, json)?;
        }
        PeopleCommand::Show { person, json } => {
            let view = gabarit.show_person(&who, person)?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&view)?)?;
            } else {
                let p = &view.person;
                writeln!(
                    out,
                    "person {} ({}): {} faces, {} confirmed",
                    p.id,
                    p.label.as_deref().unwrap_or("unnamed"),
                    p.faces,
                    p.confirmed
                )?;
                for a in &view.members {
                    writeln!(out, "  face {}{}", a.face_id, if a.confirmed { " (confirmed)" } else { "" })?;
                }
            }
        }
        PeopleCommand::Name { person, label, clear } => {
            gabarit.name_person(&who, person, if clear { None } else { label.as_deref() })?;
            writeln!(out, "person {person} {}", if clear { "unnamed" } else { "named" })?;
        }
        PeopleCommand::Merge { into, from } => {
            gabarit.merge_people(&who, into, from)?;
            writeln!(out, "person {from} merged into person {into}")?;
        }
        PeopleCommand::Split { person, faces } => {
            let new = gabarit.split_person(&who, person, &faces)?;
            writeln!(out, "split off person {person} into person {new}")?;
        }
        PeopleCommand::Move { face, to } => {
            gabarit.move_face(&who, face, to)?;
            writeln!(out, "face {face} moved to person {to}")?;
        }
        PeopleCommand::Not { face } => {
            let person = gabarit.not_person(&who, face)?;
            writeln!(out, "face {face} is not person {person}, from now on")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A page of persons: JSON, or a table with where it stands and how to see more.
fn print_page(
    out: &mut dyn Write,
    collection: &str,
    kind: &str,
    page: &gabarit_engine::grouping::PeoplePage,
    json: bool,
) -> Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(page)?)?;
        return Ok(());
    }
    let shown = page.items.len();
    match shown {
        0 => writeln!(out, "{collection}: {} {kind}, none from {}", page.total, page.offset + 1)?,
        _ => writeln!(out, "{collection}: {kind} {}–{} of {}", page.offset + 1, page.offset + shown, page.total)?,
    }
    writeln!(out, "{:>8}  {:>6}  {:>9}  {:>10}  name", "person", "faces", "confirmed", "cover face")?;
    for p in &page.items {
        writeln!(
            out,
            "{:>8}  {:>6}  {:>9}  {:>10}  {}",
            p.id,
            p.faces,
            p.confirmed,
            p.cover_face,
            p.label.as_deref().unwrap_or("-")
        )?;
    }
    if (page.offset + shown) < page.total as usize {
        writeln!(out, "more: --offset {}", page.offset + shown)?;
    }
    Ok(())
}
