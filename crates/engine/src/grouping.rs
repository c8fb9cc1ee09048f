//! People, as governed use cases: grouping a collection's faces by person (a resumable,
//! incremental job over the vector index's neighbour search) and the corrections users make.
//!
//! Only a collection whose governance has `grouping` on is grouped; turning it off erases
//! every trace (see `governed::update_collection`). A run searches the neighbours of the faces
//! no run searched yet (the candidate pairs found are kept, in batches: an interrupted run
//! resumes after its last batch), then groups every face again over all the pairs with
//! `gabarit_people::group`, under the constraints of photos, video tracks and corrections.
//!
//! Corrections stick because each one vouches for the groups it touches: their faces become
//! *confirmed*. At the next run, a person's confirmed faces are joined first and one of them
//! stands for the person, so two corrected people never merge, and a face marked "not this
//! person" is kept apart from it. A person keeps its id (and label) across runs: a group takes
//! the person of its confirmed faces, else of the most faces it shares with an earlier group.

use std::collections::{HashMap, HashSet};

use gabarit_catalog::GroupingFace;
pub use gabarit_catalog::{Assignment, PersonRecord};
use gabarit_governance::{actions, limits};
use serde::Serialize;
use serde_json::json;

use crate::auth::Caller;
pub use crate::people::{GroupingReport, PhaseSeconds};
use crate::people::{NEIGHBOURS, thresholds};
use crate::store::{Store, calibration_of, pack_of};
use crate::{Error, Result};

/// Faces whose neighbours are searched, then stored, together.
const BATCH: usize = 1_000;

/// The breadth of the graph searches for neighbour lists (a graph's `ef`): a missed neighbour
/// costs a split at worst, never a wrong merge, so the breadth is that of a quick search
/// (the index's own default is set for interactive recall at millions).
const SEARCH_BREADTH: usize = 128;

/// Longest label of a person, in characters.
pub const LABEL: usize = 200;

/// How far a run got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupingProgress {
    /// Faces searched so far in this run.
    pub searched: usize,
    /// Faces to search in this run.
    pub to_search: usize,
}

/// One person with its faces, as shown.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonView {
    /// The person.
    #[serde(flatten)]
    pub person: PersonRecord,
    /// Its faces, by id.
    pub members: Vec<Assignment>,
}

/// Which persons of a collection to list: a page, of the named ones only if asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeopleQuery {
    /// Persons to skip (most faces first).
    pub offset: usize,
    /// Persons to return (at most [`MAX_PEOPLE_PAGE`]; 0 is taken as 1).
    pub limit: usize,
    /// Only the persons someone named.
    pub named_only: bool,
}

impl Default for PeopleQuery {
    fn default() -> PeopleQuery {
        PeopleQuery { offset: 0, limit: DEFAULT_PEOPLE_PAGE, named_only: false }
    }
}

/// Persons listed when no limit is asked.
pub const DEFAULT_PEOPLE_PAGE: usize = 100;
/// The most persons one page lists.
pub const MAX_PEOPLE_PAGE: usize = 1000;

/// A page of a collection's persons, most faces first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeoplePage {
    /// Persons of the collection (the named ones only, if asked), in all.
    pub total: u64,
    /// Skipped.
    pub offset: usize,
    /// Asked for (after bounding).
    pub limit: usize,
    /// This page's persons.
    pub items: Vec<PersonRecord>,
}

/// The collection `name` within the caller's reach for people, whose governance groups faces.
pub(crate) fn grouped_collection(store: &Store, who: &Caller, name: &str) -> Result<gabarit_catalog::Collection> {
    let proof = who.may::<actions::People>()?;
    let collection = store
        .catalog
        .collections_in(proof.scope())?
        .into_iter()
        .find(|c| c.name == name)
        .ok_or_else(|| gabarit_catalog::Error::NotFound { kind: "collection", name: limits::shown(name) })?;
    require_grouping(store, &collection)?;
    Ok(collection)
}

/// Refuses a collection whose governance has grouping off.
fn require_grouping(store: &Store, collection: &gabarit_catalog::Collection) -> Result<()> {
    if store.catalog.governance(&collection.name)?.grouping {
        return Ok(());
    }
    Err(Error::InvalidField {
        field: "grouping",
        problem: format!(
            "collection {} does not group faces by person: grouping is off in its governance (a curator turns it on where its purpose and DPIA allow it)",
            limits::shown(&collection.name)
        ),
    })
}

