//! The role × grant table over every governed use case of the engine.
//!
//! Every public function that takes a `&Caller` has a row here (a test reads the engine's
//! sources and fails on a use case without one). Each row is run by one user of each role
//! granted the collection its records are in (`press`), and one of each role granted another
//! collection only; the outcome must be what the core's permission table ([`reach`]) says:
//! allowed, refused by role (`Forbidden`), or, for a record outside the caller's grants,
//! refused by scope (`Forbidden` or `NotFound`: the record does not exist for them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gabarit_engine::auth::{authenticate_key, bootstrap_admin};
use gabarit_engine::ingest::IngestOptions;
use gabarit_engine::rights::ConfirmedErasure;
use gabarit_engine::search::SearchOptions;
use gabarit_engine::store::Store;
use gabarit_engine::{Caller, Error, FaceServices, accounts, governed, jobs, review, rights};
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
    store: Store,
    service: FaceServices,
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
}

impl World {
    /// A new user made by the admin, for the rows that change or remove one.
    fn fresh_user(&mut self) -> String {
        self.fresh += 1;
        let name = format!("target{}", self.fresh);
        accounts::add_user(&mut self.store, &self.admin, &name, &[Role::Reviewer]).unwrap();
        name
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
            done(accounts::add_user(&mut w.store, who, &format!("new{}", w.fresh), &[Role::Reviewer]))
        }),
        row("set_roles", A::ManageUsers, ByRole, |w, who| {
            let u = w.fresh_user();
            done(accounts::set_roles(&mut w.store, who, &u, &[Role::Investigator]))
        }),
        row("grant", A::ManageUsers, ByRole, |w, who| {
            let u = w.fresh_user();
            done(accounts::grant(&mut w.store, who, &u, "press"))
        }),
        row("ungrant", A::ManageUsers, ByRole, |w, who| {
            let u = w.fresh_user();
            accounts::grant(&mut w.store, &w.admin, &u, "press").unwrap();
            done(accounts::ungrant(&mut w.store, who, &u, "press"))
        }),
        row("issue_key", A::ManageUsers, ByRole, |w, who| {
            let u = w.fresh_user();
            done(accounts::issue_key(&mut w.store, who, &u))
        }),
        row("revoke_key", A::ManageUsers, ByRole, |w, who| {
            let u = w.fresh_user();
            let key = accounts::issue_key(&mut w.store, &w.admin, &u).unwrap();
            done(accounts::revoke_key(&mut w.store, who, &u, key.split('_').nth(1).unwrap()))
        }),
        row("list_keys", A::ManageUsers, ByRole, |w, who| done(accounts::list_keys(&w.store, who, "cur"))),
        row("disable_user", A::ManageUsers, ByRole, |w, who| {
            let u = w.fresh_user();
            done(accounts::disable_user(&mut w.store, who, &u))
        }),
        row("set_password", A::ManageUsers, ByRole, |w, who| {
            let u = w.fresh_user();
            done(accounts::set_password(&mut w.store, who, &u, "a long enough password"))
        }),
        row("list_users", A::ManageUsers, ByRole, |w, who| done(accounts::list_users(&w.store, who))),
        row("me", A::ListCollections, Own, |w, who| done(accounts::me(&w.store, who))),
        row("logout", A::ListCollections, Own, |w, who| {
            done(gabarit_engine::auth::logout(&mut w.store, who, "no-such-token"))
        }),
        // Collections.
        row("create_collection", A::ManageCollections, ByRole, |w, who| {
            w.fresh += 1;
            done(governed::create_collection(
                &mut w.store,
                who,
                &format!("c{}", w.fresh),
                "",
                &governance(),
                &crate::buffalo_s(),
                gabarit_inference::EngineFamily::ORT_F32,
            ))
        }),
        row("update_collection", A::ManageCollections, ByRole, |w, who| {
            done(governed::update_collection(&mut w.store, who, "press", &governance()))
        }),
        row("list_collections", A::ListCollections, Press, |w, who| {
            let all = governed::list_collections(&w.store, who)?;
            Ok(Ran::SawPress(all.iter().any(|c| c.collection.name == "press")))
        }),
        row("collection", A::ListCollections, Press, |w, who| done(governed::collection(&w.store, who, "press"))),
        // Ingestion and jobs.
        row("governed_ingest", A::Ingest, ByRole, |w, who| {
            let opts = w.ingest_options(vec![sample("obama2.jpg")]);
            done(governed::governed_ingest(&w.service, &mut w.store, who, &opts, &mut |_| {}))
        }),
        row("reembed", A::Ingest, ByRole, |w, who| {
            // To the other pack each time: press ends as it began after two runs.
            let press = governed::collection(&w.store, &w.curator, "press").unwrap().0.collection;
            let other = if press.pack == "buffalo_s" { "open" } else { "buffalo_s" };
            let opts = gabarit_engine::reembed::ReembedOptions {
                collection: "press".into(),
                batch_size: 8,
                limits: gabarit_media::DecodeLimits::default(),
            };
            let pack = gabarit_inference::Pack::builtin(other).unwrap();
            done(gabarit_engine::reembed::reembed(&w.service, &mut w.store, who, &pack, &opts, &mut |_| {}))
        }),
        row("may_ingest", A::Ingest, ByRole, |_, who| done(jobs::may_ingest(who))),
        row("submit_ingest", A::Ingest, ByRole, |w, who| {
            let root = w.dir.join("incoming");
            done(jobs::submit_ingest(
                &mut w.store,
                who,
                "press",
                std::slice::from_ref(&root),
                std::slice::from_ref(&root),
            ))
        }),
        row("submit_upload", A::Ingest, ByRole, |w, who| {
            let bytes = fs_err::read(sample("obama2.jpg")).unwrap();
            done(jobs::submit_upload(&mut w.store, who, "press", &[("o.jpg".into(), bytes.as_slice())]))
        }),
        // Curators follow every ingestion, DPOs their own erasures: both may list.
        row("list_jobs", A::Ingest, ByRole, |w, who| done(jobs::list_jobs(&w.store, who, 10))),
        row("job", A::Ingest, ByRole, |w, who| {
            let id = jobs::list_jobs(&w.store, &w.curator, 1).unwrap()[0].id;
            done(jobs::job(&w.store, who, id))
        }),
        // Search and review.
        row("may_search", A::Search, ByRole, |_, who| done(governed::may_search(who))),
        row("search_packs", A::Search, Press, |w, who| done(governed::search_packs(&w.store, who, &["press".into()]))),
        row("analyze_query", A::Search, ByRole, |w, who| {
            done(governed::analyze_query(&w.service, who, &[gabarit_catalog::PackKey::legacy()], &sample("obama.jpg")))
        }),
        row("governed_search", A::Search, Press, |w, who| {
            let opts = World::search_options();
            done(governed::governed_search(
                &w.service,
                &mut w.store,
                who,
                "CASE-1",
                "table",
                &sample("obama.jpg"),
                &opts,
            ))
        }),
        row("governed_search_faces", A::Search, Press, |w, who| {
            let img = governed::analyze_query(
                &w.service,
                &w.investigator,
                &[gabarit_catalog::PackKey::legacy()],
                &sample("obama.jpg"),
            )
            .unwrap();
            let opts = World::search_options();
            done(governed::governed_search_faces(&mut w.store, who, "CASE-1", "table", "q", &img, &opts))
        }),
        // Before any review: the setup search's query face is kept until its candidates are decided.
        row("probe", A::Review, Press, |w, who| {
            let bytes = review::probe(&mut w.store, who, w.search, 0)?;
            assert_eq!(&bytes[..2], b"\xff\xd8", "a JPEG");
            Ok(Ran::Done)
        }),
        row("my_cases", A::Search, ByRole, |w, who| {
            let cases = review::my_cases(&w.store, who, 50)?;
            assert!(cases.iter().all(|c| c.search.actor == who.name()), "only one's own searches");
            Ok(Ran::Done)
        }),
        row("review", A::Review, Press, |w, who| done(review::review(&mut w.store, who, w.candidate, true))),
        row("candidate", A::Review, Press, |w, who| done(review::candidate(&w.store, who, w.candidate))),
        row("awaiting_review", A::Review, Press, |w, who| {
            let queue = review::awaiting_review(&w.store, who, 50)?;
            Ok(Ran::SawPress(queue.iter().any(|c| c.collection == "press")))
        }),
        // Records.
        row("image_record", A::ViewRecords, Press, |w, who| done(governed::image_record(&mut w.store, who, w.image))),
        row("records_of_content", A::ViewRecords, Press, |w, who| {
            let sha = w.press_sha.clone();
            Ok(Ran::SawPress(!governed::records_of_content(&mut w.store, who, &sha)?.is_empty()))
        }),
        row("face_crop", A::ViewRecords, Press, |w, who| {
            done(governed::face_crop(&mut w.store, who, w.face, &Default::default()))
        }),
        row("source_image", A::ViewRecords, Press, |w, who| {
            done(governed::source_image(&mut w.store, who, w.image, None, &Default::default()))
        }),
        // Audit and reports.
        row("audit_verify", A::Audit, ByRole, |w, who| done(governed::audit_verify(&mut w.store, who, None))),
        row("audit_export", A::Audit, ByRole, |w, who| done(governed::audit_export(&mut w.store, who, None, None))),
        row("audit_browse", A::Audit, ByRole, |w, who| {
            done(governed::audit_browse(&mut w.store, who, &governed::AuditQuery { limit: 10, ..Default::default() }))
        }),
        row("audit_anchor", A::Audit, ByRole, |w, who| done(governed::audit_anchor(&mut w.store, who))),
        row("processing_record", A::Reports, ByRole, |w, who| done(governed::processing_record(&mut w.store, who))),
        row("rotate_keys", A::ManageUsers, ByRole, |w, who| {
            let new = gabarit_crypto::Kek::generate().unwrap();
            let r = governed::rotate_keys(&mut w.store, who, &w.kek, &new);
            if r.is_ok() {
                w.kek = new;
            }
            done(r)
        }),
        // Rights.
        row("open_request", A::Rights, ByRole, |w, who| {
            done(rights::open_request(&mut w.store, who, "access", "R-1", "ID card", "2026-11-02"))
        }),
        row("list_requests", A::Rights, ByRole, |w, who| done(rights::list_requests(&w.store, who))),
        row("access", A::Rights, ByRole, |w, who| {
            let id = w.requests["access"];
            done(rights::access(&w.service, &mut w.store, who, id, &sample("obama.jpg"), Some(0.36)))
        }),
        row("plan_erasure", A::Rights, ByRole, |w, who| {
            let id = w.requests["erasure"];
            done(rights::plan_erasure(&w.service, &w.store, who, id, &sample("yaoming.jpg"), Some(0.36), None))
        }),
        row("erase", A::Rights, ByRole, |w, who| {
            let id = w.requests["erasure"];
            done(rights::erase(&w.service, &mut w.store, who, id, &sample("yaoming.jpg"), Some(0.36), None))
        }),
        row("carry_out_erasure", A::Rights, ByRole, |w, who| {
            let e = ConfirmedErasure {
                request: w.requests["erasure"],
                input_sha256: "x".into(),
                threshold: 0.36,
                faces: vec![],
            };
            done(rights::carry_out_erasure(&mut w.store, who, &e))
        }),
        row("submit_erasure", A::Rights, ByRole, |w, who| {
            let e = ConfirmedErasure {
                request: w.requests["erasure"],
                input_sha256: "x".into(),
                threshold: 0.36,
                faces: vec![],
            };
            done(jobs::submit_erasure(&mut w.store, who, &e))
        }),
        row("object", A::Rights, ByRole, |w, who| {
            let id = w.requests["objection"];
            done(rights::object(&w.service, &mut w.store, who, id, &sample("yaoming.jpg"), Some(0.36)))
        }),
        row("retention_run", A::Retention, ByRole, |w, who| {
            done(rights::retention_run(&mut w.store, who, jiff::Timestamp::now()))
        }),
    ]
}

