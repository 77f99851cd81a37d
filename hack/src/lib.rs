//! No code: this crate exists for the dependency features in its
//! `Cargo.toml` (see there), so that `cargo run` and `cargo test` share one
//! build of DataFusion.
