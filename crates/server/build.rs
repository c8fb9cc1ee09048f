//! Rebuilds the server when the web UI's build output (`web/dist`, embedded) changes.
fn main() {
    println!("cargo:rerun-if-changed=../../web/dist");
}
