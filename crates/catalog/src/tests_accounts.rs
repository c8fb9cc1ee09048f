//! Accounts: governance fields, users, roles, grants, API keys, passwords and sessions.

use gabarit_governance::{GovernanceDraft, Role};
use sha2::Digest as _;

use super::tests::{change, create, try_change};
use super::tests_stores::{Store, both};
use super::*;

const FAR: &str = "2999-01-01T00:00:00Z";
const NOW: &str = "2026-03-01T00:00:00Z";

fn user(cat: &mut Catalog, name: &str, roles: &[Role]) -> UserRecord {
    change(cat, |tx| tx.create_user(name, roles))
}

fn session(cat: &mut Catalog, name: &str, expires_at: &str) -> (String, String) {
    change(cat, |tx| tx.create_session(name, expires_at))
}

fn names(users: &[UserRecord]) -> Vec<&str> {
    users.iter().map(|u| u.name.as_str()).collect()
}

both!(governance_fields_are_stored_per_collection_and_an_unknown_collection_is_not_found, |w| {
    let mut cat = w.keyed();
    create(&mut cat, "press");
    create(&mut cat, "archive");
    let g = GovernanceDraft {
        controller: Some("City of Lyon".into()),
        purpose: Some("missing persons".into()),
        jurisdictions: vec!["FR".into()],
        dpia: Some("DPIA-7".into()),
        grouping: false,
        ..GovernanceDraft::default()
    };
    change(&mut cat, |tx| tx.set_governance("press", &g));
    let other = w.plain();
    assert_eq!(other.governance("press").unwrap(), g);
    assert_eq!(other.governance("archive").unwrap(), GovernanceDraft::default(), "another collection is untouched");
    let missing = try_change(&mut cat, |tx| tx.set_governance("nope", &g));
    assert!(matches!(missing, Err(Error::NotFound { .. })), "{missing:?}");
    assert!(matches!(other.governance("nope"), Err(Error::NotFound { .. })));
});

both!(users_are_counted_and_listed_by_name_and_a_disabled_one_drops_out, |w| {
    let mut cat = w.keyed();
    assert_eq!(cat.user_count().unwrap(), 0);
    assert!(cat.users().unwrap().is_empty());
    user(&mut cat, "zoe", &[Role::Admin]);
    let ann = user(&mut cat, "ann", &[Role::Dpo, Role::Reviewer]);
    assert_eq!(cat.user_count().unwrap(), 2);
    user(&mut cat, "bob", &[Role::Curator]);
    let refused = try_change(&mut cat, |tx| tx.create_user("nobody", &[]));
    assert!(matches!(refused, Err(Error::Invalid(_))), "{refused:?}");
    let taken = try_change(&mut cat, |tx| tx.create_user("ann", &[Role::Admin]));
    assert!(matches!(taken, Err(Error::AlreadyExists { .. })), "{taken:?}");

    let other = w.keyed();
    assert_eq!(other.user_count().unwrap(), 3);
    let listed = other.users().unwrap();
    assert_eq!(names(&listed), ["ann", "bob", "zoe"]);
    assert_eq!(listed[0], ann);
    assert_eq!(listed[0].roles, [Role::Dpo, Role::Reviewer]);
    change(&mut cat, |tx| tx.disable_user("zoe"));
    assert_eq!(names(&other.users().unwrap()), ["ann", "bob"]);
    assert_eq!(other.user_count().unwrap(), 3, "a disabled user's record stays");
    assert_eq!(other.user("zoe").unwrap(), None);
});

both!(roles_replaced_are_read_back_and_an_empty_set_is_refused, |w| {
    let mut cat = w.keyed();
    user(&mut cat, "ann", &[Role::Investigator]);
    user(&mut cat, "bob", &[Role::Investigator]);
    change(&mut cat, |tx| tx.set_roles("ann", &[Role::Curator, Role::Reviewer]));
    let other = w.keyed();
    assert_eq!(other.user("ann").unwrap().unwrap().roles, [Role::Curator, Role::Reviewer]);
    assert_eq!(other.principal("ann").unwrap().roles, [Role::Curator, Role::Reviewer]);
    assert_eq!(other.user("bob").unwrap().unwrap().roles, [Role::Investigator], "only ann's changed");
    let empty = try_change(&mut cat, |tx| tx.set_roles("ann", &[]));
    assert!(matches!(empty, Err(Error::Invalid(_))), "{empty:?}");
    let unknown = try_change(&mut cat, |tx| tx.set_roles("nobody", &[Role::Admin]));
    assert!(matches!(unknown, Err(Error::NotFound { .. })), "{unknown:?}");
    assert_eq!(other.user("ann").unwrap().unwrap().roles, [Role::Curator, Role::Reviewer]);
});

