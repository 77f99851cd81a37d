//! Lake rows for the 2026 event families (see [`crate::jobs`]): one typed
//! row per accepted event, in a table per kind of work. Like
//! `gateway_events`, they are written on every commit and partitioned by
//! the envelope's time; the hourly job tables are sealed from them.
//!
//! Each row is a `Serialize` struct whose fields are its table's columns in
//! order, turned into Arrow by `arrow_json`'s serde decoder against the
//! table's schema. Addresses are lowercased here, once; text that means
//! "none" (`null` or `""`) is null; wei written with decimals is
//! `Decimal128(38, 3)`, exact.

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, RecordBatch, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::Serialize;

use crate::jobs::JobEvent;
use crate::livepeer::{Envelope, OrchestratorInfo};
use crate::tables;
use DataType::{Boolean as BOOL, Float64 as F64, Int64 as I64, Utf8 as TEXT};

/// Wei with the gateway's three decimals.
pub const MILLI_WEI: DataType = DataType::Decimal128(38, 3);

fn column(name: &str, data_type: DataType) -> Field {
    Field::new(name, data_type, true)
}

fn schema(columns: &[(&str, DataType)]) -> SchemaRef {
    let utc = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let mut fields = vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new("event_time", utc, false),
        Field::new("gateway", DataType::Utf8, false),
        Field::new("subtype", DataType::Utf8, false),
    ];
    fields.extend(columns.iter().map(|(name, t)| column(name, t.clone())));
    Arc::new(Schema::new(fields))
}

fn utc() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// Schema of [`tables::AI_BATCH_EVENTS`].
pub static AI_BATCH_EVENTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(&[
        ("signal_time", utc()),
        ("request_id", TEXT),
        ("pipeline", TEXT),
        ("model_id", TEXT),
        ("orchestrator_filter", TEXT),
        ("success", BOOL),
        ("tries", I64),
        ("duration_ms", I64),
        ("orchestrator_url", TEXT),
        ("latency_score", F64),
        ("price_per_unit", F64),
        ("error_type", TEXT),
        ("error", TEXT),
    ])
});

/// Schema of [`tables::LLM_EVENTS`].
pub static LLM_EVENTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(&[
        ("signal_time", utc()),
        ("request_id", TEXT),
        ("model", TEXT),
        ("orchestrator_url", TEXT),
        ("price_per_unit", F64),
        ("streaming", BOOL),
        ("max_tokens", I64),
        ("message_count", I64),
        ("system_prompt", BOOL),
        ("temperature", F64),
        ("completion_id", TEXT),
        ("prompt_tokens", I64),
        ("completion_tokens", I64),
        ("total_tokens", I64),
        ("token_utilization", F64),
        ("finish_reason", TEXT),
        ("total_duration_ms", I64),
        ("tokens_per_second", F64),
        ("latency_score", F64),
        ("ttft_ms", I64),
        ("error", TEXT),
    ])
});

/// Schema of [`tables::BYOC_JOB_EVENTS`].
pub static BYOC_JOB_EVENTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(&[
        ("family", TEXT),
        ("capability", TEXT),
        ("request_id", TEXT),
        ("orchestrator_address", TEXT),
        ("orchestrator_url", TEXT),
        ("attempt_index", I64),
        ("success", BOOL),
        ("http_status", I64),
        ("duration_ms", I64),
        ("completed_at", utc()),
        ("streaming", BOOL),
        ("error", TEXT),
        ("latency_ms", I64),
        ("available_capacity", I64),
        ("selected", I64),
        ("worker_url", TEXT),
        ("sender_address", TEXT),
        ("has_payment", BOOL),
        ("retryable", BOOL),
        ("timeout_ms", I64),
        ("price_per_unit", I64),
        ("pixels_per_unit", I64),
        ("reason", TEXT),
        ("options_filter", TEXT),
    ])
});

/// Schema of [`tables::BYOC_AUTH_EVENTS`].
pub static BYOC_AUTH_EVENTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(&[
        ("capability", TEXT),
        ("success", BOOL),
        ("error", TEXT),
        ("sender", TEXT),
        ("orchestrator_address", TEXT),
        ("orchestrator_url", TEXT),
        ("worker_url", TEXT),
        ("stream_id", TEXT),
        ("stream_name", TEXT),
        ("pipeline", TEXT),
        ("pipeline_id", TEXT),
    ])
});