/// A person of a collection the caller may reach for people, and that collection.
fn reachable_person(store: &Store, who: &Caller, person: u64) -> Result<(PersonRecord, gabarit_catalog::Collection)> {
    let proof = who.may::<actions::People>()?;
    let record = store.catalog.person(person)?;
    // A person of a collection outside the caller's grants does not exist for them.
    let collection = store
        .catalog
        .collections_in(proof.scope())?
        .into_iter()
        .find(|c| c.id == record.collection_id)
        .ok_or_else(|| gabarit_catalog::Error::NotFound { kind: "person", name: person.to_string() })?;
    require_grouping(store, &collection)?;
    Ok((record, collection))
}

/// Groups the faces of a collection by person (see the module documentation); audited
/// (`people_group`).
pub(crate) fn group_people(
    store: &mut Store,
    who: &Caller,
    name: &str,
    progress: &mut dyn FnMut(GroupingProgress),
) -> Result<GroupingReport> {
    let collection = grouped_collection(store, who, name)?;
    let key = collection.pack_key();
    let pack = pack_of(&key)?;
    let calibration = calibration_of(&key)?;
    let started = std::time::Instant::now();
    let faces = store.catalog.grouping_faces(collection.id)?;
    let rules = thresholds(&pack, calibration.as_deref(), faces.len() as u64);
    let load_s = started.elapsed().as_secs_f64();
    let searched = search_new_faces(store, &collection, &key, rules.edge, &faces, progress)?;
    let search_s = started.elapsed().as_secs_f64() - load_s;
    let pairs = store.catalog.grouping_pairs(collection.id)?;
    let assignments = store.catalog.person_assignments(collection.id)?;
    let marks = store.catalog.person_marks(collection.id)?;
    let units = Units::new(&faces, &assignments, &marks);
    let grouping = units.group(&pairs, rules.join)?;
    let group_s = started.elapsed().as_secs_f64() - load_s - search_s;
    let (mut report, _) = store.catalog.audited(who.name(), "people_group", |tx| {
        let (next, new_persons) =
            units.persons(&grouping.group_of, &assignments, || tx.create_person(collection.id))?;
        let persons = tx.replace_assignments(collection.id, &next, rules.join)?;
        let report = GroupingReport {
            collection: collection.name.clone(),
            faces: faces.len(),
            searched,
            pairs: pairs.len(),
            persons,
            new_persons,
            refused: grouping.refused,
            thresholds: rules,
            seconds: PhaseSeconds { load: load_s, search: search_s, group: group_s, store: 0.0 },
        };
        let detail = json!({"collection": collection.name, "faces": report.faces, "searched": searched,
            "pairs": report.pairs, "persons": persons, "new_persons": new_persons, "refused": report.refused,
            "join": rules.join, "edge": rules.edge});
        Ok((report, detail))
    })?;
    report.seconds.store = started.elapsed().as_secs_f64() - load_s - search_s - group_s;
    Ok(report)
}

