//! Avro on the wire: Confluent framing with the schema registry (schemas registered or
//! looked up once at start, never per record), or Avro single-object encoding without one.

use crate::avro::{
    self, AvroError, AvroRecord, SHIPMENT_EVENT_AVSC, STATUS_CHANGED_AVSC, ShipmentEventRecord,
    StatusChangedRecord,
};
use crate::config::Config;
use crate::domain::ShipmentEvent;
use apache_avro::Schema;
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
    },
}

/// Encodes the two Avro outputs and decodes `shipment.events`.
pub struct Codec {
    framing: Framing,
}

impl Codec {
    /// Registers (or looks up) both schemas under `<topic>-value` when a registry is
    /// configured; else uses single-object encoding. Call once at start.
    pub async fn connect(config: &Config) -> Result<Self, CodecError> {
        let url = config.schema_registry.url.clone();
        if url.is_empty() {
            return Ok(Self {
                framing: Framing::SingleObject {
                    event_fingerprint: avro::fingerprint(avro::shipment_event_schema()),
                },
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
        Ok(Self {
            framing: Framing::Registry {
                url: url.clone(),
                event_id: event.id,
                changed_id: changed.id,
                decoder: Box::new(AvroDecoder::new(settings)),
                runtime: tokio::runtime::Handle::current(),
                writers: Mutex::new(HashMap::new()),
            },
        })
    }

    /// The wire bytes of a unified event for `shipment.events`.
    pub fn encode_event(&self, record: &ShipmentEventRecord<'_>) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::new();
        self.encode_event_into(record, &mut out)?;
        Ok(out)
    }

    /// [`Codec::encode_event`] into `out` (cleared first).
    pub fn encode_event_into(
        &self,
        record: &ShipmentEventRecord<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        encode_into(self.registry_ids().map(|(event, _)| event), record, out)
    }

    /// The wire bytes of a status change for `shipment.status.changed`, into `out`
    /// (cleared first).
    pub fn encode_changed_into(
        &self,
        record: &StatusChangedRecord<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        encode_into(self.registry_ids().map(|(_, changed)| changed), record, out)
    }

    /// The registry's ids of the event and the change schema; `None` without a registry.
    fn registry_ids(&self) -> Option<(u32, u32)> {
        match &self.framing {
            Framing::Registry {
                event_id,
                changed_id,
                ..
            } => Some((*event_id, *changed_id)),
            Framing::SingleObject { .. } => None,
        }
    }

    /// Reads a record of `shipment.events`, written by this or another version of
    /// unitrack. Blocking: call from the stage thread, not from async code.
    pub fn decode_event(&self, bytes: &[u8]) -> Result<ShipmentEvent, CodecError> {
        let reader = avro::shipment_event_schema();
        let record: ShipmentEventRecord<'static> = match &self.framing {
            Framing::Registry { event_id, .. } => {
                let (id, datum) = avro::confluent_unframe(bytes)?;
                if id == *event_id {
                    avro::read_record(datum)?
                } else {
                    let writer = self.writer_schema(id)?;
                    avro::read_datum(&writer, reader, datum)?
                }
            }
            Framing::SingleObject { event_fingerprint } => {
                let (fingerprint, datum) = avro::single_object_unframe(bytes)?;
                if fingerprint != *event_fingerprint {
                    return Err(AvroError::Framing {
                        expected: "the ShipmentEvent schema's fingerprint",
                        reason: format!("fingerprint {fingerprint:02x?}"),
                    }
                    .into());
                }
                avro::read_record(datum)?
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

/// `record` into `out` (cleared first): Confluent framing with the registry's `schema_id`, or
/// single-object encoding without a registry.
fn encode_into<R: AvroRecord>(
    schema_id: Option<u32>,
    record: &R,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    match schema_id {
        Some(id) => avro::confluent_record_into(id, record, out)?,
        None => avro::single_object_record_into(record, out)?,
    }
    Ok(())
}
