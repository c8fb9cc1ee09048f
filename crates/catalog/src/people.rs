//! People: a collection's faces grouped by person, the users' corrections, and the grouping's
//! own state (candidate pairs found so far, which faces were searched). Labels are sealed with
//! the data key like templates; nothing here says whether a collection may be grouped (the
//! engine asks its governance first).

use serde::{Deserialize, Serialize};

use crate::sql::Row;
use crate::{Catalog, Error, Result, Tx, now};

/// A face as the grouping sees it: its photo (or video frame), track and template.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupingFace {
    /// Face id.
    pub face_id: u64,
    /// Its image (photo or video).
    pub image_id: u64,
    /// For a face of a video: its track and the time of its frame.
    pub moment: Option<crate::Moment>,
    /// Quantised template and scale.
    pub template: (Vec<i8>, f32),
}

/// One face's place in a grouping.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// Face id.
    pub face_id: u64,
    /// Person id.
    pub person_id: u64,
    /// Whether a user's correction vouched for it.
    pub confirmed: bool,
}

/// A person of a collection, as listed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonRecord {
    /// Id (stable across runs while the person keeps faces).
    pub id: u64,
    /// Collection id.
    pub collection_id: u32,
    /// The name a user gave (personal data: shown to those who may see the collection's
    /// people, never logged).
    pub label: Option<String>,
    /// Faces.
    pub faces: u64,
    /// Faces a user's correction vouched for.
    pub confirmed: u64,
    /// The face to show for it (the highest detector score).
    pub cover_face: u64,
}

/// The last grouping run of a collection.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupingRun {
    /// Least similarity of a candidate pair.
    pub edge: f32,
    /// Join threshold used.
    pub join: Option<f32>,
    /// When it ended (RFC 3339).
    pub ran_at: Option<String>,
    /// Faces grouped.
    pub faces: u64,
    /// Persons (groups of two faces or more, and every corrected one).
    pub persons: u64,
}

/// What erasing a collection's grouping removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasedGrouping {
    /// Persons (with their labels).
    pub persons: u64,
    /// Face assignments.
    pub assignments: u64,
    /// "Not this person" marks.
    pub marks: u64,
    /// Candidate pairs.
    pub pairs: u64,
}

/// An assignment from a row of (face_id, person_id, confirmed).
fn assignment(r: &Row<'_>) -> Result<Assignment> {
    Ok(Assignment { face_id: r.get(0)?, person_id: r.get(1)?, confirmed: r.get(2)? })
}

/// The associated data a person's sealed label is bound to.
fn label_aad(person: u64) -> Vec<u8> {
    let mut aad = b"gabarit/person-label/".to_vec();
    aad.extend(person.to_le_bytes());
    aad
}

impl Catalog {
    fn sealing_key(&self, what: &'static str) -> Result<&gabarit_crypto::DataKey> {
        self.key.as_deref().ok_or(Error::Locked { path: self.path.clone(), what })
    }

    fn open_label(&self, person: u64, blob: Option<Vec<u8>>) -> Result<Option<String>> {
        let Some(blob) = blob else { return Ok(None) };
        let key = self.sealing_key("a person's label")?;
        let plain = key.open(&blob, &label_aad(person)).map_err(|e| Error::Crypto {
            path: self.path.clone(),
            what: format!("the label of person {person}"),
            reason: format!("cannot be decrypted with this key ({e})"),
        })?;
        String::from_utf8(plain).map(Some).map_err(|_| Error::Crypto {
            path: self.path.clone(),
            what: format!("the label of person {person}"),
            reason: "is not text once decrypted".into(),
        })
    }