/// Searches the neighbours of the collection's faces that no run searched yet and stores the
/// candidate pairs found, batch by batch; returns how many faces were searched.
fn search_new_faces(
    store: &Store,
    collection: &gabarit_catalog::Collection,
    key: &gabarit_catalog::PackKey,
    edge: f32,
    faces: &[GroupingFace],
    progress: &mut dyn FnMut(GroupingProgress),
) -> Result<usize> {
    if store.catalog.grouping_run(collection.id)?.is_some_and(|r| r.edge != edge) {
        // Pairs found with another floor are forgotten (add_grouping_pairs does it): every
        // face is searched again.
        store.catalog.add_grouping_pairs(collection.id, edge, &[], &[])?;
    }
    let searched = store.catalog.grouping_searched(collection.id)?;
    let new: Vec<&GroupingFace> = faces.iter().filter(|f| !searched.contains(&f.face_id)).collect();
    let index = store.index(key)?;
    let mut done = 0;
    progress(GroupingProgress { searched: 0, to_search: new.len() });
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let collections = [collection.id];
    let neighbours = |faces: &[&GroupingFace]| -> Result<Vec<(u64, u64)>> {
        let mut pairs = Vec::new();
        for f in faces {
            let query = gabarit_index::quant::dequantize(&f.template.0, f.template.1);
            for hit in index.search_breadth(&query, NEIGHBOURS + 1, Some(&collections), SEARCH_BREADTH)? {
                if hit.id != f.face_id && hit.score >= edge {
                    pairs.push((f.face_id, hit.id));
                }
            }
        }
        Ok(pairs)
    };
    // A batch's pairs are stored while the next batch is searched; a batch counts as searched
    // once its pairs are stored (an interruption loses at most the two in flight).
    let mut pending: Option<FoundPairs> = None;
    let mut store_pending = |pending: Option<FoundPairs>| -> Result<()> {
        if let Some((pairs, ids)) = pending {
            store.catalog.add_grouping_pairs(collection.id, edge, &pairs, &ids)?;
            done += ids.len();
            progress(GroupingProgress { searched: done, to_search: new.len() });
        }
        Ok(())
    };
    for batch in new.chunks(BATCH) {
        let previous = pending.take();
        let (parts, stored) = std::thread::scope(|s| {
            let handles: Vec<_> = batch
                .chunks(batch.len().div_ceil(threads).max(1))
                .map(|part| s.spawn(move || neighbours(part)))
                .collect();
            let stored = store_pending(previous);
            let parts: Vec<Result<Vec<(u64, u64)>>> = handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(Error::Internal("a neighbour search stopped".into()))))
                .collect();
            (parts, stored)
        });
        stored?;
        let mut pairs = Vec::new();
        for part in parts {
            pairs.extend(part?);
        }
        pending = Some((pairs, batch.iter().map(|f| f.face_id).collect()));
    }
    store_pending(pending)?;
    Ok(new.len())
}

/// A batch's candidate pairs and the faces whose neighbours they are.
type FoundPairs = (Vec<(u64, u64)>, Vec<u64>);

/// A collection's faces as units of the grouping, with the constraints of photos, tracks and
/// corrections.
struct Units {
    ids: Vec<u64>,
    templates: Vec<f32>,
    dim: usize,
    photos: Vec<u64>,
    constraints: gabarit_people::Constraints,
    position: HashMap<u64, u32>,
}

impl Units {
    fn new(faces: &[GroupingFace], assignments: &[Assignment], marks: &[(u64, u64)]) -> Units {
        let dim = faces.first().map_or(1, |f| f.template.0.len());
        let mut templates = Vec::with_capacity(faces.len() * dim);
        let mut photos = Vec::with_capacity(faces.len());
        // A photo is its image; a video's frame is its image and time (faces of one frame are
        // never one person; faces of one track are).
        let mut frames: HashMap<(u64, u64), u64> = HashMap::new();
        let mut tracks: HashMap<(u64, u32), u32> = HashMap::new();
        let mut together = Vec::new();
        let mut position = HashMap::with_capacity(faces.len());
        for (i, f) in faces.iter().enumerate() {
            templates.extend(gabarit_index::quant::dequantize(&f.template.0, f.template.1));
            let frame = f.moment.map_or(0, |m| m.time_s.to_bits());
            let next = frames.len() as u64;
            photos.push(*frames.entry((f.image_id, frame)).or_insert(next));
            if let Some(m) = f.moment {
                let first = *tracks.entry((f.image_id, m.track)).or_insert(i as u32);
                if first != i as u32 {
                    together.push((first, i as u32));
                }
            }
            position.insert(f.face_id, i as u32);
        }
        let mut anchor: HashMap<u64, u32> = HashMap::new();
        for a in assignments.iter().filter(|a| a.confirmed) {
            if let Some(&u) = position.get(&a.face_id) {
                match anchor.get(&a.person_id) {
                    Some(&first) => together.push((first, u)),
                    None => {
                        anchor.insert(a.person_id, u);
                    }
                }
            }
        }
        let apart: Vec<(u32, u32)> =
            marks.iter().filter_map(|(face, person)| Some((*position.get(face)?, *anchor.get(person)?))).collect();
        let mut distinct: Vec<u32> = anchor.values().copied().collect();
        distinct.sort_unstable();
        Units {
            ids: faces.iter().map(|f| f.face_id).collect(),
            templates,
            dim,
            photos,
            constraints: gabarit_people::Constraints { together, apart, distinct },
            position,
        }
    }

