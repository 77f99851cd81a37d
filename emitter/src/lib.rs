//! The naap emitter: collectors, batching and publishing.
//!
//! Collectors produce [`TelemetryEvent`](naap_events::telemetry::TelemetryEvent)s;
//! the emitter batches them per orchestrator into one Arrow IPC message
//! (zstd) with the schema id in Kafka headers, keyed by orchestrator address
//! so one orchestrator's events stay in one partition. Today's collectors are
//! the heartbeat and a network simulator (`--simulate N`) for demos, tests
//! and benchmarks. The emitter never reads the lake.
//!
//! # Example
//!
//! ```
//! use naap_emitter::simulate::{Simulation, SimulationConfig};
//! let sim = Simulation::new(SimulationConfig { orchestrators: 3, ..Default::default() });
//! let events = sim.events(0, 1_767_908_940_000, 1_767_908_945_000);
//! assert!(!events.is_empty());
//! ```

pub mod gpu;
pub mod heartbeat;
pub mod simulate;
pub mod sink;

pub use sink::{Sink, SinkError, encode_message};
