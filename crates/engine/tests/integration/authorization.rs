//! The role × grant table over every governed use case of the engine.
//!
//! Every public method of [`Gabarit`] that takes a `&Caller` has a row here, under its name (a
//! test reads the engine's sources and fails on a use case without one, and on any other
//! public way in: a public function taking a `&Caller` or a store outside the facade). Each
//! row is run by one user of each role granted the collection its records are in (`press`),
//! and one of each role granted another collection only; the outcome must be what the core's
//! permission table ([`reach`]) says: allowed, refused by role (`Forbidden`), or, for a record
//! outside the caller's grants, refused by scope (`Forbidden` or `NotFound`: the record does
//! not exist for them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gabarit_engine::governed::AuditQuery;
use gabarit_engine::ingest::IngestOptions;
use gabarit_engine::rights::ConfirmedErasure;
use gabarit_engine::search::SearchOptions;
use gabarit_engine::store::Store;
use gabarit_engine::{Caller, Error, Gabarit};
use gabarit_governance::{Action, Reach, Role, reach};

use crate::{governance, ingest_options, sample, service};

/// What a use case reaches.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Bound {
    /// Records of `press` (a caller granted only `other` must not reach them).
    Press,
    /// Nothing collection-bound: the role decides.
    Role,
    /// Only the caller's own account: everyone may.
    Own,
}

/// What a row returns when it ran: nothing to add, or whether it saw `press`'s records (a
/// listing that filters what it shows by grant).
enum Ran {
    Done,
    SawPress(bool),
}

type Run = fn(&mut World, &Caller) -> gabarit_engine::Result<Ran>;

struct Row {
    name: &'static str,
    action: Action,
    bound: Bound,
    run: Run,
}

/// Everything the rows act on.
struct World {
    engine: Gabarit,
    kek: gabarit_crypto::Kek,
    dir: PathBuf,
    admin: Caller,
    curator: Caller,
    dpo: Caller,
    image: u64,
    face: u64,
    candidate: u64,
    search: u64,
    investigator: Caller,
    press_sha: String,
    requests: BTreeMap<&'static str, u64>,
    fresh: usize,
    /// A person of `press` with three faces or more.
    person: u64,
}

impl World {
    /// A new user made by the admin, for the rows that change or remove one.
    fn fresh_user(&mut self) -> String {
        self.fresh += 1;
        let name = format!("target{}", self.fresh);
        self.engine.add_user(&self.admin, &name, &[Role::Reviewer]).unwrap();
        name
    }

    /// The last face of the test person.
    fn last_face(&self) -> u64 {
        self.engine.show_person(&self.curator, self.person).unwrap().members.last().unwrap().face_id
    }

    /// A new person made of one face split off the test person (by the curator).
    fn split_one_off(&mut self) -> u64 {
        let face = self.last_face();
        self.engine.split_person(&self.curator, self.person, &[face]).unwrap()
    }

    fn search_options() -> SearchOptions {
        SearchOptions { exact: false, ..crate::search_options(None, 30) }
    }

    fn ingest_options(&self, inputs: Vec<PathBuf>) -> IngestOptions {
        ingest_options("press", inputs)
    }
}

fn done<T>(r: gabarit_engine::Result<T>) -> gabarit_engine::Result<Ran> {
    r.map(|_| Ran::Done)
}

