//! `audit`, `report` and `retention`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use gabarit_engine::governed;
use gabarit_engine::store::Place;

use crate::flags::AuditCommand;
use crate::keys::{open_as, write_private_file};

pub(crate) fn audit(data: &Place, cmd: AuditCommand) -> Result<ExitCode> {
    let (gabarit, who) = open_as(data)?;
    match cmd {
        AuditCommand::Verify { anchor } => {
            let checkpoint: Option<gabarit_engine::governed::Checkpoint> = match &anchor {
                Some(path) => Some(
                    serde_json::from_str(&fs_err::read_to_string(path)?)
                        .with_context(|| format!("{}: not an audit checkpoint", path.display()))?,
                ),
                None => None,
            };
            let (n, broken) = gabarit.audit_verify(&who, checkpoint.as_ref())?;
            match broken {
                None => {
                    let since = checkpoint
                        .map(|c| format!("; it holds the {} entries the checkpoint of {} saw", c.entries, c.at))
                        .unwrap_or_default();
                    println!("audit chain intact: {n} entries{since}");
                    Ok(ExitCode::SUCCESS)
                }
                Some(b) => {
                    let upper = b.reason.split(':').next().unwrap_or_default().to_uppercase();
                    println!(
                        "audit chain {} at entry {} (seq {}): {}",
                        if upper == "TRUNCATED" || upper.starts_with("REWRITTEN") { upper } else { "BROKEN".into() },
                        b.position,
                        b.seq,
                        b.reason
                    );
                    Ok(ExitCode::from(1))
                }
            }
        }
        AuditCommand::Anchor { out } => {
            let checkpoint = gabarit.audit_anchor(&who)?;
            match out {
                Some(path) => {
                    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                    let text = serde_json::to_string_pretty(&checkpoint)?;
                    if path.exists() {
                        bail!("{}: exists already; name a new file", path.display());
                    }
                    write_private_file(&path, &text)?;
                    eprintln!(
                        "checkpoint of {} entries written to {} (keep it away from {}, e.g. beside the key-encryption key)",
                        checkpoint.entries,
                        path.display(),
                        dir.display()
                    );
                }
                None => println!("{}", serde_json::to_string_pretty(&checkpoint)?),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export { from, to, out } => {
            let entries = gabarit.audit_export(&who, from.as_deref(), to.as_deref())?;
            let mut text = String::new();
            for e in &entries {
                text.push_str(&serde_json::to_string(e)?);
                text.push('\n');
            }
            match out {
                Some(p) => fs_err::write(&p, text)?,
                None => print!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `report processing`: the record of processing activities (GDPR art. 30).
pub(crate) fn processing_record(data: &Place, json: bool) -> Result<ExitCode> {
    let (gabarit, who) = open_as(data)?;
    let record = gabarit.processing_record(&who)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&record)?);
    } else {
        print!("{}", governed::processing_record_text(&record));
    }
    Ok(ExitCode::SUCCESS)
}