both!(withdrawing_a_grant_says_whether_there_was_one_and_leaves_the_others, |w| {
    let mut cat = w.keyed();
    let (press, archive) = (create(&mut cat, "press"), create(&mut cat, "archive"));
    user(&mut cat, "inv", &[Role::Investigator]);
    change(&mut cat, |tx| {
        tx.grant("inv", "press")?;
        tx.grant("inv", "archive")
    });
    let mut granted = cat.principal("inv").unwrap().collections;
    granted.sort_unstable();
    assert_eq!(granted, [press.id, archive.id]);
    assert!(change(&mut cat, |tx| tx.ungrant("inv", "press")), "there was a grant");
    assert!(!change(&mut cat, |tx| tx.ungrant("inv", "press")), "there was none left");
    assert_eq!(cat.principal("inv").unwrap().collections, [archive.id]);
    assert_eq!(cat.user("inv").unwrap().unwrap().collections, ["archive"]);
});

/// The stored salt and hash of a key.
fn salt_and_hash(w: &Store, prefix: &str) -> (String, String) {
    let row = w.texts("SELECT salt, hash FROM api_keys WHERE prefix = ?1", &[&prefix]).pop().unwrap();
    (row[0].clone(), row[1].clone())
}

both!(a_key_authenticates_with_its_own_secret_only, |w| {
    let mut cat = w.keyed();
    let press = create(&mut cat, "press");
    let key = change(&mut cat, |tx| {
        tx.create_user("inv", &[Role::Investigator])?;
        tx.grant("inv", "press")?;
        tx.issue_key("inv")
    });
    let parts: Vec<&str> = key.split('_').collect();
    let [gbk, prefix, secret] = parts[..] else { panic!("{key}") };
    assert_eq!(gbk, "gbk");
    assert_eq!(cat.user_for_key(&key).unwrap().as_deref(), Some("inv"));
    assert_eq!(cat.user_for_key(&format!("  {key}\n")).unwrap().as_deref(), Some("inv"), "surrounding blanks");
    let (principal, shown) = cat.principal_for_key(&key).unwrap().unwrap();
    assert_eq!(shown, prefix);
    assert_eq!((principal.name.as_str(), principal.roles.as_slice()), ("inv", [Role::Investigator].as_slice()));
    assert_eq!(principal.collections, [press.id]);

    let mut flipped = secret.to_string();
    let last = if flipped.ends_with('0') { "1" } else { "0" };
    flipped.replace_range(flipped.len() - 1.., last);
    // A wrong secret whose hash's bytes XOR to the same value as the right hash's: a
    // comparison that folded the differences with `^` instead of `|` would take it.
    let (salt, hash) = salt_and_hash(w, prefix);
    let xor = |h: &str| h.bytes().fold(0u8, |a, b| a ^ b);
    // (About one secret in 32 does; the search is bounded so that a broken hash fails, not hangs.)
    let colliding = (0u32..100_000)
        .map(|i| format!("wrong{i}"))
        .find(|s| {
            let h = hex::encode(sha2::Sha256::digest(format!("{salt}:{s}").as_bytes()));
            h != hash && xor(&h) == xor(&hash)
        })
        .expect("no secret found whose hash XORs like the stored one");
    let refused = [
        format!("gbk_{prefix}_{flipped}"),
        format!("gbk_{prefix}_{colliding}"),
        format!("gbk_{prefix}_"),
        format!("gbk_{prefix}"),
        format!("gbk_{prefix}_{secret}x"),
        format!("xyz_{prefix}_{secret}"),
        format!("gbk_000000000000_{secret}"),
        secret.to_string(),
        String::new(),
    ];
    for bad in &refused {
        assert_eq!(cat.user_for_key(bad).unwrap(), None, "{bad:?}");
        assert_eq!(cat.principal_for_key(bad).unwrap(), None, "{bad:?}");
    }
});

both!(a_revoked_key_or_a_disabled_user_no_longer_authenticates, |w| {
    let mut cat = w.keyed();
    let (k1, k2) = change(&mut cat, |tx| {
        tx.create_user("inv", &[Role::Investigator])?;
        Ok((tx.issue_key("inv")?, tx.issue_key("inv")?))
    });
    let prefix = k1.split('_').nth(1).unwrap().to_string();
    change(&mut cat, |tx| tx.revoke_key("inv", &prefix));
    assert_eq!(cat.principal_for_key(&k1).unwrap(), None);
    assert_eq!(cat.principal_for_key(&k2).unwrap().unwrap().0.name, "inv");
    let again = try_change(&mut cat, |tx| tx.revoke_key("inv", &prefix));
    assert!(matches!(again, Err(Error::NotFound { .. })), "{again:?}");
    change(&mut cat, |tx| tx.disable_user("inv"));
    assert_eq!(cat.principal_for_key(&k2).unwrap(), None);
    assert_eq!(cat.user_for_key(&k2).unwrap(), None);
});