/// Every governed use case, with the action it needs and what it reaches.
fn rows() -> Vec<Row> {
    use Action as A;
    use Bound::{Own, Press, Role as ByRole};
    let row = |name, action, bound, run: Run| Row { name, action, bound, run };
    vec![
        // Accounts.
        row("add_user", A::ManageUsers, ByRole, |w, who| {
            w.fresh += 1;
            done(w.engine.add_user(who, &format!("new{}", w.fresh), &[Role::Reviewer]))
        }),
        row("set_roles", A::ManageUsers, ByRole, |w, who| {
            let u = w.fresh_user();
            done(w.engine.set_roles(who, &u, &[Role::Investigator]))
        }),
        row("grant", A::ManageUsers, ByRole, |w, who| {
            let u = w.fresh_user();
            done(w.engine.grant(who, &u, "press"))
        }),
        row("ungrant", A::ManageUsers, ByRole, |w, who| {
            let u = w.fresh_user();
            w.engine.grant(&w.admin, &u, "press").unwrap();
            done(w.engine.ungrant(who, &u, "press"))
        }),
        row("issue_key", A::ManageUsers, ByRole, |w, who| {
            let u = w.fresh_user();
            done(w.engine.issue_key(who, &u))
        }),
        row("revoke_key", A::ManageUsers, ByRole, |w, who| {
            let u = w.fresh_user();
            let key = w.engine.issue_key(&w.admin, &u).unwrap();
            done(w.engine.revoke_key(who, &u, key.split('_').nth(1).unwrap()))
        }),
        row("list_keys", A::ManageUsers, ByRole, |w, who| done(w.engine.list_keys(who, "cur"))),
        row("disable_user", A::ManageUsers, ByRole, |w, who| {
            let u = w.fresh_user();
            done(w.engine.disable_user(who, &u))
        }),
        row("set_password", A::ManageUsers, ByRole, |w, who| {
            let u = w.fresh_user();
            done(w.engine.set_password(who, &u, "a long enough password"))
        }),
        row("list_users", A::ManageUsers, ByRole, |w, who| done(w.engine.list_users(who))),
        row("me", A::ListCollections, Own, |w, who| done(w.engine.me(who))),
        row("logout", A::ListCollections, Own, |w, who| done(w.engine.logout(who, "no-such-token"))),
        // Collections.
        row("create_collection", A::ManageCollections, ByRole, |w, who| {
            w.fresh += 1;
            done(w.engine.create_collection(
                who,
                &format!("c{}", w.fresh),
                "",
                &governance(),
                &crate::buffalo_s(),
                gabarit_inference::EngineFamily::ORT_F32,
            ))
        }),
        row("update_collection", A::ManageCollections, ByRole, |w, who| {
            // Grouping stays on: the people rows below need press's persons.
            let grouped = gabarit_governance::GovernanceDraft { grouping: true, ..governance() };
            done(w.engine.update_collection(who, "press", &grouped))
        }),
        row("list_collections", A::ListCollections, Press, |w, who| {
            let all = w.engine.list_collections(who)?;
            Ok(Ran::SawPress(all.iter().any(|c| c.collection.name == "press")))
        }),
        row("collection", A::ListCollections, Press, |w, who| done(w.engine.collection(who, "press"))),
        // Ingestion and jobs.
        row("ingest", A::Ingest, ByRole, |w, who| {
            let opts = w.ingest_options(vec![sample("obama2.jpg")]);
            done(w.engine.ingest(who, &opts, &mut |_| {}))
        }),
        row("reembed", A::Ingest, ByRole, |w, who| {
            // To the other pack each time: press ends as it began after two runs.
            let press = w.engine.collection(&w.curator, "press").unwrap().0.collection;
            let other = if press.pack == "buffalo_s" { "open" } else { "buffalo_s" };
            let opts = gabarit_engine::reembed::ReembedOptions {
                collection: "press".into(),
                batch_size: 8,
                limits: gabarit_media::DecodeLimits::default(),
            };
            let pack = gabarit_inference::Pack::builtin(other).unwrap();
            done(w.engine.reembed(who, &pack, &opts, &mut |_| {}))
        }),
        row("may_ingest", A::Ingest, ByRole, |w, who| done(w.engine.may_ingest(who))),
        row("submit_ingest", A::Ingest, ByRole, |w, who| {
            let root = w.dir.join("incoming");
            done(w.engine.submit_ingest(who, "press", std::slice::from_ref(&root), std::slice::from_ref(&root), 1))
        }),
        row("submit_upload", A::Ingest, ByRole, |w, who| {
            let bytes = fs_err::read(sample("obama2.jpg")).unwrap();
            done(w.engine.submit_upload(who, "press", &[("o.jpg".into(), bytes.as_slice())]))
        }),
        // Curators follow every ingestion, DPOs their own erasures: both may list.
        row("list_jobs", A::Ingest, ByRole, |w, who| done(w.engine.list_jobs(who, 10))),
        row("job", A::Ingest, ByRole, |w, who| {
            let id = w.engine.list_jobs(&w.curator, 1).unwrap()[0].id;
            done(w.engine.job(who, id))
        }),
        // Search and review.
        row("may_search", A::Search, ByRole, |w, who| done(w.engine.may_search(who))),
        row("search_packs", A::Search, Press, |w, who| done(w.engine.search_packs(who, &["press".into()]))),
        row("analyze_query", A::Search, ByRole, |w, who| {
            done(w.engine.analyze_query(who, &[gabarit_catalog::PackKey::legacy()], &sample("obama.jpg")))
        }),
        row("keep_query", A::Search, ByRole, |w, who| {
            let img = w
                .engine
                .analyze_query(&w.investigator, &[gabarit_catalog::PackKey::legacy()], &sample("obama.jpg"))
                .unwrap();
            let id = w.engine.keep_query(who, "obama.jpg", &img)?;
            assert!(id.starts_with('q') && id.len() == 33, "{id}");
            Ok(Ran::Done)
        }),
        row("kept_query", A::Search, ByRole, |w, who| {
            let img = w
                .engine
                .analyze_query(&w.investigator, &[gabarit_catalog::PackKey::legacy()], &sample("obama.jpg"))
                .unwrap();
            let id = w.engine.keep_query(&w.investigator, "obama.jpg", &img).unwrap();
            let found = w.engine.kept_query(who, &id)?;
            // The uploader's only: another searcher is told nothing of it.
            assert_eq!(
                found.map(|(name, q)| (name, q.faces.faces.len())).is_some(),
                who.name() == w.investigator.name()
            );
            Ok(Ran::Done)
        }),
        row("search", A::Search, Press, |w, who| {
            let opts = World::search_options();
            done(w.engine.search(who, "CASE-1", "table", &sample("obama.jpg"), &opts))
        }),
        row("search_faces", A::Search, Press, |w, who| {
            let img = w
                .engine
                .analyze_query(&w.investigator, &[gabarit_catalog::PackKey::legacy()], &sample("obama.jpg"))
                .unwrap();
            let opts = World::search_options();
            done(w.engine.search_faces(who, "CASE-1", "table", "q", &img, &opts))
        }),
        // Before any review: the setup search's query face is kept until its candidates are decided.
        row("probe", A::Review, Press, |w, who| {
            let bytes = w.engine.probe(who, w.search, 0)?;
            assert_eq!(&bytes[..2], b"\xff\xd8", "a JPEG");
            Ok(Ran::Done)
        }),
        row("my_cases", A::Search, ByRole, |w, who| {
            let cases = w.engine.my_cases(who, 50)?;
            assert!(cases.iter().all(|c| c.search.actor == who.name()), "only one's own searches");
            Ok(Ran::Done)
        }),
        row("review", A::Review, Press, |w, who| done(w.engine.review(who, w.candidate, true))),
        row("candidate", A::Review, Press, |w, who| done(w.engine.candidate(who, w.candidate))),
        row("awaiting_review", A::Review, Press, |w, who| {
            let queue = w.engine.awaiting_review(who, 50)?;
            Ok(Ran::SawPress(queue.iter().any(|c| c.collection == "press")))
        }),
        // Records.
        row("image_record", A::ViewRecords, Press, |w, who| done(w.engine.image_record(who, w.image))),
        row("records_of_content", A::ViewRecords, Press, |w, who| {
            let sha = w.press_sha.clone();
            Ok(Ran::SawPress(!w.engine.records_of_content(who, &sha)?.is_empty()))
        }),
        row("face_crop", A::ViewRecords, Press, |w, who| done(w.engine.face_crop(who, w.face, &Default::default()))),
        row("source_image", A::ViewRecords, Press, |w, who| {
            done(w.engine.source_image(who, w.image, None, &Default::default()))
        }),
        // Audit and reports.
        row("audit_verify", A::Audit, ByRole, |w, who| done(w.engine.audit_verify(who, None))),
        row("audit_export", A::Audit, ByRole, |w, who| done(w.engine.audit_export(who, None, None))),
        row("audit_browse", A::Audit, ByRole, |w, who| {
            done(w.engine.audit_browse(who, &AuditQuery { limit: 10, ..Default::default() }))
        }),
        row("audit_anchor", A::Audit, ByRole, |w, who| done(w.engine.audit_anchor(who))),
        row("processing_record", A::Reports, ByRole, |w, who| done(w.engine.processing_record(who))),
        row("rotate_keys", A::ManageUsers, ByRole, |w, who| {
            let new = gabarit_crypto::Kek::generate().unwrap();
            let r = w.engine.rotate_keys(who, &w.kek, &new);
            if r.is_ok() {
                w.kek = new;
            }
            done(r)
        }),
        row("migrate", A::ManageUsers, ByRole, |w, who| {
            w.fresh += 1;
            let target = gabarit_engine::store::Place::Dir(w.dir.join(format!("migrated-{}", w.fresh)));
            let opts = gabarit_engine::migrate::MigrateOptions { target, index: None, chunk: 100 };
            done(w.engine.migrate(who, &w.kek, &opts, &mut |_| {}))
        }),
        // Rights.
        row("open_request", A::Rights, ByRole, |w, who| {
            done(w.engine.open_request(who, "access", "R-1", "ID card", "2026-11-02"))
        }),
        row("list_requests", A::Rights, ByRole, |w, who| done(w.engine.list_requests(who))),
        row("access", A::Rights, ByRole, |w, who| {
            let id = w.requests["access"];
            done(w.engine.access(who, id, &sample("obama.jpg"), Some(0.36), &[]))
        }),
        row("plan_erasure", A::Rights, ByRole, |w, who| {
            let id = w.requests["erasure"];
            done(w.engine.plan_erasure(who, id, &sample("yaoming.jpg"), (Some(0.36), &[]), None))
        }),
        row("erase", A::Rights, ByRole, |w, who| {
            let id = w.requests["erasure"];
            done(w.engine.erase(who, id, &sample("yaoming.jpg"), (Some(0.36), &[]), None))
        }),
        row("carry_out_erasure", A::Rights, ByRole, |w, who| {
            let e = ConfirmedErasure {
                request: w.requests["erasure"],
                input_sha256: "x".into(),
                threshold: 0.36,
                faces: vec![],
            };
            done(w.engine.carry_out_erasure(who, &e))
        }),
        row("submit_erasure", A::Rights, ByRole, |w, who| {
            let e = ConfirmedErasure {
                request: w.requests["erasure"],
                input_sha256: "x".into(),
                threshold: 0.36,
                faces: vec![],
            };
            done(w.engine.submit_erasure(who, &e))
        }),
        row("object", A::Rights, ByRole, |w, who| {
            let id = w.requests["objection"];
            done(w.engine.object(who, id, &sample("yaoming.jpg"), Some(0.36)))
        }),
        row("retention_run", A::Retention, ByRole, |w, who| done(w.engine.retention_run(who, jiff::Timestamp::now()))),
        // People (each row leaves the person as it found it).
        row("group_people", A::People, Press, |w, who| done(w.engine.group_people(who, "press", &mut |_| {}))),
        row("submit_grouping", A::People, Press, |w, who| done(w.engine.submit_grouping(who, "press"))),
        row("list_people", A::People, Press, |w, who| done(w.engine.list_people(who, "press", Default::default()))),
        row("find_people", A::People, Press, |w, who| {
            done(w.engine.find_people(who, "press", "tém", Default::default()))
        }),
        row("show_person", A::People, Press, |w, who| done(w.engine.show_person(who, w.person))),
        row("name_person", A::People, Press, |w, who| done(w.engine.name_person(who, w.person, Some("témoin")))),
        row("merge_people", A::People, Press, |w, who| {
            let other = w.split_one_off();
            let r = w.engine.merge_people(who, w.person, other);
            if r.is_err() {
                w.engine.merge_people(&w.curator, w.person, other).unwrap();
            }
            done(r)
        }),
        row("split_person", A::People, Press, |w, who| {
            let face = w.last_face();
            let r = w.engine.split_person(who, w.person, &[face]);
            if let Ok(other) = r {
                w.engine.merge_people(&w.curator, w.person, other).unwrap();
            }
            done(r)
        }),
        row("move_face", A::People, Press, |w, who| {
            let other = w.split_one_off();
            let face = w.engine.show_person(&w.curator, other).unwrap().members[0].face_id;
            let r = w.engine.move_face(who, face, w.person);
            if r.is_err() {
                w.engine.merge_people(&w.curator, w.person, other).unwrap();
            }
            done(r)
        }),
        row("not_person", A::People, Press, |w, who| {
            let face = w.last_face();
            let r = w.engine.not_person(who, face);
            if r.is_ok() {
                w.engine.move_face(&w.curator, face, w.person).unwrap();
            }
            done(r)
        }),
    ]
}