    fn group(&self, pairs: &[(u64, u64)], join: f32) -> Result<gabarit_people::Grouping> {
        let edges: Vec<gabarit_people::Edge> = pairs
            .iter()
            .filter_map(|(a, b)| Some(gabarit_people::Edge { a: *self.position.get(a)?, b: *self.position.get(b)? }))
            .collect();
        let faces = gabarit_people::Faces { templates: &self.templates, dim: self.dim, photos: Some(&self.photos) };
        gabarit_people::group(faces, &edges, gabarit_people::Rules { join }, &self.constraints).map_err(|e| match e {
            gabarit_people::Error::Conflict { a, b } => Error::InvalidField {
                field: "corrections",
                problem: format!(
                    "faces {} and {} are kept apart (one photo, or a correction), but other corrections make them one person: undo one of them",
                    self.ids[a as usize], self.ids[b as usize]
                ),
            },
            other @ (gabarit_people::Error::Shape(_) | gabarit_people::Error::Unit { .. }) => {
                Error::Internal(format!("grouping: {other}"))
            }
        })
    }

    /// Every face's person after a run: a group takes the person of its confirmed faces, else
    /// the earlier person it shares the most faces with (each taken once, most shared first),
    /// else a new one (`create`) if it holds two faces or more; a lone face has none. Returns
    /// the assignments and how many persons were created.
    fn persons(
        &self,
        group_of: &[u32],
        before: &[Assignment],
        mut create: impl FnMut() -> gabarit_catalog::Result<u64>,
    ) -> gabarit_catalog::Result<(Vec<Assignment>, usize)> {
        let groups = group_of.iter().copied().max().map_or(0, |g| g as usize + 1);
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); groups];
        for (u, &g) in group_of.iter().enumerate() {
            members[g as usize].push(u as u32);
        }
        let earlier: HashMap<u64, &Assignment> = before.iter().map(|a| (a.face_id, a)).collect();
        let mut person: Vec<Option<u64>> = vec![None; groups];
        let mut taken = HashSet::new();
        for (g, units) in members.iter().enumerate() {
            let confirmed = units.iter().find_map(|u| earlier.get(&self.ids[*u as usize]).filter(|a| a.confirmed));
            if let Some(a) = confirmed {
                person[g] = Some(a.person_id);
                taken.insert(a.person_id);
            }
        }
        let mut shared: HashMap<(usize, u64), usize> = HashMap::new();
        for (g, units) in members.iter().enumerate().filter(|(g, _)| person[*g].is_none()) {
            for u in units {
                if let Some(a) = earlier.get(&self.ids[*u as usize]) {
                    *shared.entry((g, a.person_id)).or_default() += 1;
                }
            }
        }
        let mut shared: Vec<((usize, u64), usize)> = shared.into_iter().collect();
        shared.sort_unstable_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        for ((g, p), _) in shared {
            if person[g].is_none() && members[g].len() >= 2 && !taken.contains(&p) {
                person[g] = Some(p);
                taken.insert(p);
            }
        }
        let mut created = 0;
        let mut out = Vec::with_capacity(self.ids.len());
        for (g, units) in members.iter().enumerate() {
            if person[g].is_none() && units.len() >= 2 {
                person[g] = Some(create()?);
                created += 1;
            }
            let Some(p) = person[g] else { continue };
            for u in units {
                let face_id = self.ids[*u as usize];
                let confirmed = earlier.get(&face_id).is_some_and(|a| a.confirmed && a.person_id == p);
                out.push(Assignment { face_id, person_id: p, confirmed });
            }
        }
        out.sort_unstable_by_key(|a| a.face_id);
        Ok((out, created))
    }
}

/// A page of the persons of a collection, most faces first; audited (`people_view`, each
/// page: the names it shows are personal data).
pub(crate) fn list_people(store: &mut Store, who: &Caller, name: &str, query: PeopleQuery) -> Result<PeoplePage> {
    let collection = grouped_collection(store, who, name)?;
    let limit = query.limit.clamp(1, MAX_PEOPLE_PAGE);
    let (total, items) = store.catalog.persons(collection.id, query.named_only, query.offset as u64, limit as u64)?;
    store.catalog.audit(
        who.name(),
        "people_view",
        json!({"collection": collection.name, "persons": items.len(), "offset": query.offset, "named_only": query.named_only}),
    )?;
    Ok(PeoplePage { total, offset: query.offset, limit, items })
}

