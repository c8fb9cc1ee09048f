use super::audit::{self, verify};
use super::*;

#[test]
fn legal_bases_and_conditions_parse_by_letter_article_or_name() {
    assert_eq!(LegalBasis::parse("e").unwrap(), LegalBasis::PublicTask);
    assert_eq!(LegalBasis::parse("6(1)(f)").unwrap(), LegalBasis::LegitimateInterests);
    assert_eq!(LegalBasis::parse("consent").unwrap(), LegalBasis::Consent);
    assert!(LegalBasis::parse("g").is_err());
    assert_eq!(Condition::parse("9(2)(j)").unwrap(), Condition::Archiving);
    assert_eq!(Condition::parse("explicit-consent").unwrap(), Condition::ExplicitConsent);
    assert!(Condition::parse("k").is_err());
    assert_eq!(LegalBasis::PublicTask.to_string(), "GDPR art. 6(1)(e) public_task");
    assert_eq!(parse_jurisdiction("fr").unwrap(), "FR");
    assert!(parse_jurisdiction("France").is_err());
}

#[test]
fn missing_governance_fields_are_named() {
    let mut d = GovernanceDraft { controller: Some("AFP".into()), purpose: Some("  ".into()), ..Default::default() };
    let err = d.complete("press").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("legal-basis") && text.contains("purpose") && !text.contains("controller,"), "{text}");
    d.controller_contact = Some("dpo@afp.example".into());
    d.purpose = Some("press archive".into());
    d.purpose_category = Some(PurposeCategory::Archive);
    d.legal_basis = Some(LegalBasis::LegitimateInterests);
    d.condition = Some(Condition::Archiving);
    d.jurisdictions = vec!["FR".into()];
    d.retention = Some(Retention::Days(3650));
    d.dpia = Some("DPIA-2026-01".into());
    assert!(d.missing().is_empty());
    assert_eq!(d.complete("press").unwrap().legal_basis, LegalBasis::LegitimateInterests);
}

#[test]
fn the_permission_table_is_least_privilege() {
    use Reach::{Everything, Granted};
    for role in Role::ALL {
        let allowed: Vec<(Action, Reach)> =
            Action::ALL.into_iter().filter_map(|a| reach(role, a).map(|r| (a, r))).collect();
        let expected = match role {
            Role::Admin => vec![(Action::ManageUsers, Everything), (Action::ListCollections, Everything)],
            Role::Curator => vec![
                (Action::ListCollections, Everything),
                (Action::ManageCollections, Everything),
                (Action::Ingest, Everything),
                (Action::ViewRecords, Everything),
                (Action::People, Everything),
            ],
            Role::Investigator => vec![
                (Action::ListCollections, Granted),
                (Action::ViewRecords, Granted),
                (Action::Search, Granted),
                (Action::People, Granted),
            ],
            Role::Reviewer => {
                vec![(Action::ListCollections, Granted), (Action::ViewRecords, Granted), (Action::Review, Granted)]
            }
            Role::Dpo => vec![
                (Action::ListCollections, Everything),
                (Action::ViewRecords, Everything),
                (Action::Rights, Everything),
                (Action::Audit, Everything),
                (Action::Retention, Everything),
                (Action::Reports, Everything),
                (Action::People, Everything),
            ],
        };
        assert_eq!(allowed, expected, "{role:?}");
    }
}

#[test]
fn a_proof_is_bound_to_its_action_and_reaches_only_its_collections() {
    let ana = Principal { name: "ana".into(), roles: vec![Role::Investigator], collections: vec![1] };
    let proof = authorize::<actions::Search>(&ana).unwrap();
    assert_eq!(proof.action(), Action::Search);
    assert!(proof.covers(1) && !proof.covers(2));
    assert!(proof.narrow(&[(1, "case-a")]).is_ok());
    let err = proof.narrow(&[(1, "case-a"), (2, "case-b")]).unwrap_err();
    assert!(err.to_string().contains("case-b"), "{err}");
    let narrowed = proof.narrow(&[(1, "case-a")]).unwrap();
    assert_eq!(narrowed.scope().collections().map(|c| c.len()), Some(1));
    // A curator may not search, whatever the grants; they reach every collection for ingestion.
    let curator = Principal { name: "cu".into(), roles: vec![Role::Curator], collections: vec![] };
    assert!(authorize::<actions::Search>(&curator).is_err());
    let ingest = authorize::<actions::Ingest>(&curator).unwrap();
    assert!(ingest.covers(7) && ingest.scope().collections().is_none());
    // Reviewers reach only their grants; with a broad role too, everything.
    let rita = Principal { name: "rita".into(), roles: vec![Role::Reviewer], collections: vec![] };
    assert!(!authorize::<actions::Review>(&rita).unwrap().covers(1));
    let both = Principal { name: "b".into(), roles: vec![Role::Reviewer, Role::Dpo], collections: vec![] };
    assert!(authorize::<actions::ViewRecords>(&both).unwrap().covers(1));
    assert!(authorize::<actions::Review>(&both).unwrap().scope().collections().is_some());
}

