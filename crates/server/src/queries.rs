//! Analysed query photos, kept briefly so that the web UI can show the faces found on a photo
//! and then search with the one the user picks, without analysing the photo twice.
//!
//! A query belongs to the user who uploaded it (another user gets "not found"), lives at most
//! [`QUERY_TTL`], and at most [`MAX_QUERIES`] are held (the oldest go first). Its templates
//! stay in memory only and never leave the server.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gabarit_engine::query::QueryPhoto;

/// How long an analysed query photo may be searched.
pub const QUERY_TTL: Duration = Duration::from_secs(15 * 60);

/// How many analysed query photos the server holds at most.
pub const MAX_QUERIES: usize = 256;

/// An analysed query photo.
pub struct Query {
    /// The user who uploaded it.
    pub owner: String,
    /// The upload's file name (what the audit log names).
    pub name: String,
    /// Its faces, with templates, and their crops.
    pub faces: Arc<QueryPhoto>,
    created: Instant,
}

/// The analysed query photos of the server.
#[derive(Default)]
pub struct Queries {
    held: HashMap<String, Query>,
}

impl Queries {
    /// Keeps an analysed photo; returns its id.
    pub fn insert(&mut self, owner: &str, name: &str, faces: QueryPhoto) -> Result<String, getrandom::Error> {
        self.expire(Instant::now());
        while self.held.len() >= MAX_QUERIES {
            let Some(oldest) = self.held.iter().min_by_key(|(_, q)| q.created).map(|(id, _)| id.clone()) else {
                break;
            };
            self.held.remove(&oldest);
        }
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)?;
        let id = format!("q{}", hex::encode(bytes));
        let query =
            Query { owner: owner.to_string(), name: name.to_string(), faces: Arc::new(faces), created: Instant::now() };
        self.held.insert(id.clone(), query);
        Ok(id)
    }

    /// The query `id` if `owner` uploaded it and it has not expired.
    pub fn get(&mut self, id: &str, owner: &str) -> Option<(String, Arc<QueryPhoto>)> {
        self.expire(Instant::now());
        self.held.get(id).filter(|q| q.owner == owner).map(|q| (q.name.clone(), q.faces.clone()))
    }

    fn expire(&mut self, now: Instant) {
        self.held.retain(|_, q| now.duration_since(q.created) < QUERY_TTL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo() -> QueryPhoto {
        let faces = gabarit_engine::ImageFaces {
            width: 4,
            height: 3,
            sha256: "00".into(),
            faces: Vec::new(),
            times: Default::default(),
        };
        QueryPhoto::from_pixels(&image::RgbImage::new(4, 3), faces, gabarit_engine::store::PackKey::legacy()).unwrap()
    }

    #[test]
    fn a_query_is_its_owners_only_and_the_oldest_go_first() {
        let mut q = Queries::default();
        let id = q.insert("ines", "a.jpg", photo()).unwrap();
        assert!(id.starts_with('q') && id.len() == 33, "{id}");
        assert_eq!(q.get(&id, "ines").map(|(name, f)| (name, f.faces.width)), Some(("a.jpg".into(), 4)));
        assert!(q.get(&id, "carl").is_none());
        let more: Vec<String> =
            (0..MAX_QUERIES).map(|i| q.insert("ines", &format!("{i}.jpg"), photo()).unwrap()).collect();
        assert_eq!(q.held.len(), MAX_QUERIES);
        assert!(q.get(&id, "ines").is_none(), "the oldest went first");
        assert!(q.get(&more[0], "ines").is_some() && q.get(&more[MAX_QUERIES - 1], "ines").is_some());
    }

    #[test]
    fn queries_expire() {
        let mut q = Queries::default();
        let id = q.insert("ines", "a.jpg", photo()).unwrap();
        q.expire(Instant::now() + QUERY_TTL);
        assert!(q.get(&id, "ines").is_none());
    }
}