/// The named persons of a collection whose name contains `name` (letter case and accents
/// aside), most faces first, a page at a time; audited (`people_view`, without the name
/// searched: it is personal data).
pub(crate) fn find_people(
    store: &mut Store,
    who: &Caller,
    collection: &str,
    name: &str,
    page: PeopleQuery,
) -> Result<PeoplePage> {
    let collection = grouped_collection(store, who, collection)?;
    let wanted = folded(limits::required("name", name, LABEL)?);
    let found: Vec<PersonRecord> = store
        .catalog
        .named_persons(collection.id)?
        .into_iter()
        .filter(|p| p.label.as_deref().is_some_and(|l| folded(l).contains(&wanted)))
        .collect();
    let limit = page.limit.clamp(1, MAX_PEOPLE_PAGE);
    let total = found.len() as u64;
    let items: Vec<PersonRecord> = found.into_iter().skip(page.offset).take(limit).collect();
    store.catalog.audit(
        who.name(),
        "people_view",
        json!({"collection": collection.name, "persons": items.len(), "offset": page.offset, "by_name": true}),
    )?;
    Ok(PeoplePage { total, offset: page.offset, limit, items })
}

/// A name as a search compares it: lower case, accents dropped (canonical decomposition,
/// combining marks removed), so that "Hélène" finds "helene" and the reverse.
fn folded(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    name.nfd().filter(|c| !unicode_normalization::char::is_combining_mark(*c)).flat_map(char::to_lowercase).collect()
}

/// One person with its faces; audited (`people_view`).
pub(crate) fn show_person(store: &mut Store, who: &Caller, person: u64) -> Result<PersonView> {
    let (record, collection) = reachable_person(store, who, person)?;
    let faces = store.catalog.faces_of_person(person)?;
    store.catalog.audit(who.name(), "people_view", json!({"collection": collection.name, "person": person}))?;
    Ok(PersonView { person: record, members: faces })
}

/// Marks every face of a person confirmed.
fn confirm_person(tx: &gabarit_catalog::Tx<'_>, person: u64) -> gabarit_catalog::Result<usize> {
    let faces: Vec<u64> = tx.faces_of_person(person)?.iter().map(|a| a.face_id).collect();
    tx.assign_faces(&faces, Some(person), true)?;
    Ok(faces.len())
}

/// Names a person (or removes its name with `None`), which confirms its faces. The label is
/// stored sealed and never written to the audit log (the entry says only whether one is set).
pub(crate) fn name_person(store: &mut Store, who: &Caller, person: u64, label: Option<&str>) -> Result<()> {
    let (_, collection) = reachable_person(store, who, person)?;
    let label = label.map(|l| limits::required("label", l, LABEL)).transpose()?;
    store.catalog.audited(who.name(), "person_name", |tx| {
        tx.set_person_label(person, label)?;
        let confirmed = confirm_person(tx, person)?;
        Ok(((), json!({"collection": collection.name, "person": person, "labelled": label.is_some(), "confirmed": confirmed})))
    })?;
    Ok(())
}

/// Merges person `from` into person `into` (one collection): all their faces confirmed as
/// one person, `from`'s marks carried over; `into`'s label kept, else `from`'s.
pub(crate) fn merge_people(store: &mut Store, who: &Caller, into: u64, from: u64) -> Result<()> {
    let (target, collection) = reachable_person(store, who, into)?;
    let (source, _) = reachable_person(store, who, from)?;
    if source.collection_id != target.collection_id || into == from {
        return Err(Error::InvalidField {
            field: "from",
            problem: format!("person {from} cannot be merged into person {into}: not two persons of one collection"),
        });
    }
    let from_faces: Vec<u64> = store.catalog.faces_of_person(from)?.iter().map(|a| a.face_id).collect();
    refuse_photo_clash(store, into, &from_faces)?;
    store.catalog.audited(who.name(), "person_merge", |tx| {
        if target.label.is_none() && source.label.is_some() {
            tx.set_person_label(into, source.label.as_deref())?;
        }
        tx.fold_person(from, into)?;
        let confirmed = confirm_person(tx, into)?;
        Ok(((), json!({"collection": collection.name, "into": into, "from": from, "faces": confirmed})))
    })?;
    Ok(())
}

