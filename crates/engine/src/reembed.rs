//! Re-embedding a collection with another model pack (`gabarit collection reembed`): every
//! face keeps its record (box, landmarks, provenance, tracks, reviews, audit history) and gets
//! a new template made by the new pack from its stored image (or video frame) and landmarks,
//! without detecting again. The new templates are kept beside the old ones, batch by batch
//! (each batch audited), so that a stopped run resumes where it was and the collection stays
//! searchable with its old pack meanwhile; faces whose image can no longer be read are
//! reported and will have no template. The collection changes over in one transaction once
//! every face is done, and only while every objection has a suppression template of the new
//! pack (the DPO makes them with `rights object` and the request's photo: a re-embedding under
//! way counts its pack as in use), so that no objection stops holding.

use std::collections::BTreeMap;

use gabarit_catalog::{ChangedOver, FaceRecord, NewTemplate};
use gabarit_governance::{actions, limits};
use gabarit_media::DecodeLimits;
use gabarit_types::Detection;
use serde::Serialize;
use serde_json::json;

use crate::auth::Caller;
use crate::sources::{source_pixels, video_place};
use crate::store::{Store, pack_key};
use crate::{Error, FaceServices, Result};

/// How to re-embed.
#[derive(Debug, Clone)]
pub struct ReembedOptions {
    /// The collection.
    pub collection: String,
    /// Faces per batch (one transaction each).
    pub batch_size: usize,
    /// Decoding limits for the stored images.
    pub limits: DecodeLimits,
}

/// Where a re-embedding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReembedProgress {
    /// Faces done (a new template made, or reported unreadable), this run and before.
    pub done: u64,
    /// Faces to do in all.
    pub total: u64,
}

/// What a re-embedding did.
#[derive(Debug, Clone, Serialize)]
pub struct ReembedReport {
    /// The collection.
    pub collection: String,
    /// Faces done by this run (earlier runs' work is kept and not redone).
    pub done_now: u64,
    /// Faces done by earlier, stopped runs.
    pub done_before: u64,
    /// Faces whose image could not be read by this run: id and reason (they will have no
    /// template).
    pub unreadable_now: Vec<(u64, String)>,
    /// The change-over: packs before and after, templates replaced, faces left without one.
    pub changed_over: ChangedOver,
}

/// Re-embeds the collection `opts.collection` with `pack` (a curator, as for ingestion), and
/// changes it over once done; run again after a stop, it goes on where it was.
pub(crate) fn reembed(
    services: &FaceServices,
    store: &mut Store,
    who: &Caller,
    pack: &gabarit_inference::Pack,
    opts: &ReembedOptions,
    progress: &mut dyn FnMut(ReembedProgress),
) -> Result<ReembedReport> {
    let proof = who.may::<actions::Ingest>()?;
    let collection = store.catalog.collection(&opts.collection)?;
    if !proof.covers(collection.id) {
        return Err(gabarit_catalog::Error::NotFound { kind: "collection", name: collection.name }.into());
    }
    let target = pack_key(pack);
    let under_way = store.catalog.reembedding(collection.id)?;
    if under_way.is_none() && collection.pack_key() == target {
        return Err(Error::AlreadyOfPack { collection: collection.name.clone(), pack: target.to_string() });
    }
    let service = services.get(&target)?;
    let engine = service.config().session.family();
    // Both indexes are opened as they are now, before the change-over moves templates.
    let (old_index, new_index) = (store.index(&collection.pack_key())?, store.index(&target)?);
    let (state, _) = store.catalog.audited(who.name(), "collection_reembed_begin", |tx| {
        let resumed = tx.reembedding(collection.id)?.is_some();
        let state = tx.begin_reembed(collection.id, &target, &engine.to_string(), who.name())?;
        let detail = json!({"collection": collection.name, "from": collection.pack_key(), "to": target,
            "engine": engine.to_string(),
            "resumed": resumed, "done_before": state.made + state.unreadable});
        Ok((state, detail))
    })?;
    let done_before = state.made + state.unreadable;
    let total = done_before + store.catalog.faces_left_to_reembed(collection.id)?;
    let mut done = done_before;
    progress(ReembedProgress { done, total });
    let mut unreadable_now = Vec::new();
    loop {
        let ids = store.catalog.faces_to_reembed(collection.id, opts.batch_size.max(1))?;
        if ids.is_empty() {
            break;
        }
        // One decoding per image (or video frame) for all its faces.
        let mut by_source: BTreeMap<(u64, Option<u64>), Vec<FaceRecord>> = BTreeMap::new();
        for &id in &ids {
            let face = store.catalog.face(proof.scope(), id)?;
            by_source.entry((face.image_id, face.moment.map(|m| m.time_s.to_bits()))).or_default().push(face);
        }
        let mut made: Vec<(u64, NewTemplate)> = Vec::with_capacity(ids.len());
        for faces in by_source.values() {
            let first = &faces[0];
            let video = video_place(store, proof.scope(), first)?;
            match source_pixels(&first.uri, video.as_ref(), &opts.limits) {
                Ok(pixels) => {
                    let found: Vec<Detection> = faces
                        .iter()
                        .map(|f| Detection { bbox: f.bbox, landmarks: f.landmarks, score: f.score })
                        .collect();
                    for (face, template) in faces.iter().zip(service.embed_found(&pixels, &found)?) {
                        let (codes, scale) = gabarit_index::quant::quantize(&template);
                        made.push((face.face_id, NewTemplate::Made(codes, scale)));
                    }
                }
                Err(e) => {
                    let why = limits::shown(&e.to_string());
                    for face in faces {
                        tracing::warn!(face = face.face_id, image = face.image_id, "re-embedding: image unreadable");
                        unreadable_now.push((face.face_id, why.clone()));
                        made.push((face.face_id, NewTemplate::Unreadable(why.clone())));
                    }
                }
            }
        }
        let unreadable = made.iter().filter(|(_, t)| matches!(t, NewTemplate::Unreadable(_))).count();
        store.catalog.audited(who.name(), "reembed_batch", |tx| {
            tx.keep_reembedded(collection.id, &made)?;
            Ok(((), json!({"collection": collection.name, "pack": target, "faces": ids, "unreadable": unreadable})))
        })?;
        done += ids.len() as u64;
        progress(ReembedProgress { done, total: total.max(done) });
    }
    crate::objections::check_objections_hold(store, &target)?;
    let (changed_over, _) = store.catalog.audited(who.name(), "collection_reembed", |tx| {
        let changed = tx.change_over(collection.id)?;
        let detail = json!({"collection": collection.name, "from": changed.from, "to": changed.to,
            "templates": changed.templates, "unreadable": changed.unreadable});
        Ok((changed, detail))
    })?;
    // The indexes follow the catalog (a crash before this point leaves them behind it, and
    // opening the store rebuilds them).
    let mut moved = Vec::new();
    store.catalog.templates_of(&changed_over.to, |t| {
        if t.collection_id == collection.id {
            moved.push(t);
        }
    })?;
    {
        let mut old = old_index.write();
        for id in moved.iter().map(|t| t.face_id).chain(changed_over.unreadable.iter().copied()) {
            old.remove(id)?;
        }
        old.compact()?;
    }
    {
        let mut new = new_index.write();
        for t in &moved {
            let v = gabarit_index::quant::dequantize(&t.vector, t.scale);
            crate::store::insert_committed(&mut **new, t.face_id, t.collection_id, &v)?;
        }
        new.flush()?;
    }
    Ok(ReembedReport {
        collection: collection.name,
        done_now: done - done_before,
        done_before,
        unreadable_now,
        changed_over,
    })
}