    /// The faces of a collection that have a template, by id, with their templates opened.
    pub fn grouping_faces(&self, collection_id: u32) -> Result<Vec<GroupingFace>> {
        let mut out = Vec::new();
        self.db().each(
            "SELECT t.face_id, f.image_id, f.track, f.time_s, t.scale, t.vector FROM templates t
             JOIN faces f ON f.id = t.face_id WHERE t.collection_id = ?1 ORDER BY t.face_id",
            &[&collection_id],
            |r| {
                let face_id: u64 = r.get(0)?;
                let blob: Vec<u8> = r.get(5)?;
                let template = self.open_template(&blob, r.get(4)?, &face_id.to_le_bytes())?;
                let moment = match (r.get::<Option<u32>>(2)?, r.get::<Option<f64>>(3)?) {
                    (Some(track), Some(time_s)) => Some(crate::Moment { track, time_s }),
                    _ => None,
                };
                out.push(GroupingFace { face_id, image_id: r.get(1)?, moment, template });
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// The faces of a collection whose neighbours a grouping searched.
    pub fn grouping_searched(&self, collection_id: u32) -> Result<std::collections::HashSet<u64>> {
        Ok(self
            .db()
            .rows("SELECT face_id FROM grouping_searched WHERE collection_id = ?1", &[&collection_id], |r| r.get(0))?
            .into_iter()
            .collect())
    }

    /// The candidate pairs stored for a collection (smaller face id first).
    pub fn grouping_pairs(&self, collection_id: u32) -> Result<Vec<(u64, u64)>> {
        self.db().rows("SELECT a, b FROM grouping_pairs WHERE collection_id = ?1", &[&collection_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
    }

    /// The last run's figures, if the collection was ever grouped.
    pub fn grouping_run(&self, collection_id: u32) -> Result<Option<GroupingRun>> {
        self.db().row(
            "SELECT edge, join_threshold, ran_at, faces, persons FROM groupings WHERE collection_id = ?1",
            &[&collection_id],
            |r| {
                Ok(GroupingRun {
                    edge: r.get(0)?,
                    join: r.get(1)?,
                    ran_at: r.get(2)?,
                    faces: r.get(3)?,
                    persons: r.get(4)?,
                })
            },
        )
    }

    /// Stores candidate pairs found for `searched` faces and marks them searched, in one
    /// transaction (a grouping interrupted between two batches resumes after the last). This
    /// is the grouping job's progress, derived from templates already stored: its audit entry
    /// is the run's (`people_group`). Starting over with another edge threshold forgets the
    /// pairs found with the old one.
    pub fn add_grouping_pairs(
        &self,
        collection_id: u32,
        edge: f32,
        pairs: &[(u64, u64)],
        searched: &[u64],
    ) -> Result<()> {
        let db = self.db();
        db.begin_write()?;
        let run = || -> Result<()> {
            let stored =
                db.row("SELECT edge FROM groupings WHERE collection_id = ?1", &[&collection_id], |r| r.get::<f32>(0))?;
            if stored.is_some_and(|e| e != edge) {
                for table in ["grouping_pairs", "grouping_searched"] {
                    db.execute(&format!("DELETE FROM {table} WHERE collection_id = ?1"), &[&collection_id])?;
                }
            }
            db.execute(
                "INSERT INTO groupings (collection_id, edge) VALUES (?1, ?2)
                 ON CONFLICT (collection_id) DO UPDATE SET edge = excluded.edge",
                &[&collection_id, &edge],
            )?;
            for &(a, b) in pairs {
                db.execute(
                    "INSERT INTO grouping_pairs (a, b, collection_id) VALUES (?1, ?2, ?3) ON CONFLICT (a, b) DO NOTHING",
                    &[&a.min(b), &a.max(b), &collection_id],
                )?;
            }
            for f in searched {
                db.execute(
                    "INSERT INTO grouping_searched (face_id, collection_id) VALUES (?1, ?2) ON CONFLICT (face_id) DO NOTHING",
                    &[f, &collection_id],
                )?;
            }
            Ok(())
        };
        match run() {
            Ok(()) => db.commit(),
            Err(e) => {
                let _ = db.rollback();
                Err(e)
            }
        }
    }

    /// Every face's person in a collection.
    pub fn person_assignments(&self, collection_id: u32) -> Result<Vec<Assignment>> {
        self.db().rows(
            "SELECT pf.face_id, pf.person_id, pf.confirmed FROM person_faces pf JOIN persons p ON p.id = pf.person_id
             WHERE p.collection_id = ?1 ORDER BY pf.face_id",
            &[&collection_id],
            assignment,
        )
    }

    /// The "not this person" marks of a collection: (face, person).
    pub fn person_marks(&self, collection_id: u32) -> Result<Vec<(u64, u64)>> {
        self.db().rows(
            "SELECT n.face_id, n.person_id FROM person_not n JOIN persons p ON p.id = n.person_id
             WHERE p.collection_id = ?1 ORDER BY 1, 2",
            &[&collection_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// A page of the persons of a collection, most faces first (then by id): how many there
    /// are in all (the named ones only when `named_only`), and `limit` of them from `offset`.
    pub fn persons(
        &self,
        collection_id: u32,
        named_only: bool,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<PersonRecord>)> {
        let named = if named_only { " AND label IS NOT NULL" } else { "" };
        let total =
            self.count(&format!("SELECT COUNT(*) FROM persons WHERE collection_id = ?1{named}"), &[&collection_id])?;
        // The page's ids first, so that the cover face is looked up for them only.
        let page = format!(
            "p.id IN (SELECT p.id FROM persons p LEFT JOIN person_faces pf ON pf.person_id = p.id
                      WHERE p.collection_id = ?1{named} GROUP BY p.id
                      ORDER BY COUNT(pf.face_id) DESC, p.id LIMIT {} OFFSET {})",
            limit.min(i64::MAX as u64),
            offset.min(i64::MAX as u64)
        );
        Ok((total, self.persons_where(&page, i64::from(collection_id))?))
    }

    /// Every named person of a collection, most faces first (names opened: a search by name
    /// reads them all, since they are sealed).
    pub fn named_persons(&self, collection_id: u32) -> Result<Vec<PersonRecord>> {
        self.persons_where("p.collection_id = ?1 AND p.label IS NOT NULL", i64::from(collection_id))
    }

    /// One person (`NotFound` if there is none with this id).
    pub fn person(&self, id: u64) -> Result<PersonRecord> {
        self.persons_where("p.id = ?1", i64::try_from(id).unwrap_or(i64::MAX))?
            .pop()
            .ok_or_else(|| Error::NotFound { kind: "person", name: id.to_string() })
    }

    fn persons_where(&self, condition: &str, value: i64) -> Result<Vec<PersonRecord>> {
        let sql = format!(
            "SELECT p.id, p.collection_id, p.label, COUNT(pf.face_id), CAST(COALESCE(SUM(pf.confirmed), 0) AS bigint),
                    (SELECT pf2.face_id FROM person_faces pf2 JOIN faces f ON f.id = pf2.face_id
                     WHERE pf2.person_id = p.id ORDER BY f.score DESC, f.id LIMIT 1)
             FROM persons p LEFT JOIN person_faces pf ON pf.person_id = p.id
             WHERE {condition} GROUP BY p.id ORDER BY COUNT(pf.face_id) DESC, p.id"
        );
        let raw = self.db().rows(&sql, &[&value], |r| {
            Ok((
                r.get::<u64>(0)?,
                r.get::<u32>(1)?,
                r.get::<Option<Vec<u8>>>(2)?,
                r.get::<u64>(3)?,
                r.get::<u64>(4)?,
                r.get::<Option<u64>>(5)?.unwrap_or(0),
            ))
        })?;
        raw.into_iter()
            .map(|(id, collection_id, label, faces, confirmed, cover_face)| {
                Ok(PersonRecord { id, collection_id, label: self.open_label(id, label)?, faces, confirmed, cover_face })
            })
            .collect()
    }

    /// The faces of a person, by id.
    pub fn faces_of_person(&self, person: u64) -> Result<Vec<Assignment>> {
        self.db().rows(
            "SELECT face_id, person_id, confirmed FROM person_faces WHERE person_id = ?1 ORDER BY face_id",
            &[&person],
            assignment,
        )
    }

    /// `faces` of a collection that have a template, with the other faces of their video
    /// tracks (a track is grouped and corrected as one), by id; faces elsewhere are left out.
    pub fn faces_with_track_mates(&self, collection_id: u32, faces: &[u64]) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        for &face in faces {
            out.extend(self.db().rows(
                "SELECT f2.id FROM faces f JOIN templates t ON t.face_id = f.id
                 JOIN faces f2 ON f2.id = f.id OR (f.track IS NOT NULL AND f2.image_id = f.image_id AND f2.track = f.track)
                 JOIN templates t2 ON t2.face_id = f2.id
                 WHERE f.id = ?1 AND t.collection_id = ?2",
                &[&face, &collection_id],
                |r| r.get::<u64>(0),
            )?);
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// A face of `faces` shown in the same photo (or video frame) as another face of `person`,
    /// with that face: the two cannot be one person.
    pub fn photo_clash(&self, person: u64, faces: &[u64]) -> Result<Option<(u64, u64)>> {
        for &face in faces {
            let other: Option<u64> = self.db().row(
                "SELECT g.id FROM faces f
                 JOIN faces g ON g.image_id = f.image_id AND g.time_s IS NOT DISTINCT FROM f.time_s AND g.id <> f.id
                 JOIN person_faces pf ON pf.face_id = g.id WHERE f.id = ?1 AND pf.person_id = ?2 LIMIT 1",
                &[&face, &person],
                |r| r.get(0),
            )?;
            if let Some(g) = other {
                return Ok(Some((face, g)));
            }
        }
        Ok(None)
    }

    /// The person a face belongs to, if any.
    pub fn person_of_face(&self, face: u64) -> Result<Option<Assignment>> {
        self.db().row("SELECT face_id, person_id, confirmed FROM person_faces WHERE face_id = ?1", &[&face], assignment)
    }
}

impl Tx<'_> {
    /// A new person in a collection, without faces yet.
    pub fn create_person(&self, collection_id: u32) -> Result<u64> {
        let id = self.db().row(
            "INSERT INTO persons (collection_id, created_at) VALUES (?1, ?2) RETURNING id",
            &[&collection_id, &now()],
            |r| r.get::<u64>(0),
        )?;
        id.ok_or_else(|| Error::Invalid("a new person got no id".into()))
    }

    /// Replaces the collection's assignments with `assignments` (every face's person; faces
    /// not named have none), then deletes the persons left without faces, and records the
    /// run's figures.
    pub fn replace_assignments(&self, collection_id: u32, assignments: &[Assignment], join: f32) -> Result<u64> {
        self.db().execute(
            "DELETE FROM person_faces WHERE person_id IN (SELECT id FROM persons WHERE collection_id = ?1)",
            &[&collection_id],
        )?;
        for a in assignments {
            self.db().execute(
                "INSERT INTO person_faces (face_id, person_id, confirmed) VALUES (?1, ?2, ?3)",
                &[&a.face_id, &a.person_id, &a.confirmed],
            )?;
        }
        let persons = self.drop_empty_persons(collection_id)?;
        self.db().execute(
            "UPDATE groupings SET join_threshold = ?2, ran_at = ?3, faces = ?4, persons = ?5 WHERE collection_id = ?1",
            &[&collection_id, &join, &now(), &assignments.len(), &persons],
        )?;
        Ok(persons)
    }

    /// Deletes the persons of a collection that have no face left; returns how many remain.
    fn drop_empty_persons(&self, collection_id: u32) -> Result<u64> {
        self.db().execute(
            "DELETE FROM persons WHERE collection_id = ?1
             AND NOT EXISTS (SELECT 1 FROM person_faces pf WHERE pf.person_id = persons.id)",
            &[&collection_id],
        )?;
        self.count("SELECT COUNT(*) FROM persons WHERE collection_id = ?1", &[&collection_id])
    }

    /// Puts faces in a person (or takes them out of any with `None`), confirmed or not.
    pub fn assign_faces(&self, faces: &[u64], person: Option<u64>, confirmed: bool) -> Result<()> {
        for f in faces {
            self.db().execute("DELETE FROM person_faces WHERE face_id = ?1", &[f])?;
            if let Some(p) = person {
                self.db().execute(
                    "INSERT INTO person_faces (face_id, person_id, confirmed) VALUES (?1, ?2, ?3)",
                    &[f, &p, &confirmed],
                )?;
            }
        }
        self.drop_contradicted_marks()
    }

    /// Deletes the "not this person" marks that a later correction contradicted (the face is
    /// now in that person): the latest correction wins.
    fn drop_contradicted_marks(&self) -> Result<()> {
        self.db()
            .execute(
                "DELETE FROM person_not WHERE EXISTS (SELECT 1 FROM person_faces pf
                 WHERE pf.face_id = person_not.face_id AND pf.person_id = person_not.person_id)",
                &[],
            )
            .map(drop)
    }

    /// Records that a face is not a person.
    pub fn mark_not(&self, face: u64, person: u64) -> Result<()> {
        self.db()
            .execute(
                "INSERT INTO person_not (face_id, person_id) VALUES (?1, ?2) ON CONFLICT (face_id, person_id) DO NOTHING",
                &[&face, &person],
            )
            .map(drop)
    }

    /// Moves the marks and label of person `from` to `into` (a merge), then deletes `from`.
    pub fn fold_person(&self, from: u64, into: u64) -> Result<()> {
        // A mark `into` already has stays one mark (the rest of `from`'s go below).
        self.db().execute(
            "UPDATE person_not SET person_id = ?2 WHERE person_id = ?1
             AND NOT EXISTS (SELECT 1 FROM person_not n WHERE n.face_id = person_not.face_id AND n.person_id = ?2)",
            &[&from, &into],
        )?;
        self.db().execute("DELETE FROM person_not WHERE person_id = ?1", &[&from])?;
        self.db().execute("UPDATE person_faces SET person_id = ?2 WHERE person_id = ?1", &[&from, &into])?;
        self.drop_contradicted_marks()?;
        self.db().execute("DELETE FROM persons WHERE id = ?1", &[&from]).map(drop)
    }

    /// Sets (or with `None` removes) a person's label, sealed with the data key.
    pub fn set_person_label(&self, person: u64, label: Option<&str>) -> Result<()> {
        let sealed = match label {
            None => None,
            Some(l) => {
                Some(self.sealing_key("a person's label")?.seal(l.as_bytes(), &label_aad(person)).map_err(|e| {
                    Error::Crypto {
                        path: self.path.clone(),
                        what: format!("the label of person {person}"),
                        reason: format!("cannot be encrypted ({e})"),
                    }
                })?)
            }
        };
        let n = self.db().execute("UPDATE persons SET label = ?2 WHERE id = ?1", &[&person, &sealed])?;
        if n == 0 {
            return Err(Error::NotFound { kind: "person", name: person.to_string() });
        }
        Ok(())
    }

    /// Deletes persons left without faces in a collection; returns how many remain.
    pub fn tidy_persons(&self, collection_id: u32) -> Result<u64> {
        self.drop_empty_persons(collection_id)
    }

    /// Erases everything the grouping of a collection holds: persons and their labels,
    /// assignments, marks, candidate pairs, which faces were searched, and the run's figures.
    pub fn erase_grouping(&self, collection_id: u32) -> Result<ErasedGrouping> {
        let count = |sql: &str| -> Result<u64> { self.count(sql, &[&collection_id]) };
        let erased = ErasedGrouping {
            persons: count("SELECT COUNT(*) FROM persons WHERE collection_id = ?1")?,
            assignments: count(
                "SELECT COUNT(*) FROM person_faces WHERE person_id IN (SELECT id FROM persons WHERE collection_id = ?1)",
            )?,
            marks: count(
                "SELECT COUNT(*) FROM person_not WHERE person_id IN (SELECT id FROM persons WHERE collection_id = ?1)",
            )?,
            pairs: count("SELECT COUNT(*) FROM grouping_pairs WHERE collection_id = ?1")?,
        };
        for sql in [
            "DELETE FROM person_not WHERE person_id IN (SELECT id FROM persons WHERE collection_id = ?1)",
            "DELETE FROM person_faces WHERE person_id IN (SELECT id FROM persons WHERE collection_id = ?1)",
            "DELETE FROM persons WHERE collection_id = ?1",
            "DELETE FROM grouping_pairs WHERE collection_id = ?1",
            "DELETE FROM grouping_searched WHERE collection_id = ?1",
            "DELETE FROM groupings WHERE collection_id = ?1",
        ] {
            self.db().execute(sql, &[&collection_id])?;
        }
        Ok(erased)
    }
}
