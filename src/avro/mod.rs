//! The Avro contract of `schemas/`: the schemas (parsed once), the flat records, and the
//! two wire formats: Confluent framing (magic byte 0, 4-byte big-endian schema id, datum)
//! when a schema registry is configured, Avro single-object encoding (`C3 01`, 8-byte
//! little-endian CRC-64-AVRO fingerprint, datum) when not.
//!
//! unitrack's own records ([`AvroRecord`]) are written by a direct serde writer
//! (`binary.rs`), byte for byte what apache-avro writes for them and several times faster;
//! anything else, and all reading, goes through apache-avro.

mod binary;
mod records;

pub use records::{RecordError, ShipmentEventRecord, StatusChangedRecord};

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::OnceLock;

/// The text of `schemas/ShipmentEvent.avsc`.
pub const SHIPMENT_EVENT_AVSC: &str = include_str!("../../schemas/ShipmentEvent.avsc");
/// The text of `schemas/ShipmentStatusChanged.avsc`.
pub const STATUS_CHANGED_AVSC: &str = include_str!("../../schemas/ShipmentStatusChanged.avsc");

/// Why an Avro record could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AvroError {
    /// apache-avro refused the value or the bytes.
    #[error("avro: {0}")]
    Avro(#[from] apache_avro::Error),
    /// The bytes do not start with the expected header.
    #[error("not {expected}: {reason}")]
    Framing {
        /// The expected wire format.
        expected: &'static str,
        /// What was found.
        reason: String,
    },
    /// The record decodes but is not a valid domain value.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The direct writer met a value unitrack's records never hold (a map, a tuple...).
    #[error("cannot write directly: {0}")]
    Direct(String),
    /// The bytes are not a datum of the record's own schema.
    #[error("avro: {0}")]
    Read(#[from] serde_avro_fast::de::DeError),
}

fn parse(text: &'static str, cell: &'static OnceLock<Schema>) -> &'static Schema {
    cell.get_or_init(|| {
        // Start-up invariant: the schemas are compiled in and parsed by the unit tests.
        #[allow(clippy::expect_used)]
        Schema::parse_str(text).expect("compiled-in schema parses")
    })
}

/// The parsed `ShipmentEvent` schema.
pub fn shipment_event_schema() -> &'static Schema {
    static CELL: OnceLock<Schema> = OnceLock::new();
    parse(SHIPMENT_EVENT_AVSC, &CELL)
}

/// The parsed `ShipmentStatusChanged` schema.
pub fn status_changed_schema() -> &'static Schema {
    static CELL: OnceLock<Schema> = OnceLock::new();
    parse(STATUS_CHANGED_AVSC, &CELL)
}

/// The datum writer of a compiled-in schema, built once. Building a writer resolves every
/// named type of the schema into a map, which costs several times as much as writing a
/// record (measured in `benches/pure_path.rs`). `None` for any other schema.
fn cached_writer(schema: &Schema) -> Option<&'static GenericDatumWriter<'static>> {
    type Cell = OnceLock<Option<GenericDatumWriter<'static>>>;
    static EVENT: Cell = OnceLock::new();
    static CHANGED: Cell = OnceLock::new();
    let (cell, own) = if std::ptr::eq(schema, shipment_event_schema()) {
        (&EVENT, shipment_event_schema())
    } else if std::ptr::eq(schema, status_changed_schema()) {
        (&CHANGED, status_changed_schema())
    } else {
        return None;
    };
    cell.get_or_init(|| new_writer(own).ok()).as_ref()
}

fn new_writer(schema: &Schema) -> Result<GenericDatumWriter<'_>, AvroError> {
    Ok(GenericDatumWriter::builder(schema)
        .validate(false)
        .build()?)
}

/// Writes `value` as a bare Avro datum of `schema`, appending to `out`. The schemas of
/// [`shipment_event_schema`] and [`status_changed_schema`] use a writer built once.
pub fn write_datum<T: Serialize>(
    schema: &Schema,
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), AvroError> {
    match cached_writer(schema) {
        Some(writer) => writer.write_ser(out, value)?,
        None => new_writer(schema)?.write_ser(out, value)?,
    };
    Ok(())
}

/// Reads a bare Avro datum written with `writer_schema` into `T`, resolving it to
/// `reader_schema` when they differ (schema evolution).
pub fn read_datum<T: DeserializeOwned>(
    writer_schema: &Schema,
    reader_schema: &Schema,
    mut bytes: &[u8],
) -> Result<T, AvroError> {
    if std::ptr::eq(writer_schema, reader_schema) || writer_schema == reader_schema {
        let reader = GenericDatumReader::builder(writer_schema).build()?;
        return Ok(reader.read_deser(&mut bytes)?);
    }
    let reader = GenericDatumReader::builder(writer_schema)
        .reader_schema(reader_schema)
        .build()?;
    let value = reader.read_value(&mut bytes)?;
    Ok(apache_avro::from_value(&value)?)
}

/// Confluent framing: magic byte 0 and the 4-byte big-endian schema id, then the datum.
pub fn confluent_frame<T: Serialize>(
    schema_id: u32,
    schema: &Schema,
    value: &T,
) -> Result<Vec<u8>, AvroError> {
    let mut out = Vec::with_capacity(256);
    out.push(0);
    out.extend_from_slice(&schema_id.to_be_bytes());
    write_datum(schema, value, &mut out)?;
    Ok(out)
}

