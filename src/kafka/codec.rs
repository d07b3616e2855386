//! Avro on the wire: Confluent framing with the schema registry (schemas registered or
//! looked up once at start, never per record), or Avro single-object encoding without one.
//!
//! The datum writers and the reader are built once (building one resolves the schema's
//! names, which costs as much as writing a record), and records are written into a buffer
//! the caller reuses. The bytes are exactly those of [`avro::confluent_frame`] and
//! [`avro::single_object`] (a test checks it).

use crate::avro::{
    self, AvroError, SHIPMENT_EVENT_AVSC, STATUS_CHANGED_AVSC, ShipmentEventRecord,
    StatusChangedRecord,
};
use crate::config::Config;
use crate::domain::ShipmentEvent;
use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Why the codec could not start or a record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The registry refused or could not be reached.
    #[error("schema registry at {url}: {reason}")]
    Registry {
        /// The registry URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// Encoding or decoding failed.
    #[error(transparent)]
    Avro(#[from] AvroError),
}

enum Framing {
    Registry {
        url: String,
        event_id: u32,
        changed_id: u32,
        decoder: Box<AvroDecoder>,
        runtime: tokio::runtime::Handle,
        /// Writer schemas seen on `shipment.events`, by registry id.
        writers: Mutex<HashMap<u32, Arc<Schema>>>,
    },
    SingleObject {
        event_fingerprint: [u8; 8],
        changed_fingerprint: [u8; 8],
    },
}

/// Encodes the two Avro outputs and decodes `shipment.events`.
pub struct Codec {
    framing: Framing,
    event_writer: GenericDatumWriter<'static>,
    changed_writer: GenericDatumWriter<'static>,
    /// Reads events written with this version's schema (the common case).
    event_reader: GenericDatumReader<'static>,
}

impl Codec {
    /// Registers (or looks up) both schemas under `<topic>-value` when a registry is
    /// configured; else uses single-object encoding. Call once at start.
    pub async fn connect(config: &Config) -> Result<Self, CodecError> {
        let url = config.schema_registry.url.clone();
        if url.is_empty() {
            return Self::with(Framing::SingleObject {
                event_fingerprint: avro::fingerprint(avro::shipment_event_schema()),
                changed_fingerprint: avro::fingerprint(avro::status_changed_schema()),
            });
        }
        let settings = SrSettings::new(url.clone());
        let encoder = AvroEncoder::new(settings.clone());
        let register = |topic: &str, name: &str, text: &str| {
            let strategy = SubjectNameStrategy::TopicNameStrategyWithSchema(
                topic.to_owned(),
                false,
                SuppliedSchema::new(Some(name.to_owned()), SchemaType::Avro, text.to_owned()),
            );
            let subject = format!("{topic}-value");
            let encoder = &encoder;
            async move { encoder.get_schema_and_id(&subject, strategy).await }
        };
        let registry_error = |e: schema_registry_converter::error::SRCError| CodecError::Registry {
            url: url.clone(),
            reason: e.to_string(),
        };
        let event = register(
            &config.topics.events,
            "com.plentyone.unitrack.ShipmentEvent",
            SHIPMENT_EVENT_AVSC,
        )
        .await
        .map_err(registry_error)?;
        let changed = register(
            &config.topics.status_changed,
            "com.plentyone.unitrack.ShipmentStatusChanged",
            STATUS_CHANGED_AVSC,
        )
        .await
        .map_err(registry_error)?;
        Self::with(Framing::Registry {
            url: url.clone(),
            event_id: event.id,
            changed_id: changed.id,
            decoder: Box::new(AvroDecoder::new(settings)),
            runtime: tokio::runtime::Handle::current(),
            writers: Mutex::new(HashMap::new()),
        })
    }

    fn with(framing: Framing) -> Result<Self, CodecError> {
        let writer = |schema: &'static Schema| {
            GenericDatumWriter::builder(schema)
                .validate(false)
                .build()
                .map_err(AvroError::from)
        };
        let event_schema = avro::shipment_event_schema();
        Ok(Self {
            framing,
            event_writer: writer(event_schema)?,
            changed_writer: writer(avro::status_changed_schema())?,
            event_reader: GenericDatumReader::builder(event_schema)
                .build()
                .map_err(AvroError::from)?,
        })
    }

    /// Writes the wire bytes of a unified event for `shipment.events` into `out`
    /// (cleared first).
    pub fn encode_event(
        &self,
        record: &ShipmentEventRecord,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        out.clear();
        match &self.framing {
            Framing::Registry { event_id, .. } => confluent_header(*event_id, out),
            Framing::SingleObject {
                event_fingerprint, ..
            } => single_object_header(event_fingerprint, out),
        }
        self.event_writer
            .write_ser(out, record)
            .map_err(AvroError::from)?;
        Ok(())
    }

    /// Writes the wire bytes of a status change for `shipment.status.changed` into `out`
    /// (cleared first).
    pub fn encode_changed(
        &self,
        record: &StatusChangedRecord,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        out.clear();
        match &self.framing {
            Framing::Registry { changed_id, .. } => confluent_header(*changed_id, out),
            Framing::SingleObject {
                changed_fingerprint,
                ..
            } => single_object_header(changed_fingerprint, out),
        }
        self.changed_writer
            .write_ser(out, record)
            .map_err(AvroError::from)?;
        Ok(())
    }

    /// Reads a record of `shipment.events`, written by this or another version of
    /// unitrack. Blocking: call from the stage thread, not from async code.
    pub fn decode_event(&self, bytes: &[u8]) -> Result<ShipmentEvent, CodecError> {
        let reader = avro::shipment_event_schema();
        let record: ShipmentEventRecord = match &self.framing {
            Framing::Registry { event_id, .. } => {
                let (id, mut datum) = avro::confluent_unframe(bytes)?;
                if id == *event_id {
                    self.event_reader
                        .read_deser(&mut datum)
                        .map_err(AvroError::from)?
                } else {
                    let writer = self.writer_schema(id)?;
                    avro::read_datum(&writer, reader, datum)?
                }
            }
            Framing::SingleObject {
                event_fingerprint, ..
            } => {
                let (fingerprint, mut datum) = avro::single_object_unframe(bytes)?;
                if fingerprint != *event_fingerprint {
                    return Err(AvroError::Framing {
                        expected: "the ShipmentEvent schema's fingerprint",
                        reason: format!("fingerprint {fingerprint:02x?}"),
                    }
                    .into());
                }
                self.event_reader
                    .read_deser(&mut datum)
                    .map_err(AvroError::from)?
            }
        };
        Ok(ShipmentEvent::try_from(record).map_err(AvroError::from)?)
    }

    /// The schema registered under `id`, fetched once per id.
    fn writer_schema(&self, id: u32) -> Result<Arc<Schema>, CodecError> {
        let Framing::Registry {
            url,
            decoder,
            runtime,
            writers,
            ..
        } = &self.framing
        else {
            return Err(CodecError::Registry {
                url: String::new(),
                reason: "no registry configured".to_owned(),
            });
        };
        if let Some(schema) = writers
            .lock()
            .ok()
            .and_then(|known| known.get(&id).cloned())
        {
            return Ok(schema);
        }
        let fetched =
            runtime
                .block_on(decoder.get_schema(id))
                .map_err(|e| CodecError::Registry {
                    url: url.clone(),
                    reason: format!("schema id {id}: {e}"),
                })?;
        let schema = Arc::new(fetched.parsed.clone());
        if let Ok(mut known) = writers.lock() {
            known.insert(id, schema.clone());
        }
        Ok(schema)
    }
}

