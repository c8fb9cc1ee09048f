//! The audit chain: each entry carries the SHA-256 of the previous entry, so modifying,
//! deleting or reordering any entry breaks every hash after it.
//!
//! An entry's hash is `SHA-256(prev_hash || "\n" || canonical JSON of {seq, at, actor, action,
//! detail})`, where the canonical JSON has sorted keys and no spaces (serde_json's `Value`
//! keeps maps sorted). The first entry's `prev_hash` is 64 zeros.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// When (RFC 3339).
    pub at: String,
    /// Who (a user name; never a biometric datum).
    pub actor: String,
    /// Stable action name (`search`, `ingest`, `collection_update`, …).
    pub action: String,
    /// What, as JSON: ids, hashes, counts, case references; never templates or images.
    pub detail: serde_json::Value,
    /// Hash of the previous entry.
    pub prev_hash: String,
    /// Hash of this entry.
    pub hash: String,
}

/// Computes an entry's hash from its content and the previous hash.
pub fn entry_hash(
    prev_hash: &str,
    seq: u64,
    at: &str,
    actor: &str,
    action: &str,
    detail: &serde_json::Value,
) -> String {
    let canonical = serde_json::json!({"seq": seq, "at": at, "actor": actor, "action": action, "detail": detail});
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(canonical.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// Builds the entry following `prev` (or the first one).
pub fn next_entry(prev: Option<&Entry>, at: &str, actor: &str, action: &str, detail: serde_json::Value) -> Entry {
    let (seq, prev_hash) = match prev {
        Some(p) => (p.seq + 1, p.hash.clone()),
        None => (1, GENESIS.to_string()),
    };
    let hash = entry_hash(&prev_hash, seq, at, actor, action, &detail);
    Entry { seq, at: at.to_string(), actor: actor.to_string(), action: action.to_string(), detail, prev_hash, hash }
}

/// Where and why a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Break {
    /// Position (1-based) in the stored order of the first entry that does not verify.
    pub position: u64,
    /// Its `seq` as stored.
    pub seq: u64,
    /// What is wrong.
    pub reason: String,
}

/// Verifies a chain given in stored order; `None` when intact.
pub fn verify(entries: &[Entry]) -> Option<Break> {
    let mut prev_hash = GENESIS.to_string();
    for (i, e) in entries.iter().enumerate() {
        let position = i as u64 + 1;
        let broken = |reason: String| Some(Break { position, seq: e.seq, reason });
        if e.seq != position {
            return broken(format!(
                "sequence number {} where {position} was expected (an entry was deleted or moved)",
                e.seq
            ));
        }
        if e.prev_hash != prev_hash {
            return broken("does not follow the previous entry (an entry was deleted, inserted or reordered)".into());
        }
        if entry_hash(&e.prev_hash, e.seq, &e.at, &e.actor, &e.action, &e.detail) != e.hash {
            return broken("content does not match its hash (the entry was modified)".into());
        }
        prev_hash = e.hash.clone();
    }
    None
}
