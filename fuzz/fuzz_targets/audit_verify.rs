//! The audit chain's verification. The first byte picks the mode:
//! - even: the rest is JSON lines of entries, verified as they are;
//! - odd: the rest builds a genuine chain (one entry per line: actor, action, detail), which
//!   must verify, then the last byte picks a tampering, which must be detected.
//!
//! In both, a checkpoint of a prefix is checked with `verify_since`. Must never panic.
#![no_main]

use gabarit_governance::audit::{self, AuditKey, Checkpoint, Entry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let key = AuditKey::new([7; 32]);
    let lines = rest.split(|b| *b == b'\n').take(64);
    let mut entries: Vec<Entry> = Vec::new();
    if mode % 2 == 0 {
        entries.extend(lines.filter_map(|l| serde_json::from_slice::<Entry>(l).ok()));
        let _ = audit::verify(&entries, &key);
    } else {
        for line in lines {
            let text = String::from_utf8_lossy(line);
            let mut parts = text.splitn(3, '\t');
            let actor = parts.next().unwrap_or_default();
            let action = parts.next().unwrap_or("search");
            let detail = parts.next().and_then(|d| serde_json::from_str(d).ok()).unwrap_or(serde_json::Value::Null);
            let entry = audit::next_entry(&key, entries.last(), "2025-01-01T00:00:00Z", actor, action, detail);
            entries.push(entry);
        }
        assert_eq!(audit::verify(&entries, &key), None, "a genuine chain must verify");
        let whole = Checkpoint::new(&key, &entries, "2025-01-02T00:00:00Z");
        assert_eq!(audit::verify_since(&entries, &key, &whole), None, "a genuine chain holds its checkpoint");
        let last = rest.last().copied().unwrap_or(0);
        let n = entries.len();
        let i = usize::from(last) % n;
        let mut tampered = entries.clone();
        match last % 5 {
            0 => tampered[i].actor.push('!'),
            1 => tampered[i].detail = serde_json::json!({"tampered": true}),
            2 => {
                tampered.remove(i);
            }
            3 if n > 1 => tampered.swap(i, (i + 1) % n),
            3 => tampered[i].seq += 1,
            _ => {
                tampered[i].hash = audit::legacy_hash(
                    &tampered[i].prev_hash,
                    tampered[i].seq,
                    &tampered[i].at,
                    &tampered[i].actor,
                    &tampered[i].action,
                    &tampered[i].detail,
                )
            }
        }
        // Deleting the last entry leaves a shorter genuine chain, caught by the checkpoint only.
        let truncated_tail = last % 5 == 2 && i == n - 1;
        if !truncated_tail {
            assert!(audit::verify(&tampered, &key).is_some(), "tampering must be detected");
        }
        assert!(audit::verify_since(&tampered, &key, &whole).is_some(), "tampering must break the checkpoint");
        entries = tampered;
    }
    // A checkpoint of a prefix (its length from the mode byte), and a forged one.
    let k = usize::from(mode / 2) % (entries.len() + 1);
    let checkpoint = Checkpoint::new(&key, &entries[..k], "2025-01-02T00:00:00Z");
    let _ = audit::verify_since(&entries, &key, &checkpoint);
    let mut forged = checkpoint.clone();
    forged.entries = forged.entries.wrapping_add(u64::from(mode)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    assert!(audit::verify_since(&entries, &key, &forged).is_some() || forged == checkpoint);
    let other = AuditKey::new([8; 32]);
    assert!(audit::verify_since(&entries, &other, &checkpoint).is_some());
});
