//! The unified status vocabulary: top-level statuses with class and rank, their sub-codes,
//! who owns the reason, and the direction of travel (STATUS_MODEL.md, "Top-level statuses").

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A top-level unified status. The Avro enum carries the same symbols; `UNKNOWN` is its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Registered, no carrier data yet.
    Pending,
    /// The carrier has the data, no physical scan yet.
    InfoReceived,
    /// In the carrier's network.
    InTransit,
    /// On the delivery vehicle.
    OutForDelivery,
    /// A delivery attempt failed; the carrier still has the parcel.
    DeliveryFailed,
    /// Waiting at a shop, locker or post office.
    AvailableForPickup,
    /// A problem that may delay or stop delivery.
    Exception,
    /// No carrier update past a threshold (system timer).
    Stalled,
    /// Delivered (incl. neighbour, safe place, collected).
    Delivered,
    /// On its way back to the merchant.
    ReturningToSender,
    /// Arrived back at the merchant.
    ReturnedToSender,
    /// Lost, destroyed, seized, abandoned.
    Failed,
    /// Voided before or by the carrier.
    Cancelled,
    /// Tracking closed after max age without an outcome (system timer).
    Expired,
    /// Unmapped carrier code: recorded, never changes the status.
    Unknown,
}

/// How a status behaves in the fold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusClass {
    /// Normal forward progress.
    Progress,
    /// Something needs attention; may be entered from any non-terminal status.
    Attention,
    /// Sticky end state; left only through the reopen list.
    Terminal,
    /// `UNKNOWN`: no class, never changes the status.
    None,
}

impl Status {
    /// Every status, in the order of the Avro enum symbols.
    pub const ALL: [Status; 15] = [
        Status::Pending,
        Status::InfoReceived,
        Status::InTransit,
        Status::OutForDelivery,
        Status::DeliveryFailed,
        Status::AvailableForPickup,
        Status::Exception,
        Status::Stalled,
        Status::Delivered,
        Status::ReturningToSender,
        Status::ReturnedToSender,
        Status::Failed,
        Status::Cancelled,
        Status::Expired,
        Status::Unknown,
    ];

