//! The writer stage of ingestion: stores batches in one transaction each, then feeds the
//! vector index.

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use gabarit_catalog::{BatchItem, StoreOutcome};

use super::video::VideoClock;
use super::{ERASED_ON_REQUEST, IngestProgress, IngestReport, SkippedFile, ToWriter};
use crate::store::{SharedIndex, Store};
use crate::{Error, Result};

#[allow(clippy::too_many_arguments)]
pub(super) fn write_all(
    store: &mut Store,
    actor: &str,
    job: u64,
    (collection_id, index): (u32, &SharedIndex),
    batch_size: usize,
    rx: &Receiver<ToWriter>,
    report: &mut IngestReport,
    (total, clock, deadline): (usize, &VideoClock, Option<(Instant, Duration)>),
    progress: &mut dyn FnMut(IngestProgress),
) -> Result<()> {
    let mut batch: Vec<ToWriter> = Vec::new();
    let mut done = 0usize;
    let mut last_flush = Instant::now();
    let mut last_video = (0.0, 0.0);
    let mut tell = |done: usize, faces: usize| {
        let (video_seconds_done, video_seconds_total) = clock.read();
        progress(IngestProgress { done, total, faces, video_seconds_done, video_seconds_total });
    };
    loop {
        let next = rx.recv_timeout(Duration::from_millis(200));
        let closed = matches!(next, Err(RecvTimeoutError::Disconnected));
        if let Ok(msg) = next {
            batch.push(msg);
        }
        let due = batch.len() >= batch_size
            || (!batch.is_empty() && (closed || last_flush.elapsed() > Duration::from_millis(500)));
        if due {
            done += batch.len();
            store_batch(store, actor, job, (collection_id, index), std::mem::take(&mut batch), report)?;
            last_flush = Instant::now();
            tell(done, report.faces);
            if let Some((at, budget)) = deadline
                && Instant::now() >= at
                && !closed
            {
                return Err(Error::BudgetSpent { seconds: budget.as_secs(), done, total });
            }
        } else if clock.read() != last_video {
            // A long video moves the bar while no file finishes.
            last_video = clock.read();
            tell(done, report.faces);
        }
        if closed {
            return Ok(());
        }
    }
}

pub(super) fn store_batch(
    store: &mut Store,
    actor: &str,
    job: u64,
    (collection_id, index): (u32, &SharedIndex),
    batch: Vec<ToWriter>,
    report: &mut IngestReport,
) -> Result<()> {
    let mut items = Vec::new();
    let mut templates = Vec::new();
    let mut tallies = Vec::new();
    for msg in batch {
        match msg {
            ToWriter::Duplicate { item } => {
                store.catalog.record_outcome(job, &item.uri, "duplicate", "same content already in the collection")?;
                report.duplicates += 1;
            }
            ToWriter::Failed { item, code, message } => {
                report.erased_on_request += usize::from(code == ERASED_ON_REQUEST);
                report.failed.push(SkippedFile { uri: item.uri.clone(), code: code.clone(), message: message.clone() });
                items.push(BatchItem::Failed { uri: item.uri, code, message });
                templates.push(Vec::new());
                tallies.push(None);
            }
            ToWriter::Analyzed { image, templates: t, suppressed, video } => {
                report.suppressed_by_objection += suppressed;
                items.push(BatchItem::Image(*image));
                templates.push(t);
                tallies.push(video);
            }
        }
    }
    if items.is_empty() {
        return Ok(());
    }
    let (outcomes, _) = store.catalog.audited(actor, "ingest_batch", |tx| {
        let outcomes = tx.store_batch(job, collection_id, &items)?;
        let mut images = Vec::new();
        let (mut faces, mut templates, mut failed, mut duplicates) = (0usize, 0usize, 0usize, 0usize);
        for (o, item) in outcomes.iter().zip(&items) {
            match (o, item) {
                (StoreOutcome::Inserted { image_id, template_faces }, BatchItem::Image(img)) => {
                    images.push(*image_id);
                    faces += img.faces.len();
                    templates += template_faces.len();
                }
                (StoreOutcome::Duplicate, _) => duplicates += 1,
                (StoreOutcome::Failed, _) | (StoreOutcome::Inserted { .. }, BatchItem::Failed { .. }) => failed += 1,
            }
        }
        let detail = serde_json::json!({"job": job, "collection": collection_id, "images": images,
            "faces": faces, "templates": templates, "failed": failed, "duplicates": duplicates});
        Ok((outcomes, detail))
    })?;
    for (((outcome, item), vectors), tally) in outcomes.iter().zip(&items).zip(templates).zip(tallies) {
        match (outcome, item) {
            (StoreOutcome::Inserted { template_faces, .. }, BatchItem::Image(img)) => {
                report.ingested += 1;
                if let Some(t) = tally {
                    report.videos += 1;
                    report.video_seconds += t.seconds;
                    report.sampled_frames += t.frames;
                    report.sampled_faces += t.faces;
                    report.tracks += t.tracks;
                }
                report.faces += img.faces.len();
                report.usable_faces += img.faces.iter().filter(|f| f.quality.usable).count();
                let mut index = index.write();
                for (face_id, v) in template_faces.iter().zip(&vectors) {
                    crate::store::insert_committed(&mut **index, *face_id, collection_id, v)?;
                    report.templates += 1;
                }
            }
            (StoreOutcome::Duplicate, _) => report.duplicates += 1,
            (StoreOutcome::Failed, _) | (StoreOutcome::Inserted { .. }, BatchItem::Failed { .. }) => {}
        }
    }
    Ok(())
}

pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
