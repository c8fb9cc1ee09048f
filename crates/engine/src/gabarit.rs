//! [`Gabarit`]: one data directory with the face services of its packs, as a front end holds
//! it. It owns the store handles (each with its own catalog connection, all sharing the vector
//! indexes) and the face services (each pack's models, thresholds and calibration, loaded
//! once); the use cases run on a handle and the services it lends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use crate::faces::FaceServices;
use crate::store::Store;
use crate::{Error, Result};

/// The engine over one data directory.
pub struct Gabarit {
    handles: Vec<Mutex<Store>>,
    next: AtomicUsize,
    faces: FaceServices,
}

impl Gabarit {
    /// `store` with `handles` handles in all (at least one), and the face services of the
    /// packs its collections use, loaded now (a missing model is reported before any request,
    /// not at the first one), with its indexes opened.
    pub fn new(store: Store, faces: FaceServices, handles: usize) -> Result<Gabarit> {
        store.open_index_now()?;
        for pack in store.packs_in_use()? {
            faces.get(&pack)?;
        }
        let mut all = Vec::with_capacity(handles.max(1));
        for _ in 1..handles.max(1) {
            all.push(Mutex::new(store.handle()?));
        }
        all.push(Mutex::new(store));
        Ok(Gabarit { handles: all, next: AtomicUsize::new(0), faces })
    }

    /// A free handle on the data directory, else the next one in turn once it is free.
    pub fn store(&self) -> Result<MutexGuard<'_, Store>> {
        let poisoned = || Error::Internal("a data directory handle is poisoned".into());
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.handles.len();
        for i in 0..n {
            match self.handles[(start + i) % n].try_lock() {
                Ok(guard) => return Ok(guard),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Poisoned(_)) => return Err(poisoned()),
            }
        }
        self.handles[start % n].lock().map_err(|_| poisoned())
    }

    /// The face services of the packs in use.
    pub fn faces(&self) -> &FaceServices {
        &self.faces
    }

    /// How many handles it holds (requests that may use the data directory at once).
    pub fn handles(&self) -> usize {
        self.handles.len()
    }
}