    /// The wire name, e.g. `RETURNED_TO_SENDER`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::InfoReceived => "INFO_RECEIVED",
            Status::InTransit => "IN_TRANSIT",
            Status::OutForDelivery => "OUT_FOR_DELIVERY",
            Status::DeliveryFailed => "DELIVERY_FAILED",
            Status::AvailableForPickup => "AVAILABLE_FOR_PICKUP",
            Status::Exception => "EXCEPTION",
            Status::Stalled => "STALLED",
            Status::Delivered => "DELIVERED",
            Status::ReturningToSender => "RETURNING_TO_SENDER",
            Status::ReturnedToSender => "RETURNED_TO_SENDER",
            Status::Failed => "FAILED",
            Status::Cancelled => "CANCELLED",
            Status::Expired => "EXPIRED",
            Status::Unknown => "UNKNOWN",
        }
    }

    /// The class of the status.
    pub const fn class(self) -> StatusClass {
        match self {
            Status::Pending
            | Status::InfoReceived
            | Status::InTransit
            | Status::OutForDelivery
            | Status::AvailableForPickup => StatusClass::Progress,
            Status::DeliveryFailed
            | Status::Exception
            | Status::Stalled
            | Status::ReturningToSender => StatusClass::Attention,
            Status::Delivered
            | Status::ReturnedToSender
            | Status::Failed
            | Status::Cancelled
            | Status::Expired => StatusClass::Terminal,
            Status::Unknown => StatusClass::None,
        }
    }

    /// The rank of the status, `None` where it keeps the previous rank (`EXCEPTION`,
    /// `STALLED`) or has none (`EXPIRED`, `UNKNOWN`).
    pub const fn rank(self) -> Option<u8> {
        match self {
            Status::Pending => Some(0),
            Status::InfoReceived => Some(10),
            Status::InTransit => Some(20),
            Status::OutForDelivery => Some(30),
            Status::DeliveryFailed => Some(31),
            Status::AvailableForPickup => Some(35),
            Status::Delivered => Some(50),
            Status::ReturningToSender => Some(60),
            Status::ReturnedToSender => Some(70),
            Status::Failed => Some(80),
            Status::Cancelled => Some(90),
            Status::Exception | Status::Stalled | Status::Expired | Status::Unknown => None,
        }
    }

    /// Whether the status is terminal (sticky).
    pub const fn is_terminal(self) -> bool {
        matches!(self.class(), StatusClass::Terminal)
    }

    /// The sub-codes this status allows (reference §4.2).
    pub fn sub_codes(self) -> &'static [SubCode] {
        use SubCode::*;
        match self {
            Status::Pending => &[Registered, NotFound, InvalidNumber],
            Status::InfoReceived => &[
                LabelCreated,
                PickupScheduled,
                AwaitingInformation,
                ShipperDataIssue,
            ],
            Status::InTransit => &[
                PickedUp,
                DroppedOff,
                Processing,
                AtDestinationDepot,
                International,
                CustomsProcessing,
                CustomsReleased,
                Transferred,
                Redirected,
                DeliveryScheduled,
                Resolved,
            ],
            Status::OutForDelivery => &[OnVehicle, ArrivingSoon, CustomerContacted],
            Status::DeliveryFailed => &[
                RecipientAbsent,
                BusinessClosed,
                AccessRestricted,
                AddressIssue,
                Refused,
                PaymentRequired,
                IdCheckFailed,
                AuthenticationFailed,
                SignatureRequired,
                CarrierIssue,
                BackAtDepot,
                NoticeLeft,
                FinalAttempt,
                Unspecified,
            ],
            Status::AvailableForPickup => {
                &[ParcelShop, Locker, PostOffice, CarrierFacility, Reminder]
            }
            Status::Exception => &[
                Delayed,
                Weather,
                ForceMajeure,
                CustomsHold,
                CustomsDocuments,
                CustomsRejected,
                PaymentRequired,
                AddressIssue,
                RecipientMoved,
                Damaged,
                Misrouted,
                Held,
                PickupFailed,
                PickupMissed,
                PickupPointRejected,
                RejectedByCarrier,
                RegulatoryHold,
                Investigation,
                ContactCarrier,
                Unspecified,
            ],
            Status::Stalled => &[NotHandedOver, NoProgress, PickupOverdue],
            Status::Delivered => &[
                Recipient,
                Signed,
                Neighbour,
                SafePlace,
                CollectedAtPickupPoint,
                Agent,
                CodCollected,
                Unspecified,
            ],
            Status::ReturningToSender => &[
                Refused,
                Undeliverable,
                AddressIssue,
                NotCollected,
                RecipientAbsent,
                IdCheckFailed,
                PaymentRequired,
                Damaged,
                SenderRequest,
                CustomsRejected,
                Unspecified,
            ],
            Status::ReturnedToSender => &[Received],
            Status::Failed => &[Lost, Destroyed, Seized, Undeliverable],
            Status::Cancelled => &[ByShipper, ByCarrier, ByRecipient],
            Status::Expired => &[NoCarrierData, MaxAgeReached],
            Status::Unknown => &[],
        }
    }

    /// Whether `sub` is one of this status's sub-codes.
    pub fn allows(self, sub: SubCode) -> bool {
        self.sub_codes().contains(&sub)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not in the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status `{0}`")]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

macro_rules! sub_codes {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// A sub-code (`lower_snake`), qualified by its status as `STATUS.sub`. One name may
        /// belong to several statuses (`address_issue`); [`Status::allows`] says which.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[allow(missing_docs)]
        pub enum SubCode { $($variant),+ }

        impl SubCode {
            /// Every sub-code.
            pub const ALL: &'static [SubCode] = &[$(SubCode::$variant),+];

            /// The wire name, e.g. `neighbour`.
            pub const fn as_str(self) -> &'static str {
                match self { $(SubCode::$variant => $name),+ }
            }
        }
    };
}

