//! The audit chain: each entry carries the authentication code of the previous one, so
//! modifying, deleting or reordering any entry breaks every code after it, and the codes are
//! keyed, so rewriting the chain from some entry on needs the key.
//!
//! An entry's code is `HMAC-SHA256(key, prev_hash || "\n" || canonical JSON of {seq, at,
//! actor, action, detail})` in hex, where the canonical JSON has sorted keys and no spaces
//! (serde_json's `Value` keeps maps sorted). The first entry's `prev_hash` is 64 zeros. The
//! key ([`AuditKey`]) is derived from the data directory's data key, which only the
//! key-encryption key unwraps: write access to the catalog alone cannot forge an entry.
//!
//! Deleting the newest entries leaves a shorter chain that still verifies; a [`Checkpoint`]
//! (the entry count and head code, itself authenticated), kept outside the catalog, catches
//! that: [`verify_since`] says the chain was truncated or rewritten since.
//!
//! Chains begun before entries were keyed (plain SHA-256 codes) stay verifiable: the first
//! keyed entry is then an [`KEYED_MARKER`] entry naming how many plain entries precede it and
//! the last one's hash, which authenticates them all.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The action of the entry that starts keyed codes after plain ones.
pub const KEYED_MARKER: &str = "audit_keyed";

/// The key authenticating entries and checkpoints.
pub struct AuditKey([u8; 32]);

impl AuditKey {
    /// A key from its 32 bytes (derived from the data key; never stored).
    pub fn new(bytes: [u8; 32]) -> Self {
        AuditKey(bytes)
    }

    fn mac(&self, parts: &[&[u8]]) -> String {
        // HMAC accepts keys of any length: `new_from_slice` cannot fail.
        let Ok(mut m) = Hmac::<Sha256>::new_from_slice(&self.0) else { return String::new() };
        for p in parts {
            m.update(p);
        }
        hex::encode(m.finalize().into_bytes())
    }
}

impl Drop for AuditKey {
    fn drop(&mut self) {
        self.0 = [0; 32];
    }
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

/// One audit entry.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// When (RFC 3339).
    pub at: String,
    /// Who (a user name; never a biometric datum).
    pub actor: String,
    /// Stable action name (`search`, `ingest_batch`, `collection_update`, …).
    pub action: String,
    /// What, as JSON: ids, hashes, counts, case references; never templates or images.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub detail: serde_json::Value,
    /// Code of the previous entry.
    pub prev_hash: String,
    /// Code of this entry.
    pub hash: String,
}

fn canonical(seq: u64, at: &str, actor: &str, action: &str, detail: &serde_json::Value) -> String {
    serde_json::json!({"seq": seq, "at": at, "actor": actor, "action": action, "detail": detail}).to_string()
}

/// The keyed code of an entry.
pub fn entry_mac(
    key: &AuditKey,
    prev_hash: &str,
    seq: u64,
    at: &str,
    actor: &str,
    action: &str,
    detail: &serde_json::Value,
) -> String {
    key.mac(&[prev_hash.as_bytes(), b"\n", canonical(seq, at, actor, action, detail).as_bytes()])
}

/// The plain SHA-256 code entries had before they were keyed.
pub fn legacy_hash(
    prev_hash: &str,
    seq: u64,
    at: &str,
    actor: &str,
    action: &str,
    detail: &serde_json::Value,
) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(canonical(seq, at, actor, action, detail).as_bytes());
    hex::encode(h.finalize())
}

/// Builds the entry following `prev` (or the first one).
pub fn next_entry(
    key: &AuditKey,
    prev: Option<&Entry>,
    at: &str,
    actor: &str,
    action: &str,
    detail: serde_json::Value,
) -> Entry {
    let (seq, prev_hash) = match prev {
        Some(p) => (p.seq + 1, p.hash.clone()),
        None => (1, GENESIS.to_string()),
    };
    let hash = entry_mac(key, &prev_hash, seq, at, actor, action, &detail);
    Entry { seq, at: at.to_string(), actor: actor.to_string(), action: action.to_string(), detail, prev_hash, hash }
}

/// Where and why a chain is broken.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Break {
    /// Position (1-based) in the stored order of the first entry that does not verify.
    pub position: u64,
    /// Its `seq` as stored (0 when the entry is missing).
    pub seq: u64,
    /// What is wrong.
    pub reason: String,
}

