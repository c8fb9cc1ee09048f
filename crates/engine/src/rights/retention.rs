//! Retention: each collection's images past its retention period are deleted with their faces
//! and templates, by a user (`gabarit retention run`) or on the server's schedule.

use gabarit_governance::{Authorized, actions, authorize_system};
use serde::Serialize;
use serde_json::json;

use super::{finish_deletion, uploads_left};
use crate::Result;
use crate::auth::Caller;
use crate::store::Store;

/// What retention deleted.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct RetentionReport {
    /// Per collection: name and what was deleted.
    pub collections: Vec<(String, gabarit_catalog::Deleted)>,
    /// Query faces kept for review whose period ended (see [`crate::review`]).
    pub query_faces_expired: u64,
}

/// Deletes what has expired at `now` under each collection's retention (dpo).
pub(crate) fn retention_run(store: &mut Store, who: &Caller, now: jiff::Timestamp) -> Result<RetentionReport> {
    let proof = who.may::<actions::Retention>()?;
    delete_expired(store, &proof, now)
}

/// The actor the audit log names for retention run on schedule by the server.
pub const SCHEDULED_RETENTION: &str = "retention-schedule";

/// Retention run by the server on its own schedule (daily): no user asks for it, because each
/// collection's controller set its retention when it was created; audited as
/// [`SCHEDULED_RETENTION`].
pub(crate) fn scheduled_retention(store: &mut Store, now: jiff::Timestamp) -> Result<RetentionReport> {
    delete_expired(store, &authorize_system::<actions::Retention>(SCHEDULED_RETENTION), now)
}

fn delete_expired(
    store: &mut Store,
    proof: &Authorized<actions::Retention>,
    now: jiff::Timestamp,
) -> Result<RetentionReport> {
    let mut out = Vec::new();
    let uploads = store.uploads_dir().canonicalize().ok();
    for c in store.catalog.collections_in(proof.scope())? {
        let name = c.name.clone();
        let Some(retention) = store.catalog.governance(&name)?.retention else { continue };
        let cutoff = match retention {
            gabarit_governance::Retention::Days(d) => now - jiff::SignedDuration::from_hours(24 * i64::from(d)),
            gabarit_governance::Retention::Until(date) => {
                if jiff::tz::TimeZone::UTC.to_datetime(now).date() > date {
                    now + jiff::SignedDuration::from_secs(1)
                } else {
                    continue;
                }
            }
        };
        let expired = store.catalog.images_ingested_before(c.id, &cutoff.to_string())?;
        if expired.is_empty() {
            continue;
        }
        let images: Vec<u64> = expired.iter().map(|(id, _)| *id).collect();
        let paths = images
            .iter()
            .map(|id| Ok((*id, store.catalog.image(proof.scope(), *id)?.uri)))
            .collect::<Result<Vec<_>>>()?;
        let ((deleted, files), _) = store.catalog.audited(proof.user(), "retention_delete", |tx| {
            let deleted = tx.delete_images(&images)?;
            let query_faces = tx.drop_probes_of_decided_searches()?;
            let files = uploads_left(tx, uploads.as_deref(), &paths)?;
            let detail = json!({"collection": name, "cutoff": cutoff.to_string(), "now": now.to_string(),
                "images": deleted.images, "faces": deleted.faces, "templates": deleted.templates, "uploaded_files": files.len(),
                "query_faces_deleted": query_faces});
            Ok(((deleted, files), detail))
        })?;
        finish_deletion(
            store,
            uploads.as_deref(),
            &files,
            expired.iter().flat_map(|(_, faces)| faces.iter().copied()),
        )?;
        out.push((name, deleted));
    }
    let query_faces_expired = crate::review::expire_probes(store, proof.user(), now)?;
    Ok(RetentionReport { collections: out, query_faces_expired })
}