/// Schema of [`tables::BYOC_PAYMENT_EVENTS`].
pub static BYOC_PAYMENT_EVENTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(&[
        ("request_id", TEXT),
        ("capability", TEXT),
        ("sender", TEXT),
        ("orchestrator_address", TEXT),
        ("orchestrator_url", TEXT),
        ("balance_wei", MILLI_WEI),
        ("diff_wei", MILLI_WEI),
        ("min_balance_wei", MILLI_WEI),
        ("reset_to_zero", BOOL),
        ("with_tickets", BOOL),
        ("elapsed_seconds", I64),
        ("price_per_unit", I64),
        ("total_charged_wei", I64),
        ("balance_after_wei", I64),
        ("on_error", BOOL),
        ("stream_id", TEXT),
        ("success", BOOL),
        ("error", TEXT),
    ])
});

/// Schema of [`tables::WORKER_EVENTS`].
pub static WORKER_EVENTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(&[
        ("worker_event_id", TEXT),
        ("capability", TEXT),
        ("orchestrator_address", TEXT),
        ("orchestrator_url", TEXT),
        ("worker_url", TEXT),
        ("price_per_unit", I64),
        ("price_scaling", I64),
        ("models", DataType::List(Arc::new(Field::new("item", TEXT, true)))),
        ("options_count", I64),
        ("reason", TEXT),
    ])
});

/// The columns every row starts with.
#[derive(Debug, Default, Serialize)]
struct Head {
    event_id: String,
    event_time: i64,
    gateway: String,
    subtype: &'static str,
}

fn head(e: &Envelope, subtype: &'static str) -> Head {
    Head {
        event_id: e.id.clone(),
        event_time: e.timestamp_ms,
        gateway: e.gateway.clone(),
        subtype,
    }
}

fn address(info: &OrchestratorInfo) -> Option<String> {
    (!info.address.is_empty()).then(|| info.address.to_ascii_lowercase())
}

fn url(info: &OrchestratorInfo) -> Option<String> {
    (!info.url.is_empty()).then(|| info.url.clone())
}

/// `x.xxx` for `Decimal128(38, 3)`.
fn wei(milli: Option<i128>) -> Option<String> {
    milli.map(|m| {
        let sign = if m < 0 { "-" } else { "" };
        format!("{sign}{}.{:03}", (m / 1000).abs(), (m % 1000).abs())
    })
}

mod rows;

use rows::{AiBatchRow, AuthRow, JobRow, LlmRow, PaymentRow, WorkerRow};

