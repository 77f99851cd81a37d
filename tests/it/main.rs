//! naap's integration tests, one binary (the whole stack links once): the
//! `naap` executable end to end over files, a real Kafka-API broker and a
//! real S3 server (both started by ./test.sh), with the lake read back.
//!
//! Tests run in parallel within this binary; each uses its own topics,
//! buckets and directories.

mod common;

mod capabilities;
mod e2e;
mod faults;
mod kafka;
mod kafka_topics;
mod late;
mod layout;
mod sessions;
mod streamr;
mod trust;
