//! The copy's list of tables is the schema's, on both stores: every table, its primary key,
//! and an order in which each comes after the tables it references.

use std::collections::BTreeMap;

use super::tests_stores::Store;

/// Table → primary-key columns, in order.
type Keys = BTreeMap<String, Vec<String>>;

fn listed() -> Keys {
    crate::copy::tables().into_iter().map(|(t, k)| (t.to_owned(), k.into_iter().map(str::to_owned).collect())).collect()
}

#[test]
fn the_copy_lists_every_table_of_sqlite_with_its_key_after_what_it_references() {
    let store = Store::sqlite();
    drop(store.keyed());
    let (keys, references) = store.raw(|db| {
        let tables = db
            .rows("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'", &[], |r| {
                r.get::<String>(0)
            })
            .unwrap();
        let mut keys = Keys::new();
        let mut references = Vec::new();
        for t in tables {
            let mut pk = db
                .rows("SELECT pk, name FROM pragma_table_info(?1) WHERE pk > 0", &[&t], |r| {
                    Ok((r.get::<i64>(0)?, r.get::<String>(1)?))
                })
                .unwrap();
            pk.sort();
            keys.insert(t.clone(), pk.into_iter().map(|(_, n)| n).collect());
            for to in
                db.rows("SELECT \"table\" FROM pragma_foreign_key_list(?1)", &[&t], |r| r.get::<String>(0)).unwrap()
            {
                references.push((t.clone(), to));
            }
        }
        (keys, references)
    });
    assert_eq!(listed(), keys);
    let order: Vec<&str> = crate::copy::tables().iter().map(|(t, _)| *t).collect();
    let at = |t: &str| order.iter().position(|o| *o == t).unwrap();
    assert!(!references.is_empty());
    for (from, to) in &references {
        assert!(at(to) < at(from), "{from} references {to}, listed after it");
    }
}

#[test]
fn the_copy_lists_every_table_of_postgresql_with_its_key() {
    let store = Store::postgres();
    drop(store.keyed());
    let keys = store.raw(|db| {
        let rows = db
            .rows(
                "SELECT t.relname::text, a.attname::text, k.n
                 FROM pg_index i
                 JOIN pg_class t ON t.oid = i.indrelid
                 JOIN pg_namespace s ON s.oid = t.relnamespace AND s.nspname = current_schema()
                 CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                 WHERE i.indisprimary AND t.relname NOT IN ('gabarit_schema', 'gabarit_keyring')
                 ORDER BY 1, 3",
                &[],
                |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
            )
            .unwrap();
        let mut keys = Keys::new();
        for (t, c) in rows {
            keys.entry(t).or_default().push(c);
        }
        keys
    });
    assert_eq!(listed(), keys);
}
