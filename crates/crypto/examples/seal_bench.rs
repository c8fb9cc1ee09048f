//! Tiny throughput benchmark: seal/open of 516-byte template records
//! (512 int8 + 4-byte scale) with AES-256-GCM, single thread.
//!
//! `cargo run --release -p gabarit-crypto --example seal_bench [records]`

use std::hint::black_box;
use std::time::Instant;

use gabarit_crypto::{Kek, Keyring, SEALED_TEMPLATE_RECORD_LEN, TEMPLATE_RECORD_LEN};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(200_000);
    let dir = std::env::temp_dir().join(format!("gabarit-crypto-bench-{}", std::process::id()));
    fs_err::create_dir_all(&dir)?;
    let kek = Kek::generate()?;
    let keyring = dir.join("keyring.json");
    let dek = Keyring::create(&keyring, &kek)?;
    fs_err::remove_dir_all(&dir)?;

    let mut record = [0u8; TEMPLATE_RECORD_LEN];
    for (i, b) in record.iter_mut().enumerate() {
        *b = i as u8;
    }
    let mut sealed = vec![[0u8; SEALED_TEMPLATE_RECORD_LEN]; n];

    // Warm-up.
    for (id, slot) in (0u64..).zip(sealed.iter_mut()).take(1000) {
        *slot = dek.seal_template(&record, &id.to_le_bytes())?;
    }

    let t = Instant::now();
    for (id, slot) in (0u64..).zip(sealed.iter_mut()) {
        *slot = dek.seal_template(black_box(&record), &id.to_le_bytes())?;
    }
    let seal_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut check = 0u64;
    for (id, slot) in (0u64..).zip(&sealed) {
        let plain = dek.open_template(black_box(slot), &id.to_le_bytes())?;
        check = check.wrapping_add(u64::from(plain[7]));
    }
    let open_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut total = 0usize;
    for id in 0..n as u64 {
        total += dek.seal(black_box(&record), &id.to_le_bytes())?.len();
    }
    let seal_vec_s = t.elapsed().as_secs_f64();

    let mb = (n * TEMPLATE_RECORD_LEN) as f64 / 1e6;
    let report = |what: &str, s: f64| {
        println!(
            "{what:<28} {n} records in {s:.3} s: {:>10.0} records/s, {:>7.1} MB/s, {:.2} us/record",
            n as f64 / s,
            mb / s,
            s * 1e6 / n as f64
        );
    };
    report("seal_template (544 B out)", seal_s);
    report("open_template", open_s);
    report("seal (Vec alloc)", seal_vec_s);
    black_box((check, total));
    Ok(())
}