/// One of unitrack's own records. Its fields follow its schema exactly (order, `["null", T]`
/// unions as `Option<T>`, enums in symbol order), so it is written without consulting the
/// schema, byte for byte as [`write_datum`] writes it, at a fraction of the cost.
pub trait AvroRecord: Serialize {
    /// The record's schema.
    fn schema() -> &'static Schema;

    /// The same schema, as serde_avro_fast reads it.
    fn fast_schema() -> &'static serde_avro_fast::Schema;

    /// Appends the record's Avro datum to `out`.
    fn write_datum(&self, out: &mut Vec<u8>) -> Result<(), AvroError> {
        binary::write(self, out)
    }
}

fn parse_fast(
    text: &'static str,
    cell: &'static OnceLock<serde_avro_fast::Schema>,
) -> &'static serde_avro_fast::Schema {
    cell.get_or_init(|| {
        // Start-up invariant: the schemas are compiled in and parsed by the unit tests.
        #[allow(clippy::expect_used)]
        text.parse().expect("compiled-in schema parses")
    })
}

/// Reads a datum written with `R`'s own schema (no schema resolution: a datum of another
/// writer schema goes through [`read_datum`]). serde_avro_fast reads the fields as they
/// come; apache-avro's reader, built per call, cost more than the rest of the fold stage's
/// work on an event.
pub fn read_record<R: AvroRecord + DeserializeOwned>(datum: &[u8]) -> Result<R, AvroError> {
    Ok(serde_avro_fast::from_datum_slice(datum, R::fast_schema())?)
}

/// [`confluent_frame`] for one of unitrack's records.
pub fn confluent_record<R: AvroRecord>(schema_id: u32, record: &R) -> Result<Vec<u8>, AvroError> {
    // Room for a usual record at once (carrier events with a text take 250–400 bytes; a
    // buffer that has to grow costs a copy and a second allocation).
    let mut out = Vec::with_capacity(512);
    confluent_record_into(schema_id, record, &mut out)?;
    Ok(out)
}

/// [`confluent_record`] into `out`, which is cleared first: a stage keeps one buffer for
/// all the records it produces (rdkafka copies what it is given).
pub fn confluent_record_into<R: AvroRecord>(
    schema_id: u32,
    record: &R,
    out: &mut Vec<u8>,
) -> Result<(), AvroError> {
    out.clear();
    out.push(0);
    out.extend_from_slice(&schema_id.to_be_bytes());
    record.write_datum(out)
}

/// [`single_object`] for one of unitrack's records.
pub fn single_object_record<R: AvroRecord>(record: &R) -> Result<Vec<u8>, AvroError> {
    let mut out = Vec::with_capacity(256);
    single_object_record_into(record, &mut out)?;
    Ok(out)
}

/// [`single_object_record`] into `out`, which is cleared first (as
/// [`confluent_record_into`]).
pub fn single_object_record_into<R: AvroRecord>(
    record: &R,
    out: &mut Vec<u8>,
) -> Result<(), AvroError> {
    out.clear();
    out.extend_from_slice(&[0xC3, 0x01]);
    out.extend_from_slice(&fingerprint(R::schema()));
    record.write_datum(out)
}

/// Splits Confluent framing into the schema id and the datum.
pub fn confluent_unframe(bytes: &[u8]) -> Result<(u32, &[u8]), AvroError> {
    match bytes {
        [0, a, b, c, d, datum @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), datum)),
        _ => Err(AvroError::Framing {
            expected: "Confluent framing",
            reason: format!("{} bytes, first {:?}", bytes.len(), bytes.first()),
        }),
    }
}

/// The CRC-64-AVRO (Rabin) fingerprint of a schema, as single-object encoding uses it;
/// computed once for the compiled-in schemas (it needs the schema's canonical form).
pub fn fingerprint(schema: &Schema) -> [u8; 8] {
    static EVENT: OnceLock<[u8; 8]> = OnceLock::new();
    static CHANGED: OnceLock<[u8; 8]> = OnceLock::new();
    if std::ptr::eq(schema, shipment_event_schema()) {
        *EVENT.get_or_init(|| compute_fingerprint(schema))
    } else if std::ptr::eq(schema, status_changed_schema()) {
        *CHANGED.get_or_init(|| compute_fingerprint(schema))
    } else {
        compute_fingerprint(schema)
    }
}

fn compute_fingerprint(schema: &Schema) -> [u8; 8] {
    let bytes = schema.fingerprint::<apache_avro::rabin::Rabin>().bytes;
    let mut fingerprint = [0u8; 8];
    for (slot, byte) in fingerprint.iter_mut().zip(bytes) {
        *slot = byte;
    }
    fingerprint
}

/// Avro single-object encoding: `C3 01`, the schema's fingerprint, then the datum.
pub fn single_object<T: Serialize>(schema: &Schema, value: &T) -> Result<Vec<u8>, AvroError> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&[0xC3, 0x01]);
    out.extend_from_slice(&fingerprint(schema));
    write_datum(schema, value, &mut out)?;
    Ok(out)
}

/// Splits single-object encoding into the fingerprint and the datum.
pub fn single_object_unframe(bytes: &[u8]) -> Result<([u8; 8], &[u8]), AvroError> {
    match bytes {
        [0xC3, 0x01, f0, f1, f2, f3, f4, f5, f6, f7, datum @ ..] => {
            Ok(([*f0, *f1, *f2, *f3, *f4, *f5, *f6, *f7], datum))
        }
        _ => Err(AvroError::Framing {
            expected: "Avro single-object encoding",
            reason: format!("{} bytes, first {:?}", bytes.len(), bytes.first()),
        }),
    }
}

#[cfg(test)]
mod tests;
