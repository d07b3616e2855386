//! Placeholder for the `dpd` mapper (being written).

use super::{Carrier, MapError, RawRecord};
use crate::domain::CarrierEvent;

/// The `dpd` carrier.
pub struct Dpd;

impl Carrier for Dpd {
    fn id(&self) -> &'static str {
        "dpd"
    }

    fn map(&self, _raw: &RawRecord<'_>) -> Result<Vec<CarrierEvent>, MapError> {
        Err(MapError::Shape("mapper not written yet".to_owned()))
    }
}