#[test]
fn free_text_is_bounded_before_it_is_stored() {
    assert_eq!(limits::user_name(" rita ").unwrap(), "rita");
    assert!(limits::user_name(&"x".repeat(1_500_000)).unwrap_err().to_string().len() < 200);
    assert!(limits::user_name("a b").is_err());
    assert!(limits::bounded("purpose", "line\nbreak", 100, true).is_ok());
    assert!(limits::bounded("case", "line\nbreak", 100, false).is_err());
    let mut d = GovernanceDraft { jurisdictions: vec!["fr".into()], ..Default::default() };
    assert_eq!(d.validate().unwrap().jurisdictions, ["FR"]);
    d.jurisdictions = vec!["zz!".into()];
    assert!(d.validate().is_err());
    d.jurisdictions.clear();
    d.retention = Some(Retention::Until(jiff::civil::date(-9999, 1, 1)));
    assert!(d.validate().is_err());
    d.retention = Some(Retention::Days(0));
    assert!(d.validate().is_err());
    d.retention = Some(Retention::Days(3650));
    d.purpose = Some("p".repeat(100_000));
    assert!(d.validate().unwrap_err().to_string().contains("purpose"));
}

#[test]
fn one_reviewer_cannot_confirm_alone() {
    let r = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(!confirmed(&r(&["rita"]), &[]));
    assert!(!confirmed(&r(&["rita", "rita"]), &[]), "the same reviewer twice is one");
    assert!(confirmed(&r(&["rita", "raoul"]), &[]));
    assert!(!confirmed(&r(&["rita", "raoul"]), &r(&["rhea"])));
}

#[test]
fn retention_expires_after_the_period() {
    let t0: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let day = jiff::SignedDuration::from_hours(24);
    let r = Retention::Days(30);
    assert!(!r.expired(t0, t0 + day * 29));
    assert!(r.expired(t0, t0 + day * 30));
    let until = Retention::Until(jiff::civil::date(2026, 3, 1));
    assert!(!until.expired(t0, "2026-03-01T23:00:00Z".parse().unwrap()));
    assert!(until.expired(t0, "2026-03-02T00:00:01Z".parse().unwrap()));
}

fn key(byte: u8) -> audit::AuditKey {
    audit::AuditKey::new([byte; 32])
}

fn chain(n: u64) -> Vec<audit::Entry> {
    let mut v: Vec<audit::Entry> = Vec::new();
    for i in 0..n {
        let e = audit::next_entry(
            &key(7),
            v.last(),
            &format!("2026-01-01T00:00:{i:02}Z"),
            "ana",
            "search",
            serde_json::json!({"case": i}),
        );
        v.push(e);
    }
    v
}

#[test]
fn audit_verify_detects_modified_deleted_and_reordered_entries() {
    let k = key(7);
    let good = chain(5);
    assert_eq!(verify(&good, &k), None);
    let mut modified = good.clone();
    modified[2].detail = serde_json::json!({"case": 99});
    assert_eq!(verify(&modified, &k).unwrap().position, 3);
    let mut deleted = good.clone();
    deleted.remove(1);
    assert_eq!(verify(&deleted, &k).unwrap().position, 2);
    let mut reordered = good.clone();
    reordered.swap(3, 4);
    assert_eq!(verify(&reordered, &k).unwrap().position, 4);
    // Rewriting seq numbers after a deletion does not help: the codes no longer link.
    let mut renumbered = deleted.clone();
    for (i, e) in renumbered.iter_mut().enumerate() {
        e.seq = i as u64 + 1;
    }
    assert_eq!(verify(&renumbered, &k).unwrap().position, 2);
    // Another key verifies nothing.
    assert_eq!(verify(&good, &key(8)).unwrap().position, 1);
}

/// The chain recomputed from entry `from` on, as one without the key would: plain SHA-256.
fn rewritten_without_the_key(good: &[audit::Entry], from: usize) -> Vec<audit::Entry> {
    let mut out = good[..from].to_vec();
    for e in &good[from..] {
        let prev = out.last().map_or(audit::GENESIS.to_string(), |p| p.hash.clone());
        let hash = audit::legacy_hash(&prev, e.seq, &e.at, "mallory", &e.action, &e.detail);
        out.push(audit::Entry { actor: "mallory".into(), prev_hash: prev, hash, ..e.clone() });
    }
    out
}

