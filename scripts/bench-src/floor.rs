//! The floor for scripts/bench: the least a Rust credential helper can do on `get`. It reads
//! stdin and prints a fixed answer line, built with the same release settings as the helper.

use std::io::{Read, Write};

fn main() {
    let mut input = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut input);
    let _ = std::io::stdout()
        .write_all(b"{\"ServerURL\":\"harbor.example.com\",\"Username\":\"robot$ci\",\"Secret\":\"x\"}\n");
}