/// Whether `role`, granted `press` or not, may run a row.
fn allowed(row: &Row, role: Role, granted: bool) -> bool {
    match (row.bound, row.name) {
        (Bound::Own, _) => true,
        // Following jobs: curators follow every ingestion; DPOs have jobs (erasures) too.
        (_, "list_jobs") => matches!(role, Role::Curator | Role::Dpo),
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
    let mut store = Store::create(&dir.join("data"), &kek).unwrap();
    let admin_key = bootstrap_admin(&mut store, "admin").unwrap();
    let admin = authenticate_key(&store, &admin_key).unwrap();
    let mut callers = Vec::new();
    let make = |store: &mut Store, name: &str, role: Role| {
        let key = accounts::add_user(store, &admin, name, &[role]).unwrap();
        authenticate_key(store, &key).unwrap()
    };
    let curator = make(&mut store, "cur", Role::Curator);
    let dpo = make(&mut store, "dora", Role::Dpo);
    make(&mut store, "inv", Role::Investigator);
    for c in ["press", "other"] {
        governed::create_collection(
            &mut store,
            &curator,
            c,
            "",
            &governance(),
            &crate::buffalo_s(),
            gabarit_inference::EngineFamily::ORT_F32,
        )
        .unwrap();
    }
    accounts::grant(&mut store, &admin, "inv", "press").unwrap();
    // A caller's grants are read when they authenticate: inv authenticates again.
    let key = accounts::issue_key(&mut store, &admin, "inv").unwrap();
    let investigator = authenticate_key(&store, &key).unwrap();
    for role in Role::ALL {
        for granted in [true, false] {
            let name = format!("{}-{}", role.name(), if granted { "in" } else { "out" });
            make(&mut store, &name, role);
            accounts::grant(&mut store, &admin, &name, if granted { "press" } else { "other" }).unwrap();
            // Read again: the grant is now part of the caller.
            let key = accounts::issue_key(&mut store, &admin, &name).unwrap();
            callers.push((role, granted, authenticate_key(&store, &key).unwrap()));
        }
    }
    let service = service();
    let gallery = dir.join("gallery");
    let incoming = dir.join("incoming");
    for d in [&gallery, &incoming] {
        fs_err::create_dir_all(d).unwrap();
    }
    fs_err::copy(sample("obama2.jpg"), gallery.join("obama2.jpg")).unwrap();
    fs_err::copy(sample("biden.jpg"), incoming.join("biden.jpg")).unwrap();
    let mut world = World {
        store,
        service,
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
    };
    let opts = world.ingest_options(vec![gallery.clone()]);
    governed::governed_ingest(&world.service, &mut world.store, &curator, &opts, &mut |_| {}).unwrap();
    jobs::submit_ingest(
        &mut world.store,
        &curator,
        "press",
        std::slice::from_ref(&incoming),
        std::slice::from_ref(&incoming),
    )
    .unwrap();
    let found = governed::governed_search(
        &world.service,
        &mut world.store,
        &investigator,
        "CASE-0",
        "setup",
        &sample("obama.jpg"),
        &World::search_options(),
    )
    .unwrap();
    let first = &found.result.candidates[0];
    (world.image, world.face, world.candidate) = (first.image_id, first.face_id, found.candidate_ids[0]);
    world.search = found.search_id;
    world.press_sha = gabarit_media::sha256_hex(&fs_err::read(sample("obama2.jpg")).unwrap());
    for kind in ["access", "erasure", "objection"] {
        let r = rights::open_request(&mut world.store, &dpo, kind, "R-0", "ID card", "2026-11-02").unwrap();
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
    let (entries, broken) = governed::audit_verify(&mut world.store, &world.dpo, None).unwrap();
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

/// The names of the engine's public functions that take a `&Caller`.
fn use_cases_in_the_sources() -> Vec<String> {
    let mut names = Vec::new();
    for path in sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src")) {
        let text = fs_err::read_to_string(path).unwrap();
        for (i, _) in text.match_indices("\npub fn ") {
            let rest = &text[i + "\npub fn ".len()..];
            let signature = &rest[..rest.find('{').unwrap_or(rest.len())];
            if signature.contains("&Caller") {
                names.push(signature.split(['(', '<']).next().unwrap().trim().to_string());
            }
        }
    }
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
