//! Rows for messages that could not be accepted, with the reason.

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, BinaryBuilder, Int32Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;

use crate::source::SourceMessage;

/// Lake table of quarantined messages.
pub const QUARANTINE_TABLE: &str = naap_events::tables::QUARANTINE.name;

/// The whole message is kept: nothing accepted by the broker vanishes.
pub static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("source_partition", DataType::Int32, false),
        Field::new("source_offset", DataType::Int64, false),
        Field::new(
            "message_time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        Field::new("reason", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, false),
        Field::new("schema_header", DataType::Utf8, true),
        Field::new("key", DataType::Utf8, true),
        Field::new("payload", DataType::Binary, true),
    ]))
});

#[derive(Debug, Default)]
pub(crate) struct QuarantineBuilder {
    source: StringBuilder,
    partition: Int32Builder,
    offset: Int64Builder,
    message_time: TimestampMillisecondBuilder,
    reason: StringBuilder,
    detail: StringBuilder,
    schema_header: StringBuilder,
    key: StringBuilder,
    payload: BinaryBuilder,
    rows: usize,
}

impl QuarantineBuilder {
    pub(crate) fn push(&mut self, msg: &SourceMessage, reason: &str, detail: &str) {
        self.source.append_value(&msg.source);
        self.partition.append_value(msg.partition);
        self.offset.append_value(msg.offset);
        self.message_time.append_option(msg.timestamp_ms);
        self.reason.append_value(reason);
        self.detail.append_value(detail);
        let schema = msg
            .header("naap-schema")
            .map(|s| match msg.header("naap-schema-version") {
                Some(v) => format!("{s}.v{v}"),
                None => s.to_owned(),
            });
        self.schema_header.append_option(schema);
        self.key
            .append_option(msg.key.as_ref().map(|k| String::from_utf8_lossy(k).into_owned()));
        self.payload.append_option(msg.payload.as_deref());
        self.rows += 1;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub(crate) fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.source.finish()),
            Arc::new(self.partition.finish()),
            Arc::new(self.offset.finish()),
            Arc::new(self.message_time.finish().with_timezone("UTC")),
            Arc::new(self.reason.finish()),
            Arc::new(self.detail.finish()),
            Arc::new(self.schema_header.finish()),
            Arc::new(self.key.finish()),
            Arc::new(self.payload.finish()),
        ];
        self.rows = 0;
        RecordBatch::try_new(Arc::clone(&SCHEMA), columns).expect("builders follow SCHEMA column for column")
    }
}
