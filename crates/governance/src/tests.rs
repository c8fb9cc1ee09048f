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
    for role in Role::ALL {
        let allowed: Vec<Action> = [
            Action::ManageUsers,
            Action::ManageCollections,
            Action::Ingest,
            Action::Search,
            Action::Review,
            Action::Rights,
            Action::Audit,
            Action::Retention,
            Action::Reports,
        ]
        .into_iter()
        .filter(|&a| permits(role, a))
        .collect();
        let expected = match role {
            Role::Admin => vec![Action::ManageUsers],
            Role::Curator => vec![Action::ManageCollections, Action::Ingest],
            Role::Investigator => vec![Action::Search],
            Role::Reviewer => vec![Action::Review],
            Role::Dpo => vec![Action::Rights, Action::Audit, Action::Retention, Action::Reports],
        };
        assert_eq!(allowed, expected, "{role:?}");
    }
}

#[test]
fn investigators_search_only_granted_collections() {
    let ana = Principal { name: "ana".into(), roles: vec![Role::Investigator], collections: vec![1] };
    assert!(authorize_search(&ana, &[(1, "case-a".into())]).is_ok());
    let err = authorize_search(&ana, &[(1, "case-a".into()), (2, "case-b".into())]).unwrap_err();
    assert!(err.to_string().contains("case-b"), "{err}");
    let curator = Principal { name: "cu".into(), roles: vec![Role::Curator], collections: vec![1] };
    assert!(authorize_search(&curator, &[(1, "case-a".into())]).is_err());
    assert_eq!(authorize::<actions::Other>(&curator, Action::Ingest).unwrap().user(), "cu");
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

fn chain(n: u64) -> Vec<audit::Entry> {
    let mut v: Vec<audit::Entry> = Vec::new();
    for i in 0..n {
        let e = audit::next_entry(
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
    let good = chain(5);
    assert_eq!(verify(&good), None);
    let mut modified = good.clone();
    modified[2].detail = serde_json::json!({"case": 99});
    assert_eq!(verify(&modified).unwrap().position, 3);
    let mut deleted = good.clone();
    deleted.remove(1);
    assert_eq!(verify(&deleted).unwrap().position, 2);
    let mut reordered = good.clone();
    reordered.swap(3, 4);
    assert_eq!(verify(&reordered).unwrap().position, 4);
    // Rewriting seq numbers after a deletion does not help: the hashes no longer link.
    let mut renumbered = deleted.clone();
    for (i, e) in renumbered.iter_mut().enumerate() {
        e.seq = i as u64 + 1;
    }
    assert_eq!(verify(&renumbered).unwrap().position, 2);
}