both!(a_password_hash_is_stored_as_given_and_setting_it_ends_the_users_sessions_only, |w| {
    let mut cat = w.keyed();
    user(&mut cat, "inv", &[Role::Investigator]);
    user(&mut cat, "ann", &[Role::Dpo]);
    assert_eq!(cat.password_hash("inv").unwrap(), None, "no password yet");
    assert_eq!(cat.password_hash("nobody").unwrap(), None);
    let (s1, s2, sa) = (session(&mut cat, "inv", FAR), session(&mut cat, "inv", FAR), session(&mut cat, "ann", FAR));
    let phc = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
    assert_eq!(change(&mut cat, |tx| tx.set_password_hash("inv", phc)), 2, "both of inv's sessions ended");
    let other = w.keyed();
    assert_eq!(other.password_hash("inv").unwrap().as_deref(), Some(phc));
    assert_eq!(other.password_hash("ann").unwrap(), None);
    assert_eq!(other.session(&s1.0, NOW).unwrap(), None);
    assert_eq!(other.session(&s2.0, NOW).unwrap(), None);
    assert_eq!(other.session(&sa.0, NOW).unwrap(), Some(("ann".into(), sa.1)), "another user's session stays");
    assert_eq!(change(&mut cat, |tx| tx.set_password_hash("inv", "$argon2id$other")), 0);
    assert_eq!(other.password_hash("inv").unwrap().as_deref(), Some("$argon2id$other"));
    change(&mut cat, |tx| tx.disable_user("inv"));
    assert_eq!(other.password_hash("inv").unwrap(), None, "a disabled user has no usable password");
});

both!(a_session_is_found_by_its_token_until_it_expires_and_belongs_to_its_user_only, |w| {
    let mut cat = w.keyed();
    user(&mut cat, "inv", &[Role::Investigator]);
    user(&mut cat, "ann", &[Role::Dpo]);
    let expires = "2026-06-01T00:00:00Z";
    let (t1, csrf1) = session(&mut cat, "inv", expires);
    let (t2, csrf2) = session(&mut cat, "ann", expires);
    assert_ne!(t1, t2);
    assert_ne!(csrf1, csrf2);
    let other = w.keyed();
    assert_eq!(other.session(&t1, NOW).unwrap(), Some(("inv".into(), csrf1)));
    assert_eq!(other.session(&t2, NOW).unwrap(), Some(("ann".into(), csrf2)));
    assert_eq!(other.session(&t1, expires).unwrap(), None, "expired at its expiry time");
    assert_eq!(other.session("not-a-token", NOW).unwrap(), None);
    assert_eq!(other.session("", NOW).unwrap(), None);
    assert!(other.session_of(&t1, "inv").unwrap());
    assert!(!other.session_of(&t1, "ann").unwrap());
    assert!(other.session_of(&t2, "ann").unwrap());
    assert!(!other.session_of("not-a-token", "inv").unwrap());
    // Only the token's hash is stored.
    let stored: Vec<String> = w.texts("SELECT token_hash FROM sessions", &[]).into_iter().flatten().collect();
    assert_eq!(stored.len(), 2);
    assert!(!stored.contains(&t1) && !stored.contains(&t2));
});

both!(ending_a_session_says_whether_it_was_the_users_and_drops_the_expired_ones, |w| {
    let mut cat = w.keyed();
    user(&mut cat, "inv", &[Role::Investigator]);
    user(&mut cat, "ann", &[Role::Dpo]);
    let (mine, _) = session(&mut cat, "inv", FAR);
    let (theirs, _) = session(&mut cat, "ann", FAR);
    let (stale, _) = session(&mut cat, "ann", "2026-01-01T00:00:00Z");
    assert!(cat.session_of(&stale, "ann").unwrap());
    assert!(!change(&mut cat, |tx| tx.end_session("inv", &theirs, NOW)), "not inv's session");
    assert!(cat.session(&theirs, NOW).unwrap().is_some(), "so it goes on");
    assert!(!cat.session_of(&stale, "ann").unwrap(), "an expired session is dropped");
    assert!(change(&mut cat, |tx| tx.end_session("inv", &mine, NOW)));
    assert_eq!(cat.session(&mine, NOW).unwrap(), None);
    assert!(!change(&mut cat, |tx| tx.end_session("inv", &mine, NOW)), "already ended");
});

both!(disabling_a_user_ends_every_session_of_theirs_and_says_how_many, |w| {
    let mut cat = w.keyed();
    user(&mut cat, "inv", &[Role::Investigator]);
    user(&mut cat, "ann", &[Role::Dpo]);
    user(&mut cat, "bob", &[Role::Dpo]);
    let (a, b) = (session(&mut cat, "inv", FAR), session(&mut cat, "inv", FAR));
    let kept = session(&mut cat, "ann", FAR);
    assert_eq!(change(&mut cat, |tx| tx.disable_user("inv")), 2);
    assert_eq!(cat.session(&a.0, NOW).unwrap(), None);
    assert_eq!(cat.session(&b.0, NOW).unwrap(), None);
    assert_eq!(cat.session(&kept.0, NOW).unwrap(), Some(("ann".into(), kept.1)));
    assert_eq!(change(&mut cat, |tx| tx.disable_user("bob")), 0, "bob had none");
    session(&mut cat, "ann", FAR);
    assert_eq!(change(&mut cat, |tx| tx.end_sessions_of("ann")), 2);
    assert_eq!(change(&mut cat, |tx| tx.end_sessions_of("ann")), 0);
});