/// Verifies a chain given in stored order with its key; `None` when intact.
pub fn verify(entries: &[Entry], key: &AuditKey) -> Option<Break> {
    let mut prev_hash = GENESIS.to_string();
    // Plain entries are accepted only before the first keyed one, which must then vouch for
    // them (the marker).
    let mut plain = 0u64;
    let mut keyed_seen = false;
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
        if entry_mac(key, &e.prev_hash, e.seq, &e.at, &e.actor, &e.action, &e.detail) == e.hash {
            if !keyed_seen && plain > 0 {
                let vouched = e.action == KEYED_MARKER
                    && e.detail["legacy_entries"].as_u64() == Some(plain)
                    && e.detail["legacy_head"].as_str() == Some(prev_hash.as_str());
                if !vouched {
                    return broken(format!(
                        "follows {plain} entries without authentication code that no marker vouches for (the chain was rewritten without the key)"
                    ));
                }
            }
            keyed_seen = true;
        } else if !keyed_seen && legacy_hash(&e.prev_hash, e.seq, &e.at, &e.actor, &e.action, &e.detail) == e.hash {
            plain += 1;
        } else {
            return broken(
                "content does not match its authentication code (the entry was modified, or written without the key)"
                    .into(),
            );
        }
        prev_hash = e.hash.clone();
    }
    if plain > 0 && !keyed_seen {
        return Some(Break {
            position: 1,
            seq: 1,
            reason: format!("{plain} entries and none authenticated with the key (the chain was rewritten without it)"),
        });
    }
    None
}

/// The detail of the marker that vouches for the `plain` entries before it, ending at `head`.
pub fn keyed_marker_detail(plain: u64, head: &str) -> serde_json::Value {
    serde_json::json!({"legacy_entries": plain, "legacy_head": head})
}

/// Whether an entry's code is a plain SHA-256 (written before entries were keyed).
pub fn is_legacy(e: &Entry) -> bool {
    legacy_hash(&e.prev_hash, e.seq, &e.at, &e.actor, &e.action, &e.detail) == e.hash
}

/// A signed statement of the chain's length and head at a moment, kept outside the catalog
/// (`gabarit audit anchor`): a later chain must still hold that entry, unchanged.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format name.
    pub format: String,
    /// When it was made (RFC 3339).
    pub at: String,
    /// Entries in the chain then.
    pub entries: u64,
    /// Code of the last of them (the genesis value for an empty chain).
    pub head: String,
    /// Authentication code of the three fields above.
    pub mac: String,
}

/// The format of checkpoints this version writes.
pub const CHECKPOINT_FORMAT: &str = "gabarit-audit-checkpoint/1";

impl Checkpoint {
    /// The checkpoint of `entries` at `at`.
    pub fn new(key: &AuditKey, entries: &[Entry], at: &str) -> Checkpoint {
        let head = entries.last().map_or_else(|| GENESIS.to_string(), |e| e.hash.clone());
        let n = entries.len() as u64;
        let mac = Self::code(key, at, n, &head);
        Checkpoint { format: CHECKPOINT_FORMAT.into(), at: at.into(), entries: n, head, mac }
    }

    fn code(key: &AuditKey, at: &str, entries: u64, head: &str) -> String {
        key.mac(&[
            CHECKPOINT_FORMAT.as_bytes(),
            b"\n",
            at.as_bytes(),
            b"\n",
            entries.to_string().as_bytes(),
            b"\n",
            head.as_bytes(),
        ])
    }

    /// Whether it was made with this key and not edited since.
    pub fn authentic(&self, key: &AuditKey) -> bool {
        self.format == CHECKPOINT_FORMAT && Self::code(key, &self.at, self.entries, &self.head) == self.mac
    }
}

/// Verifies a chain as [`verify`] does, and that it still holds what `checkpoint` saw: at least
/// as many entries, the one at its head unchanged.
pub fn verify_since(entries: &[Entry], key: &AuditKey, checkpoint: &Checkpoint) -> Option<Break> {
    if !checkpoint.authentic(key) {
        return Some(Break {
            position: 0,
            seq: 0,
            reason: "the checkpoint is not authentic: made with another key, or edited".into(),
        });
    }
    let n = checkpoint.entries;
    if (entries.len() as u64) < n {
        return Some(Break {
            position: entries.len() as u64 + 1,
            seq: 0,
            reason: format!(
                "truncated: the checkpoint of {} counted {n} entries, {} remain",
                checkpoint.at,
                entries.len()
            ),
        });
    }
    if n > 0 && entries[n as usize - 1].hash != checkpoint.head {
        return Some(Break {
            position: n,
            seq: entries[n as usize - 1].seq,
            reason: format!("rewritten: entry {n} is not the one the checkpoint of {} saw", checkpoint.at),
        });
    }
    verify(entries, key)
}