/// `schema` with its UTC timestamps naive: the JSON decoder parses named
/// time zones only with chrono-tz, which the node agent does not build;
/// the values are the same UTC milliseconds either way.
fn without_time_zones(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Timestamp(unit, Some(_)) => f.as_ref().clone().with_data_type(DataType::Timestamp(*unit, None)),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// The rows of one table, and its schema.
#[derive(Debug)]
struct Rows<T> {
    table: tables::Table,
    schema: &'static LazyLock<SchemaRef>,
    rows: Vec<T>,
}

impl<T: Serialize> Rows<T> {
    fn new(table: tables::Table, schema: &'static LazyLock<SchemaRef>) -> Self {
        Rows {
            table,
            schema,
            rows: Vec::new(),
        }
    }

    fn finish(&mut self, out: &mut Vec<(&'static str, RecordBatch)>) {
        if self.rows.is_empty() {
            return;
        }
        let schema: &SchemaRef = self.schema;
        let mut decoder = arrow::json::ReaderBuilder::new(without_time_zones(schema))
            .with_batch_size(self.rows.len())
            .build_decoder()
            .expect("the table schemas are supported by the JSON decoder");
        decoder
            .serialize(&self.rows)
            .expect("each row struct follows its table's schema field for field");
        let naive = decoder
            .flush()
            .expect("each row struct follows its table's schema field for field")
            .expect("rows were serialized");
        let columns = naive
            .columns()
            .iter()
            .map(|c| match c.data_type() {
                DataType::Timestamp(TimeUnit::Millisecond, None) => {
                    Arc::new(TimestampMillisecondArray::from(c.to_data()).with_timezone("UTC")) as ArrayRef
                }
                _ => Arc::clone(c),
            })
            .collect();
        let batch = RecordBatch::try_new(Arc::clone(schema), columns).expect("the same columns, in UTC");
        self.rows.clear();
        out.push((self.table.name, batch));
    }
}

/// Row builders for the job tables, filled one envelope at a time.
#[derive(Debug)]
pub struct JobTables {
    ai_batch: Rows<AiBatchRow>,
    llm: Rows<LlmRow>,
    jobs: Rows<JobRow>,
    auth: Rows<AuthRow>,
    payments: Rows<PaymentRow>,
    workers: Rows<WorkerRow>,
}

impl Default for JobTables {
    fn default() -> Self {
        JobTables {
            ai_batch: Rows::new(tables::AI_BATCH_EVENTS, &AI_BATCH_EVENTS_SCHEMA),
            llm: Rows::new(tables::LLM_EVENTS, &LLM_EVENTS_SCHEMA),
            jobs: Rows::new(tables::BYOC_JOB_EVENTS, &BYOC_JOB_EVENTS_SCHEMA),
            auth: Rows::new(tables::BYOC_AUTH_EVENTS, &BYOC_AUTH_EVENTS_SCHEMA),
            payments: Rows::new(tables::BYOC_PAYMENT_EVENTS, &BYOC_PAYMENT_EVENTS_SCHEMA),
            workers: Rows::new(tables::WORKER_EVENTS, &WORKER_EVENTS_SCHEMA),
        }
    }
}

impl JobTables {
    /// Adds the row of one accepted job event.
    pub fn push(&mut self, e: &Envelope, job: &JobEvent) {
        match job {
            JobEvent::AiBatch(a) => self.ai_batch.rows.push(AiBatchRow::new(e, a)),
            JobEvent::Llm(l) => self.llm.rows.push(LlmRow::new(e, l)),
            JobEvent::Gateway(g) => self.jobs.rows.push(JobRow::gateway(e, g)),
            JobEvent::Orchestrator(o) => self.jobs.rows.push(JobRow::orchestrator(e, o)),
            JobEvent::Auth(a) => self.auth.rows.push(AuthRow::new(e, a)),
            JobEvent::Payment(p) => self.payments.rows.push(PaymentRow::new(e, p)),
            JobEvent::Worker(w) => self.workers.rows.push(WorkerRow::new(e, w)),
            // In `gateway_events` only.
            JobEvent::SignedTicket(_) => {}
        }
    }

    /// The non-empty tables, and resets the builders.
    pub fn finish(&mut self, out: &mut Vec<(&'static str, RecordBatch)>) {
        self.ai_batch.finish(out);
        self.llm.finish(out);
        self.jobs.finish(out);
        self.auth.finish(out);
        self.payments.finish(out);
        self.workers.finish(out);
    }
}

/// Every job table with its schema (empty tables for SQL tests and sealing).
pub fn schemas() -> [(&'static str, SchemaRef); 6] {
    [
        (tables::AI_BATCH_EVENTS.name, Arc::clone(&AI_BATCH_EVENTS_SCHEMA)),
        (tables::LLM_EVENTS.name, Arc::clone(&LLM_EVENTS_SCHEMA)),
        (tables::BYOC_JOB_EVENTS.name, Arc::clone(&BYOC_JOB_EVENTS_SCHEMA)),
        (tables::BYOC_AUTH_EVENTS.name, Arc::clone(&BYOC_AUTH_EVENTS_SCHEMA)),
        (
            tables::BYOC_PAYMENT_EVENTS.name,
            Arc::clone(&BYOC_PAYMENT_EVENTS_SCHEMA),
        ),
        (tables::WORKER_EVENTS.name, Arc::clone(&WORKER_EVENTS_SCHEMA)),
    ]
}

#[cfg(test)]
mod tests;