/// Whether `role`, granted `press` or not, may run a row.
fn allowed(row: &Row, role: Role, granted: bool) -> bool {
    match (row.bound, row.name) {
        (Bound::Own, _) => true,
        // Following jobs: curators follow every ingestion; DPOs (erasures) and investigators
        // (groupings) have jobs too.
        (_, "list_jobs") => matches!(role, Role::Curator | Role::Dpo | Role::Investigator),
        (_, "job") => role == Role::Curator,
        (Bound::Press, _) => match reach(role, row.action) {
            Some(Reach::Everything) => true,
            Some(Reach::Granted) => granted,
            None => false,
        },
        (Bound::Role, _) => reach(role, row.action).is_some(),
    }
}

fn setup(dir: &Path) -> (World, Vec<(Role, bool, Caller)>) {
    let kek = gabarit_crypto::Kek::generate().unwrap();
    let engine = Gabarit::open(Store::create(dir.join("data"), &kek).unwrap(), Some(service()));
    let admin_key = engine.bootstrap_admin("admin").unwrap();
    let admin = engine.authenticate_key(&admin_key).unwrap();
    let mut callers = Vec::new();
    let make = |engine: &Gabarit, name: &str, role: Role| {
        let key = engine.add_user(&admin, name, &[role]).unwrap();
        engine.authenticate_key(&key).unwrap()
    };
    let curator = make(&engine, "cur", Role::Curator);
    let dpo = make(&engine, "dora", Role::Dpo);
    make(&engine, "inv", Role::Investigator);
    for c in ["press", "other"] {
        engine
            .create_collection(
                &curator,
                c,
                "",
                &governance(),
                &crate::buffalo_s(),
                gabarit_inference::EngineFamily::ORT_F32,
            )
            .unwrap();
    }
    engine.grant(&admin, "inv", "press").unwrap();
    // A caller's grants are read when they authenticate: inv authenticates again.
    let key = engine.issue_key(&admin, "inv").unwrap();
    let investigator = engine.authenticate_key(&key).unwrap();
    for role in Role::ALL {
        for granted in [true, false] {
            let name = format!("{}-{}", role.name(), if granted { "in" } else { "out" });
            make(&engine, &name, role);
            engine.grant(&admin, &name, if granted { "press" } else { "other" }).unwrap();
            // Read again: the grant is now part of the caller.
            let key = engine.issue_key(&admin, &name).unwrap();
            callers.push((role, granted, engine.authenticate_key(&key).unwrap()));
        }
    }
    let gallery = dir.join("gallery");
    let incoming = dir.join("incoming");
    for d in [&gallery, &incoming] {
        fs_err::create_dir_all(d).unwrap();
    }
    fs_err::copy(sample("obama2.jpg"), gallery.join("obama2.jpg")).unwrap();
    fs_err::copy(sample("biden.jpg"), incoming.join("biden.jpg")).unwrap();
    let mut world = World {
        engine,
        kek,
        dir: dir.to_path_buf(),
        admin: admin.clone(),
        curator: curator.clone(),
        dpo: dpo.clone(),
        image: 0,
        face: 0,
        candidate: 0,
        search: 0,
        investigator: investigator.clone(),
        press_sha: String::new(),
        requests: BTreeMap::new(),
        fresh: 0,
        person: 0,
    };
    let opts = world.ingest_options(vec![gallery.clone()]);
    world.engine.ingest(&curator, &opts, &mut |_| {}).unwrap();
    world
        .engine
        .submit_ingest(&curator, "press", std::slice::from_ref(&incoming), std::slice::from_ref(&incoming), 1)
        .unwrap();
    let found =
        world.engine.search(&investigator, "CASE-0", "setup", &sample("obama.jpg"), &World::search_options()).unwrap();
    let first = &found.result.candidates[0];
    (world.image, world.face, world.candidate) = (first.image_id, first.face_id, found.candidate_ids[0]);
    world.search = found.search_id;
    world.press_sha = gabarit_media::sha256_hex(&fs_err::read(sample("obama2.jpg")).unwrap());
    // People: press groups its faces; three more photos of the searched face make a person.
    let people = dir.join("people");
    fs_err::create_dir_all(&people).unwrap();
    for name in ["obama.jpg", "obama3.jpg"] {
        fs_err::copy(sample(name), people.join(name)).unwrap();
    }
    image::open(sample("obama2.jpg")).unwrap().fliph().to_rgb8().save(people.join("mirrored.jpg")).unwrap();
    world.engine.ingest(&curator, &world.ingest_options(vec![people]), &mut |_| {}).unwrap();
    let grouped = gabarit_governance::GovernanceDraft { grouping: true, ..governance() };
    world.engine.update_collection(&curator, "press", &grouped).unwrap();
    world.engine.group_people(&curator, "press", &mut |_| {}).unwrap();
    let largest = world.engine.list_people(&curator, "press", Default::default()).unwrap().items.remove(0);
    assert!(largest.faces >= 3, "{largest:?}");
    world.person = largest.id;
    for kind in ["access", "erasure", "objection"] {
        let r = world.engine.open_request(&dpo, kind, "R-0", "ID card", "2026-11-02").unwrap();
        world.requests.insert(kind, r.id);
    }
    (world, callers)
}