/// Confluent framing's header: magic byte 0 and the 4-byte big-endian schema id.
fn confluent_header(schema_id: u32, out: &mut Vec<u8>) {
    out.push(0);
    out.extend_from_slice(&schema_id.to_be_bytes());
}

/// Single-object encoding's header: `C3 01` and the schema's fingerprint.
fn single_object_header(fingerprint: &[u8; 8], out: &mut Vec<u8>) {
    out.extend_from_slice(&[0xC3, 0x01]);
    out.extend_from_slice(fingerprint);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        CarrierEvent, EventTime, ShipmentEvent, Status, StatusChanged, SubCode, TrackingNumber,
    };
    use chrono::{TimeZone, Utc};

    fn event() -> ShipmentEvent {
        let at = Utc
            .with_ymd_and_hms(2024, 5, 1, 10, 0, 0)
            .single()
            .expect("valid");
        let event = CarrierEvent::new(
            TrackingNumber::parse("ABC123").expect("valid"),
            EventTime::system(at),
            Status::Delivered,
            Some(SubCode::Neighbour),
        )
        .code("statusCode", "delivered");
        ShipmentEvent::from_carrier("dhl", event).expect("valid")
    }

    fn codecs() -> Vec<Codec> {
        let single = Framing::SingleObject {
            event_fingerprint: avro::fingerprint(avro::shipment_event_schema()),
            changed_fingerprint: avro::fingerprint(avro::status_changed_schema()),
        };
        vec![Codec::with(single).expect("codec")]
    }

    #[test]
    fn cached_writers_write_the_bytes_of_the_avro_module() {
        let event = event();
        let mut state = crate::domain::PackageState::default();
        let crate::domain::Outcome::Changed(change) = state.apply(&event) else {
            panic!("the first event changes the status");
        };
        let changed = StatusChangedRecord::new(
            &StatusChanged::new(&event, &change, None),
            Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 1)
                .single()
                .expect("valid"),
        );
        let record = ShipmentEventRecord::from(&event);
        for codec in codecs() {
            let mut out = vec![9, 9, 9];
            codec.encode_event(&record, &mut out).expect("encodes");
            let expected =
                avro::single_object(avro::shipment_event_schema(), &record).expect("encodes");
            assert_eq!(out, expected);
            assert_eq!(codec.decode_event(&out).expect("decodes"), event);
            codec.encode_changed(&changed, &mut out).expect("encodes");
            let expected =
                avro::single_object(avro::status_changed_schema(), &changed).expect("encodes");
            assert_eq!(out, expected);
        }
        let codec = &codecs()[0];
        let mut out = Vec::new();
        confluent_header(42, &mut out);
        codec
            .event_writer
            .write_ser(&mut out, &record)
            .expect("encodes");
        let expected =
            avro::confluent_frame(42, avro::shipment_event_schema(), &record).expect("encodes");
        assert_eq!(out, expected);
    }
}