/// Splits faces (and their tracks' other faces) off a person into a new person; both are
/// confirmed, so no later run joins them again. Returns the new person's id.
pub(crate) fn split_person(store: &mut Store, who: &Caller, person: u64, faces: &[u64]) -> Result<u64> {
    let (_, collection) = reachable_person(store, who, person)?;
    let moving = store.catalog.faces_with_track_mates(collection.id, faces)?;
    let members: HashSet<u64> = store.catalog.faces_of_person(person)?.iter().map(|a| a.face_id).collect();
    if moving.is_empty() || moving.iter().any(|f| !members.contains(f)) || moving.len() >= members.len() {
        return Err(Error::InvalidField {
            field: "faces",
            problem: format!("a split takes some, not all, of person {person}'s faces, and only its own"),
        });
    }
    let (new, _) = store.catalog.audited(who.name(), "person_split", |tx| {
        let new = tx.create_person(collection.id)?;
        tx.assign_faces(&moving, Some(new), true)?;
        confirm_person(tx, person)?;
        Ok((new, json!({"collection": collection.name, "person": person, "new_person": new, "faces": moving})))
    })?;
    Ok(new)
}

/// Moves a face (with its track) to another person of its collection: it is confirmed there,
/// marked "not" its former person, and both persons' faces are confirmed.
pub(crate) fn move_face(store: &mut Store, who: &Caller, face: u64, to: u64) -> Result<()> {
    let (_, collection) = reachable_person(store, who, to)?;
    let moving = face_of_collection(store, collection.id, face)?;
    let from = store.catalog.person_of_face(face)?.map(|a| a.person_id).filter(|p| *p != to);
    refuse_photo_clash(store, to, &moving)?;
    store.catalog.audited(who.name(), "person_move", |tx| {
        tx.assign_faces(&moving, Some(to), true)?;
        confirm_person(tx, to)?;
        if let Some(p) = from {
            for &f in &moving {
                tx.mark_not(f, p)?;
            }
            confirm_person(tx, p)?;
            tx.tidy_persons(collection.id)?;
        }
        Ok(((), json!({"collection": collection.name, "faces": moving, "from": from, "to": to})))
    })?;
    Ok(())
}

/// Marks a face (with its track) as not the person it is in: it leaves the person, which
/// keeps it apart from now on, and the person's other faces are confirmed.
pub(crate) fn not_person(store: &mut Store, who: &Caller, face: u64) -> Result<u64> {
    let proof = who.may::<actions::People>()?;
    // A face outside the caller's collections does not exist for them.
    store.catalog.face(proof.scope(), face)?;
    let assignment = store
        .catalog
        .person_of_face(face)?
        .ok_or_else(|| Error::InvalidField { field: "face", problem: format!("face {face} is in no person") })?;
    let (_, collection) = reachable_person(store, who, assignment.person_id)?;
    let moving = face_of_collection(store, collection.id, face)?;
    let person = assignment.person_id;
    store.catalog.audited(who.name(), "person_not", |tx| {
        tx.assign_faces(&moving, None, false)?;
        for &f in &moving {
            tx.mark_not(f, person)?;
        }
        confirm_person(tx, person)?;
        tx.tidy_persons(collection.id)?;
        Ok(((), json!({"collection": collection.name, "faces": moving, "person": person})))
    })?;
    Ok(person)
}

/// Refuses to put `faces` in `person` when one of them shares a photo (or video frame) with
/// a face of the person: two faces of one photo are never one person.
fn refuse_photo_clash(store: &Store, person: u64, faces: &[u64]) -> Result<()> {
    match store.catalog.photo_clash(person, faces)? {
        None => Ok(()),
        Some((face, other)) => Err(Error::InvalidField {
            field: "face",
            problem: format!(
                "face {face} is in the same photo as face {other} of person {person}: they cannot be one person"
            ),
        }),
    }
}

/// A face of the collection with its track's other faces (`NotFound` for a face elsewhere).
fn face_of_collection(store: &Store, collection: u32, face: u64) -> Result<Vec<u64>> {
    let faces = store.catalog.faces_with_track_mates(collection, &[face])?;
    if faces.is_empty() {
        return Err(Error::Catalog(gabarit_catalog::Error::NotFound { kind: "face", name: face.to_string() }));
    }
    Ok(faces)
}
