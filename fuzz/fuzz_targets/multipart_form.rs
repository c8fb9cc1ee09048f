//! The server's multipart form reading. The first byte picks the boundary, the rest is the
//! body. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

const BOUNDARIES: [&str; 4] = ["X", "boundary", "----gabarit0123456789", "a'b(c)d+e_f,g-h.i/j:k=l?m"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let boundary = BOUNDARIES[usize::from(pick) % BOUNDARIES.len()];
    let content_type = if pick >= 0x80 {
        format!("multipart/form-data; boundary=\"{boundary}\"")
    } else {
        format!("multipart/form-data; boundary={boundary}")
    };
    let _ = gabarit_server::fuzzing::multipart(&content_type, body);
});
