//! Placeholder for the `dhl_parcel_de` mapper (being written).

use super::{Carrier, MapError, RawRecord};
use crate::domain::CarrierEvent;

/// The `dhl_parcel_de` carrier.
pub struct DhlParcelDe;

impl Carrier for DhlParcelDe {
    fn id(&self) -> &'static str {
        "dhl_parcel_de"
    }

    fn map(&self, _raw: &RawRecord<'_>) -> Result<Vec<CarrierEvent>, MapError> {
        Err(MapError::Shape("mapper not written yet".to_owned()))
    }
}
