//! The naap emitter: collectors, batching and publishing.
//!
//! Collectors produce [`TelemetryEvent`](naap_events::telemetry::TelemetryEvent)s;
//! the emitter batches them per orchestrator into one Arrow IPC message
//! (zstd) with the schema id in Kafka headers, keyed by orchestrator address
//! so one orchestrator's events stay in one partition, signed with the
//! operator's key when one is given ([`naap_events::signing`]). A node's
//! messages go through a durable on-disk [`spool`] before Kafka, delivered
//! by [`publish::drain`] to a primary or backup cluster, so a broker outage
//! or a SIGKILL loses nothing. Today's collectors are the heartbeat (with
//! NVML GPUs) and a network simulator (`--simulate N`) for demos, tests and
//! benchmarks. The emitter never reads the lake.
//!
//! # Example
//!
//! ```
//! use naap_emitter::simulate::{Simulation, SimulationConfig};
//! let sim = Simulation::new(SimulationConfig { orchestrators: 3, ..Default::default() });
//! let events = sim.events(0, 1_767_908_940_000, 1_767_908_945_000);
//! assert!(!events.is_empty());
//! ```

mod acked;
pub mod agent;
pub mod byoc;
mod byoc_batch;
pub mod config_file;
pub mod gpu;
pub mod heartbeat;
pub mod host;
pub mod kafka;
pub mod keystore;
pub mod logging;
pub mod probe;
pub mod publish;
pub mod simulate;
pub mod simulate_jobs;
pub mod simulate_live;
pub mod sink;
pub mod spool;
pub mod spooled;
pub mod streamr;
pub mod transports;

pub use byoc_batch::MAX_MESSAGE_BYTES;
pub use sink::{Sink, SinkError, encode_message};