#[test]
fn a_chain_rewritten_without_the_key_does_not_verify() {
    let k = key(7);
    let good = chain(6);
    assert_eq!(verify(&rewritten_without_the_key(&good, 3), &k).unwrap().position, 4);
    assert_eq!(verify(&rewritten_without_the_key(&good, 0), &k).unwrap().position, 1);
}

#[test]
fn plain_entries_of_an_older_chain_are_accepted_only_when_a_keyed_marker_vouches_for_them() {
    let k = key(7);
    let plain = rewritten_without_the_key(&chain(3), 0);
    let head = plain.last().unwrap().hash.clone();
    let marker_after = |entries: &[audit::Entry], n: u64| {
        audit::next_entry(
            &k,
            entries.last(),
            "2026-02-01T00:00:00Z",
            "gabarit",
            audit::KEYED_MARKER,
            audit::keyed_marker_detail(n, &head),
        )
    };
    let mut upgraded = plain.clone();
    upgraded.push(marker_after(&upgraded, 3));
    let next = audit::next_entry(&k, upgraded.last(), "2026-02-01T00:00:01Z", "ana", "search", serde_json::json!({}));
    upgraded.push(next);
    assert_eq!(verify(&upgraded, &k), None);
    // A marker vouching for another number of entries, or none at all, breaks.
    let mut wrong = plain.clone();
    wrong.push(marker_after(&wrong, 2));
    assert_eq!(verify(&wrong, &k).unwrap().position, 4);
    let mut unvouched = plain;
    unvouched.push(audit::next_entry(&k, unvouched.last(), "t", "ana", "search", serde_json::json!({})));
    assert_eq!(verify(&unvouched, &k).unwrap().position, 4);
}

#[test]
fn a_checkpoint_catches_truncation_and_rewriting_since_it_was_made() {
    let k = key(7);
    let good = chain(6);
    let cp = audit::Checkpoint::new(&k, &good[..4], "2026-01-02T00:00:00Z");
    assert!(cp.authentic(&k) && !cp.authentic(&key(8)));
    assert_eq!(audit::verify_since(&good, &k, &cp), None, "later entries are fine");
    let truncated = &good[..3];
    assert_eq!(verify(truncated, &k), None, "a truncated chain verifies alone");
    let b = audit::verify_since(truncated, &k, &cp).unwrap();
    assert!(b.reason.starts_with("truncated"), "{b:?}");
    // Rewritten with the key (a chain from another moment of the same directory).
    let mut other = good[..3].to_vec();
    other.push(audit::next_entry(
        &k,
        other.last(),
        "2026-01-01T00:00:03Z",
        "ana",
        "search",
        serde_json::json!({"case": 42}),
    ));
    assert_eq!(verify(&other, &k), None);
    let b = audit::verify_since(&other, &k, &cp).unwrap();
    assert!(b.reason.starts_with("rewritten"), "{b:?}");
    let mut edited = cp.clone();
    edited.entries = 2;
    assert_eq!(audit::verify_since(&good, &k, &edited).unwrap().position, 0);
}

#[test]
fn every_role_permits_exactly_its_actions() {
    use Action as A;
    let table = [
        (Role::Admin, vec![A::ManageUsers, A::ListCollections]),
        (Role::Curator, vec![A::ListCollections, A::ManageCollections, A::Ingest, A::ViewRecords, A::People]),
        (Role::Investigator, vec![A::ListCollections, A::ViewRecords, A::Search, A::People]),
        (Role::Reviewer, vec![A::ListCollections, A::ViewRecords, A::Review]),
        (Role::Dpo, vec![A::ListCollections, A::ViewRecords, A::Rights, A::Audit, A::Retention, A::Reports, A::People]),
    ];
    for (role, allowed) in table {
        for action in Action::ALL {
            assert_eq!(permits(role, action), allowed.contains(&action), "{role:?} {action:?}");
        }
    }
}

