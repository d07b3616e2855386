//! Placeholder for the `gls` mapper (being written).

use super::{Carrier, MapError, RawRecord};
use crate::domain::CarrierEvent;

/// The `gls` carrier.
pub struct Gls;

impl Carrier for Gls {
    fn id(&self) -> &'static str {
        "gls"
    }

    fn map(&self, _raw: &RawRecord<'_>) -> Result<Vec<CarrierEvent>, MapError> {
        Err(MapError::Shape("mapper not written yet".to_owned()))
    }
}
