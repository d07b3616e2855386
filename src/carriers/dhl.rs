//! Placeholder for the `dhl` mapper (being written).

use super::{Carrier, MapError, RawRecord};
use crate::domain::CarrierEvent;

/// The `dhl` carrier.
pub struct Dhl;

impl Carrier for Dhl {
    fn id(&self) -> &'static str {
        "dhl"
    }

    fn map(&self, _raw: &RawRecord<'_>) -> Result<Vec<CarrierEvent>, MapError> {
        Err(MapError::Shape("mapper not written yet".to_owned()))
    }
}
