//! The naap wire contract.
//!
//! This crate owns what travels between an emitter and the pipeline: the Arrow
//! schema of every event family, validated identifiers, and the Arrow IPC
//! encoding of one batch per Kafka message with its schema id in headers.
//! Emitter and pipeline both depend on it; it depends on neither, and it must
//! never do I/O.
//!
//! # Schema versions
//!
//! A family is identified by `(name, version)` and travels in the Kafka
//! headers `naap-schema` and `naap-schema-version`. Within a version a schema
//! never changes. A new *nullable* column appended at the end is a new minor
//! version that older pipelines reject rather than misread; any other change
//! (type, meaning, order, nullability) is a new major version with its own
//! family entry, and the pipeline keeps decoding every version it lists in
//! [`Family::ALL`]. Removing a version from that list is a breaking change for
//! emitters still running it, so a version is only retired after the
//! quarantine table shows no traffic for it.
//!
//! # Example
//!
//! ```
//! use naap_events::{ipc, telemetry::{TelemetryBatchBuilder, TelemetryEvent, Kind}, Family};
//!
//! let mut builder = TelemetryBatchBuilder::default();
//! builder.push(&TelemetryEvent::heartbeat(
//!     "evt-1".parse().unwrap(),
//!     1_767_908_945_298,
//!     "0xd00354656922168815fcd1e51cbddb9e359e3c7f".parse().unwrap(),
//!     "node-a",
//!     "eu-west",
//!     5_000,
//! ));
//! let batch = builder.finish();
//! let bytes = ipc::encode(&batch).unwrap();
//! let decoded = ipc::decode(Family::NodeTelemetryV1, &bytes).unwrap();
//! assert_eq!(decoded.num_rows(), 1);
//! # let _ = Kind::Heartbeat;
//! ```

pub mod capabilities;
pub mod family;
pub mod framing;
pub mod gateway_tables;
pub mod ids;
pub mod ipc;
pub mod job_tables;
pub mod jobs;
pub mod lake_types;
pub mod livepeer;
pub mod offers;
pub mod samples;
pub mod signing;
pub mod tables;
pub mod telemetry;

pub use family::{Family, HEADER_SCHEMA, HEADER_SCHEMA_VERSION};
pub use ids::{EventId, IdError, OrchestratorAddress};
pub use ipc::DecodeError;
