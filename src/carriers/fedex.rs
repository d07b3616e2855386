//! Placeholder for the `fedex` mapper (being written).

use super::{Carrier, MapError, RawRecord};
use crate::domain::CarrierEvent;

/// The `fedex` carrier.
pub struct Fedex;

impl Carrier for Fedex {
    fn id(&self) -> &'static str {
        "fedex"
    }

    fn map(&self, _raw: &RawRecord<'_>) -> Result<Vec<CarrierEvent>, MapError> {
        Err(MapError::Shape("mapper not written yet".to_owned()))
    }
}