fn is_refusal(e: &Error) -> bool {
    matches!(
        e,
        Error::Policy(gabarit_governance::Error::Forbidden { .. })
            | Error::Catalog(gabarit_catalog::Error::NotFound { .. })
    )
}

#[test]
fn every_use_case_with_every_role_granted_or_not_does_what_the_permission_table_says() {
    let dir = tempfile::tempdir().unwrap();
    let (mut world, callers) = setup(dir.path());
    let mut failures = Vec::new();
    let mut checked = 0;
    for row in rows() {
        for (role, granted, who) in &callers {
            let expected = allowed(&row, *role, *granted);
            let outcome = (row.run)(&mut world, who);
            let as_expected = match (&outcome, expected) {
                (Ok(Ran::Done), true) => true,
                // A listing filters by grant: it shows press's records to exactly those who may.
                (Ok(Ran::SawPress(saw)), allowed) => *saw == allowed && reach(*role, row.action).is_some(),
                (Err(e), false) => is_refusal(e),
                (Ok(Ran::Done), false) | (Err(_), true) => false,
            };
            if !as_expected {
                let got = match &outcome {
                    Ok(Ran::Done) => "allowed".to_string(),
                    Ok(Ran::SawPress(saw)) => format!("listed, press seen: {saw}"),
                    Err(e) => format!("error: {e}"),
                };
                failures.push(format!(
                    "{} as {} ({}): expected {}, got {got}",
                    row.name,
                    role.name(),
                    if *granted { "granted press" } else { "granted other" },
                    if expected { "allowed" } else { "refused" }
                ));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{} of {checked} cells differ:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(checked, rows().len() * 10);
    // Everything allowed was audited in a chain that verifies.
    let (entries, broken) = world.engine.audit_verify(&world.dpo, None).unwrap();
    assert!(entries > 100, "{entries} entries");
    assert_eq!(broken, None);
}

/// The engine's source files, submodules included.
fn sources(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in fs_err::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// A public function of the engine's sources, at any indentation (a free function or a
/// method): the file it is in, its name and its parameters.
struct PublicFn {
    file: PathBuf,
    name: String,
    params: String,
}

/// Every `pub fn` of the engine's sources (not `pub(crate) fn` and the like), at the start of
/// a line after any indentation.
fn public_fns() -> Vec<PublicFn> {
    let mut found = Vec::new();
    for path in sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src")) {
        let text = fs_err::read_to_string(&path).unwrap();
        for (i, _) in text.match_indices("pub fn ") {
            let line_start = text[..i].rfind('\n').map_or(0, |n| n + 1);
            if !text[line_start..i].chars().all(|c| c == ' ') {
                continue;
            }
            let rest = &text[i + "pub fn ".len()..];
            let signature = &rest[..rest.find('{').unwrap_or(rest.len())];
            let name = signature.split(['(', '<']).next().unwrap().trim().to_string();
            // The parameters: from the first parenthesis to the one that closes it.
            let open = signature.find('(').unwrap_or(signature.len());
            let mut depth = 0;
            let mut close = signature.len();
            for (k, c) in signature[open..].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            close = open + k + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let params = signature[open..close].split_whitespace().collect::<Vec<_>>().join(" ");
            found.push(PublicFn { file: path.clone(), name, params });
        }
    }
    found
}

/// Whether `params` has a parameter of type `&ty` or `&mut ty` (named with its path or not).
fn takes_a_reference_to(params: &str, ty: &str) -> bool {
    let plain =
        params.replace("crate::", "").replace("gabarit_engine::", "").replace("store::", "").replace("auth::", "");
    [format!("&{ty}"), format!("&mut {ty}")].iter().any(|r| {
        plain
            .match_indices(r.as_str())
            .any(|(i, _)| !plain[i + r.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_'))
    })
}

/// The names of the engine's public functions and methods that take a `&Caller`.
fn use_cases_in_the_sources() -> Vec<String> {
    let mut names: Vec<String> =
        public_fns().into_iter().filter(|f| takes_a_reference_to(&f.params, "Caller")).map(|f| f.name).collect();
    names.sort();
    names
}

#[test]
fn every_use_case_taking_a_caller_has_its_row_in_the_table() {
    let mut in_table: Vec<String> = rows().iter().map(|r| r.name.to_string()).collect();
    in_table.sort();
    let in_sources = use_cases_in_the_sources();
    assert!(in_sources.len() >= 40, "the scan finds the use cases: {in_sources:?}");
    let missing: Vec<&String> = in_sources.iter().filter(|n| !in_table.contains(n)).collect();
    let stale: Vec<&String> = in_table.iter().filter(|n| !in_sources.contains(n)).collect();
    assert!(missing.is_empty(), "use cases without a row in the role × grant table: {missing:?}");
    assert!(stale.is_empty(), "rows for use cases that no longer exist: {stale:?}");
}

#[test]
fn the_gabarit_facade_is_the_only_public_way_to_the_use_cases_and_the_store() {
    let all = public_fns();
    // Positive control: the scan reads parameters, and finds the facade's methods.
    let facade = |f: &&PublicFn| f.file.ends_with("src/gabarit.rs");
    assert!(
        all.iter().filter(facade).filter(|f| takes_a_reference_to(&f.params, "Caller")).count() >= 40,
        "the scan finds the facade's methods"
    );
    assert!(takes_a_reference_to("(store: &mut crate::store::Store, who: &Caller)", "Store"));
    assert!(takes_a_reference_to("(store: &Store)", "Store"));
    assert!(!takes_a_reference_to("(stored: &Stored)", "Store"));
    let offenders: Vec<String> = all
        .iter()
        .filter(|f| !facade(f))
        .filter(|f| takes_a_reference_to(&f.params, "Caller") || takes_a_reference_to(&f.params, "Store"))
        .map(|f| format!("{} in {}: {}", f.name, f.file.display(), f.params))
        .collect();
    assert!(
        offenders.is_empty(),
        "public functions outside the Gabarit facade taking a caller or a store:\n{}",
        offenders.join("\n")
    );
}