sub_codes! {
    Registered => "registered",
    NotFound => "not_found",
    InvalidNumber => "invalid_number",
    LabelCreated => "label_created",
    PickupScheduled => "pickup_scheduled",
    AwaitingInformation => "awaiting_information",
    ShipperDataIssue => "shipper_data_issue",
    PickedUp => "picked_up",
    DroppedOff => "dropped_off",
    Processing => "processing",
    AtDestinationDepot => "at_destination_depot",
    International => "international",
    CustomsProcessing => "customs_processing",
    CustomsReleased => "customs_released",
    Transferred => "transferred",
    Redirected => "redirected",
    DeliveryScheduled => "delivery_scheduled",
    Resolved => "resolved",
    OnVehicle => "on_vehicle",
    ArrivingSoon => "arriving_soon",
    CustomerContacted => "customer_contacted",
    RecipientAbsent => "recipient_absent",
    BusinessClosed => "business_closed",
    AccessRestricted => "access_restricted",
    AddressIssue => "address_issue",
    Refused => "refused",
    PaymentRequired => "payment_required",
    IdCheckFailed => "id_check_failed",
    AuthenticationFailed => "authentication_failed",
    SignatureRequired => "signature_required",
    CarrierIssue => "carrier_issue",
    BackAtDepot => "back_at_depot",
    NoticeLeft => "notice_left",
    FinalAttempt => "final_attempt",
    Unspecified => "unspecified",
    ParcelShop => "parcel_shop",
    Locker => "locker",
    PostOffice => "post_office",
    CarrierFacility => "carrier_facility",
    Reminder => "reminder",
    Delayed => "delayed",
    Weather => "weather",
    ForceMajeure => "force_majeure",
    CustomsHold => "customs_hold",
    CustomsDocuments => "customs_documents",
    CustomsRejected => "customs_rejected",
    RecipientMoved => "recipient_moved",
    Damaged => "damaged",
    Misrouted => "misrouted",
    Held => "held",
    PickupFailed => "pickup_failed",
    PickupMissed => "pickup_missed",
    PickupPointRejected => "pickup_point_rejected",
    RejectedByCarrier => "rejected_by_carrier",
    RegulatoryHold => "regulatory_hold",
    Investigation => "investigation",
    ContactCarrier => "contact_carrier",
    NotHandedOver => "not_handed_over",
    NoProgress => "no_progress",
    PickupOverdue => "pickup_overdue",
    Recipient => "recipient",
    Signed => "signed",
    Neighbour => "neighbour",
    SafePlace => "safe_place",
    CollectedAtPickupPoint => "collected_at_pickup_point",
    Agent => "agent",
    CodCollected => "cod_collected",
    Undeliverable => "undeliverable",
    NotCollected => "not_collected",
    SenderRequest => "sender_request",
    Received => "received",
    Lost => "lost",
    Destroyed => "destroyed",
    Seized => "seized",
    ByShipper => "by_shipper",
    ByCarrier => "by_carrier",
    ByRecipient => "by_recipient",
    NoCarrierData => "no_carrier_data",
    MaxAgeReached => "max_age_reached",
}

impl fmt::Display for SubCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SubCode {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SubCode::ALL
            .iter()
            .copied()
            .find(|sub| sub.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// Who the reason for a status belongs to (Karrio's idea, reference §4.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonOwner {
    /// The carrier (tour cancelled, damage, loss).
    Carrier,
    /// The shipper / merchant (data issue, cancelled label).
    Shipper,
    /// The recipient (absent, refused, not collected).
    Recipient,
    /// Customs.
    Customs,
    /// Weather, strikes, disasters.
    ForceMajeure,
    /// Not known.
    #[default]
    Unknown,
}

/// The direction a package travels in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the merchant to the customer.
    #[default]
    Outbound,
    /// A customer return label: a separate package travelling to the merchant.
    Return,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip() {
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>(), Ok(status));
            let json = serde_json::to_string(&status).expect("serialises");
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
    }

    #[test]
    fn sub_code_names_match_serde() {
        for sub in SubCode::ALL {
            let json = serde_json::to_string(sub).expect("serialises");
            assert_eq!(json, format!("\"{}\"", sub.as_str()));
            assert_eq!(sub.as_str().parse::<SubCode>(), Ok(*sub));
        }
    }

    #[test]
    fn every_sub_code_belongs_to_some_status() {
        for sub in SubCode::ALL {
            assert!(
                Status::ALL.iter().any(|s| s.allows(*sub)),
                "{sub} belongs to no status"
            );
        }
    }

    #[test]
    fn ranks_follow_the_status_model() {
        assert!(Status::OutForDelivery.rank() > Status::InTransit.rank());
        assert!(Status::DeliveryFailed.rank() < Status::AvailableForPickup.rank());
        assert_eq!(Status::Exception.rank(), None);
        assert!(Status::Delivered.is_terminal());
        assert!(!Status::ReturningToSender.is_terminal());
        assert_eq!(Status::Unknown.class(), StatusClass::None);
    }
}