#[test]
fn roles_actions_and_purpose_categories_have_stable_names_that_parse_back() {
    let roles: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
    assert_eq!(roles, ["admin", "curator", "investigator", "reviewer", "dpo"]);
    for role in Role::ALL {
        assert_eq!(Role::parse(role.name()).unwrap(), role);
    }
    assert_eq!(Role::parse(" DPO ").unwrap(), Role::Dpo);
    assert!(Role::parse("root").is_err());
    let actions: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
    assert_eq!(
        actions,
        [
            "manage_users",
            "list_collections",
            "manage_collections",
            "ingest",
            "view_records",
            "search",
            "review",
            "handle_rights_requests",
            "audit",
            "run_retention",
            "reports",
            "people",
        ]
    );
    let categories: Vec<&str> = PurposeCategory::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(categories, ["archive", "investigation", "event_photos", "fraud_prevention", "research"]);
    for category in PurposeCategory::ALL {
        assert_eq!(PurposeCategory::parse(category.name()).unwrap(), category);
    }
    assert_eq!(PurposeCategory::parse("Event-Photos").unwrap(), PurposeCategory::EventPhotos);
    assert!(PurposeCategory::parse("marketing").is_err());
}

#[test]
fn conditions_and_retentions_read_as_a_person_reads_them() {
    assert_eq!(Condition::LegalClaims.to_string(), "GDPR art. 9(2)(f) legal_claims");
    assert_eq!(Condition::ExplicitConsent.to_string(), "GDPR art. 9(2)(a) explicit_consent");
    assert_eq!(Retention::Days(1).to_string(), "1 day after ingestion");
    assert_eq!(Retention::Days(365).to_string(), "365 days after ingestion");
    assert_eq!(Retention::Until(jiff::civil::date(2030, 12, 31)).to_string(), "until 2030-12-31");
}

#[test]
fn retention_accepts_one_day_to_a_hundred_years_or_a_date_from_2000_to_2200() {
    let date = |y| Retention::Until(jiff::civil::date(y, 6, 1));
    for ok in [Retention::Days(1), Retention::Days(36_500), date(2000), date(2200)] {
        assert_eq!(ok.validate(), Ok(ok));
    }
    for bad in [Retention::Days(0), Retention::Days(36_501), date(1999), date(2201)] {
        assert!(bad.validate().is_err(), "{bad:?}");
    }
}

#[test]
fn a_draft_holds_at_most_fifty_jurisdictions() {
    let codes: Vec<String> =
        (0u8..51).map(|i| format!("{}{}", char::from(b'A' + i / 26), char::from(b'A' + i % 26))).collect();
    let fifty = GovernanceDraft { jurisdictions: codes[..50].to_vec(), ..Default::default() };
    assert_eq!(fifty.validate().unwrap().jurisdictions, codes[..50]);
    let fifty_one = GovernanceDraft { jurisdictions: codes, ..Default::default() };
    assert_eq!(
        fifty_one.validate(),
        Err(Error::Bounds { field: "jurisdiction", problem: "51 given, at most 50".into() })
    );
}

#[test]
fn a_draft_with_every_option_set_but_a_blank_or_empty_field_is_incomplete() {
    let full = GovernanceDraft {
        controller: Some("AFP".into()),
        controller_contact: Some("dpo@afp.example".into()),
        purpose: Some("press archive".into()),
        purpose_category: Some(PurposeCategory::Archive),
        legal_basis: Some(LegalBasis::LegitimateInterests),
        condition: Some(Condition::Archiving),
        jurisdictions: vec!["FR".into()],
        retention: Some(Retention::Days(3650)),
        dpia: Some("DPIA-2026-01".into()),
        grouping: false,
    };
    assert!(full.complete("press").is_ok());
    let no_jurisdiction = GovernanceDraft { jurisdictions: vec![], ..full.clone() };
    assert_eq!(
        no_jurisdiction.complete("press"),
        Err(Error::Incomplete { collection: "press".into(), missing: vec!["jurisdiction"] })
    );
    let blank_dpia = GovernanceDraft { dpia: Some("  ".into()), ..full };
    assert_eq!(
        blank_dpia.complete("press"),
        Err(Error::Incomplete { collection: "press".into(), missing: vec!["dpia"] })
    );
}

#[test]
fn free_text_of_exactly_the_limit_is_accepted() {
    assert_eq!(limits::bounded("case", &"é".repeat(10), 10, false), Ok("é".repeat(10).as_str()));
    assert_eq!(
        limits::bounded("case", &"é".repeat(11), 10, false),
        Err(Error::Bounds { field: "case", problem: "11 characters, more than the 10 allowed".into() })
    );
}

#[test]
fn a_quoted_value_is_elided_after_eighty_characters() {
    assert_eq!(limits::shown(""), "");
    assert_eq!(limits::shown(&"é".repeat(80)), "é".repeat(80));
    assert_eq!(limits::shown(&"é".repeat(81)), format!("{}… (81 characters)", "é".repeat(80)));
}

