//! What objections hold: each objection's suppression templates (one per pack in use) and the
//! stored faces they hide from every search. Below search and rights, which both apply them.

use gabarit_catalog::PackKey;

use crate::store::Store;
use crate::{Error, Result};

/// The suppression templates of one pack, as vectors.
pub(crate) fn suppression_vectors(store: &Store, pack: &PackKey) -> Result<Vec<Vec<f32>>> {
    Ok(store.catalog.suppressions(pack)?.into_iter().map(|(v, s)| gabarit_index::quant::dequantize(&v, s)).collect())
}

/// Refuses to add faces to a pack's templates while an objection has no template of that pack:
/// it would not hold over them (the DPO runs the objection again with the request's photo,
/// which makes its template for every pack in use).
pub(crate) fn check_objections_hold(store: &Store, pack: &PackKey) -> Result<()> {
    let lacking = store.catalog.objections_without(pack)?;
    if lacking.is_empty() {
        return Ok(());
    }
    Err(Error::ObjectionsLackPack { requests: lacking, pack: pack.name.clone() })
}

/// Faces of one pack hidden by objections: every stored face matching one of that pack's
/// suppression templates.
pub(crate) fn suppressed_faces(
    store: &Store,
    pack: &PackKey,
    threshold: f32,
) -> Result<std::sync::Arc<std::collections::HashSet<u64>>> {
    let suppressions = store.catalog.suppression_count(pack)?;
    if suppressions == 0 {
        return Ok(Default::default());
    }
    store.index(pack)?.suppressed_faces(suppressions, threshold, || suppression_vectors(store, pack))
}
