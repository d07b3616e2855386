//! Placeholder for the `ups` mapper (being written).

use super::{Carrier, MapError, RawRecord};
use crate::domain::CarrierEvent;

/// The `ups` carrier.
pub struct Ups;

impl Carrier for Ups {
    fn id(&self) -> &'static str {
        "ups"
    }

    fn map(&self, _raw: &RawRecord<'_>) -> Result<Vec<CarrierEvent>, MapError> {
        Err(MapError::Shape("mapper not written yet".to_owned()))
    }
}