#[test]
fn a_refusal_names_the_user_and_all_their_roles() {
    let ana = Principal { name: "ana".into(), roles: vec![Role::Investigator, Role::Reviewer], collections: vec![] };
    assert_eq!(
        authorize::<actions::Ingest>(&ana).unwrap_err().to_string(),
        "ana (investigator, reviewer) may not ingest"
    );
}

#[test]
fn a_proof_names_the_user_it_was_made_for() {
    let ana = Principal { name: "ana".into(), roles: vec![Role::Investigator], collections: vec![1] };
    let proof = authorize::<actions::Search>(&ana).unwrap();
    assert_eq!(proof.user(), "ana");
    assert_eq!(proof.narrow(&[(1, "case-a")]).unwrap().user(), "ana");
    assert_eq!(authorize_system::<actions::Retention>("gabarit").user(), "gabarit");
}

#[test]
fn entry_codes_follow_the_documented_format() {
    let detail = serde_json::json!({"case": 0});
    let at = "2026-01-01T00:00:00Z";
    // SHA-256 and HMAC-SHA256 (key: 32 bytes of 7) of the genesis, "\n" and
    // {"action":"search","actor":"ana","at":"2026-01-01T00:00:00Z","detail":{"case":0},"seq":1},
    // computed outside Rust.
    assert_eq!(
        audit::legacy_hash(audit::GENESIS, 1, at, "ana", "search", &detail),
        "d5a5800e89eefa19d0ce68c4d672533ee7a42321df9f70ef7d70c91e1c02d3b2"
    );
    assert_eq!(chain(1)[0].hash, "3538f3f8ab87fdc9dce805d2d5d52c55537f200d740443ede0819118f04feb7c");
}

#[test]
fn only_a_plain_sha256_entry_is_legacy() {
    let keyed = chain(2);
    let plain = rewritten_without_the_key(&keyed, 0);
    assert!(audit::is_legacy(&plain[0]) && audit::is_legacy(&plain[1]));
    assert!(!audit::is_legacy(&keyed[0]) && !audit::is_legacy(&keyed[1]));
}

#[test]
fn an_empty_chain_verifies_and_satisfies_an_empty_checkpoint() {
    let k = key(7);
    assert_eq!(verify(&[], &k), None);
    let empty = audit::Checkpoint::new(&k, &[], "2026-01-01T00:00:00Z");
    assert_eq!(empty.head, audit::GENESIS);
    assert_eq!(audit::verify_since(&[], &k, &empty), None);
    assert_eq!(audit::verify_since(&chain(3), &k, &empty), None);
}

#[test]
fn a_truncation_is_reported_just_after_the_last_entry_left() {
    let k = key(7);
    let good = chain(5);
    let cp = audit::Checkpoint::new(&k, &good, "2026-01-02T00:00:00Z");
    let b = audit::verify_since(&good[..3], &k, &cp).unwrap();
    assert_eq!((b.position, b.seq), (4, 0));
    assert_eq!(b.reason, "truncated: the checkpoint of 2026-01-02T00:00:00Z counted 5 entries, 3 remain");
}

#[test]
fn an_audit_key_does_not_show_its_bytes_when_debugged() {
    assert_eq!(format!("{:?}", key(7)), "AuditKey(..)");
}

#[test]
fn grouping_faces_by_person_needs_a_purpose_that_allows_it_and_a_dpia() {
    let archive = GovernanceDraft {
        purpose_category: Some(PurposeCategory::Archive),
        dpia: Some("DPIA-2026-01".into()),
        grouping: true,
        ..Default::default()
    };
    assert!(archive.validate().unwrap().grouping);
    let refused = |d: &GovernanceDraft| match d.validate() {
        Err(Error::Invalid { field: "grouping", expected, .. }) => expected,
        other => panic!("expected grouping refused, got {other:?}"),
    };
    let events = GovernanceDraft { purpose_category: Some(PurposeCategory::EventPhotos), ..archive.clone() };
    assert!(refused(&events).contains("event_photos"));
    let no_category = GovernanceDraft { purpose_category: None, ..archive.clone() };
    assert!(refused(&no_category).contains("purpose category"));
    let blank_dpia = GovernanceDraft { dpia: Some("  ".into()), ..archive.clone() };
    assert!(refused(&blank_dpia).contains("DPIA"));
    // Off is always allowed, whatever the purpose.
    assert!(!GovernanceDraft { grouping: false, ..events }.validate().unwrap().grouping);
    for c in PurposeCategory::ALL {
        assert_eq!(c.allows_grouping(), c != PurposeCategory::EventPhotos, "{c:?}");
    }
    // A record stored before the field existed reads as off.
    let old: GovernanceDraft = serde_json::from_str(r#"{"dpia":"D"}"#).unwrap();
    assert!(!old.grouping);
}
