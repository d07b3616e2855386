//! Placeholder for the `hermes` mapper (being written).

use super::{Carrier, MapError, RawRecord};
use crate::domain::CarrierEvent;

/// The `hermes` carrier.
pub struct Hermes;

impl Carrier for Hermes {
    fn id(&self) -> &'static str {
        "hermes"
    }

    fn map(&self, _raw: &RawRecord<'_>) -> Result<Vec<CarrierEvent>, MapError> {
        Err(MapError::Shape("mapper not written yet".to_owned()))
    }
}
