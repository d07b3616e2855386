//! DHL's event texts, English and German: the phrase table that finds out-for-delivery,
//! pickup points and failure reasons in a text, because DHL Shipment Tracking – Unified has
//! only five status codes (reference §2.1). The `dhl` mapper classifies every event text
//! with it, within what the event's status code admits; the `dhl_parcel_de` mapper uses it
//! for events whose ICE and standard codes are not documented, admitting only
//! [`NON_TERMINAL`] statuses. Not a carrier: it has no registry line and no fixtures.

use crate::domain::{Status, SubCode};
use aho_corasick::{AhoCorasick, AhoCorasickKind};
use std::sync::OnceLock;

/// The statuses a text alone may give: never a terminal one.
pub(super) const NON_TERMINAL: &[Status] = &[
    Status::InfoReceived,
    Status::InTransit,
    Status::OutForDelivery,
    Status::AvailableForPickup,
    Status::DeliveryFailed,
    Status::Exception,
    Status::ReturningToSender,
];

/// DHL's event texts (English and German, lower-cased, `_` read as a space: parcel-nl
/// sends codes like `NOT_HOME` as the text), most specific first. The first row
/// whose status the status code admits decides the status; the sub-code is that row's, or
/// else the first one of any matching row that the decided status allows (so "returned to
/// sender, acceptance refused" is `RETURNING_TO_SENDER.refused`).
#[rustfmt::skip]
const TEXT_RULES: &[(&str, Status, Option<SubCode>)] = {
    use Status::*;
    use SubCode::*;
    &[
        // Back at the sender (parcel-nl `DELIVERED_AT_SHIPPER` comes under `transit`).
        ("delivered at shipper", ReturnedToSender, Some(Received)),
        ("delivered at the shipper", ReturnedToSender, Some(Received)),
        // Returns to the sender (the reason, found further down, only adds the sub-code).
        ("zurück an den absender", ReturningToSender, None),
        ("zurück an absender", ReturningToSender, None),
        ("an den absender zurück", ReturningToSender, None),
        ("an den absender zugestellt", ReturningToSender, None),
        ("rücksendung", ReturningToSender, None),
        ("ruecksendung", ReturningToSender, None),
        ("returned to sender", ReturningToSender, None),
        ("returned to the sender", ReturningToSender, None),
        ("return to sender", ReturningToSender, None),
        ("return to shipper", ReturningToSender, None),
        ("back to the sender", ReturningToSender, None),
        ("returned to shipper", ReturningToSender, None),
        ("returned to the shipper", ReturningToSender, None),
        ("route to shipper", ReturningToSender, None),
        ("delivered to the sender", ReturningToSender, None),
        // DHL's own name for it ("Return to Origin", a planned status code).
        ("return to origin", ReturningToSender, None),
        ("returned to origin", ReturningToSender, None),
        ("being returned", ReturningToSender, None),
        ("will be returned", ReturningToSender, None),
        // Not picked up from the sender, or not collected from a pickup point in time.
        ("konnte nicht abgeholt", Exception, Some(PickupFailed)),
        ("abholung nicht erfolgreich", Exception, Some(PickupFailed)),
        ("could not be picked up", Exception, Some(PickupFailed)),
        ("pickup unsuccessful", Exception, Some(PickupFailed)),
        ("nicht abgeholt", Exception, Some(PickupMissed)),
        ("nicht abgeholt", ReturningToSender, Some(NotCollected)),
        ("lagerfrist", Exception, Some(PickupMissed)),
        ("not collected", Exception, Some(PickupMissed)),
        ("not collected", ReturningToSender, Some(NotCollected)),
        ("storage period", Exception, Some(PickupMissed)),
        // DHL's `failure` definition: "expired (not picked up from service point)".
        ("not picked up", Exception, Some(PickupMissed)),
        ("not picked up", ReturningToSender, Some(NotCollected)),
        ("did not pick up", Exception, Some(PickupMissed)),
        ("did not pick up", ReturningToSender, Some(NotCollected)),
        ("doesn't pick up", Exception, Some(PickupMissed)),
        ("doesn't pick up", ReturningToSender, Some(NotCollected)),
        ("expired", Exception, Some(PickupMissed)),
        ("expired", ReturningToSender, Some(NotCollected)),
        // Customs refusals (before "verweigert" = refused by the recipient).
        ("einfuhr verweigert", Exception, Some(CustomsRejected)),
        ("zollabfertigung wurde abgelehnt", Exception, Some(CustomsRejected)),
        ("clearance refused", Exception, Some(CustomsRejected)),
        ("import refused", Exception, Some(CustomsRejected)),
        // Definitive failures.
        ("verloren gegangen", Failed, Some(Lost)),
        ("has been lost", Failed, Some(Lost)),
        ("vernichtet", Failed, Some(Destroyed)),
        ("destroyed", Failed, Some(Destroyed)),
        ("disposed", Failed, Some(Destroyed)),
        ("beschlagnahmt", Failed, Some(Seized)),
        ("confiscated", Failed, Some(Seized)),
        ("seized", Failed, Some(Seized)),
        // Redirected (before the address problems).
        ("nachgesendet", InTransit, Some(Redirected)),
        ("nachsendung", InTransit, Some(Redirected)),
        ("umgeleitet", InTransit, Some(Redirected)),
        ("andere adresse", InTransit, Some(Redirected)),
        ("neue adresse", InTransit, Some(Redirected)),
        ("new address", InTransit, Some(Redirected)),
        ("another address", InTransit, Some(Redirected)),
        ("redirect", InTransit, Some(Redirected)),
        ("rerouted", InTransit, Some(Redirected)),
        ("address changed", InTransit, Some(Redirected)),
        // Why a delivery attempt failed.
        ("nicht angetroffen", DeliveryFailed, Some(RecipientAbsent)),
        ("nicht anwesend", DeliveryFailed, Some(RecipientAbsent)),
        ("nicht zu hause", DeliveryFailed, Some(RecipientAbsent)),
        ("not at home", DeliveryFailed, Some(RecipientAbsent)),
        ("not home", DeliveryFailed, Some(RecipientAbsent)),
        ("not present", DeliveryFailed, Some(RecipientAbsent)),
        ("verweigert", DeliveryFailed, Some(Refused)),
        ("refused", DeliveryFailed, Some(Refused)),
        ("verzogen", Exception, Some(RecipientMoved)),
        ("verzogen", DeliveryFailed, Some(AddressIssue)),
        ("has moved", Exception, Some(RecipientMoved)),
        ("has moved", DeliveryFailed, Some(AddressIssue)),
        ("recipient moved", Exception, Some(RecipientMoved)),
        ("recipient moved", DeliveryFailed, Some(AddressIssue)),
        ("no name on", DeliveryFailed, Some(AddressIssue)),
        ("name nicht am", DeliveryFailed, Some(AddressIssue)),
        ("recipient not found", DeliveryFailed, Some(AddressIssue)),
        ("consignee not found", DeliveryFailed, Some(AddressIssue)),
        ("adressfehler", DeliveryFailed, Some(AddressIssue)),
        ("adresse fehlerhaft", DeliveryFailed, Some(AddressIssue)),
        ("fehlerhafte adresse", DeliveryFailed, Some(AddressIssue)),
        ("falsche adresse", DeliveryFailed, Some(AddressIssue)),
        ("adresse unvollständig", DeliveryFailed, Some(AddressIssue)),
        ("unvollständige adresse", DeliveryFailed, Some(AddressIssue)),
        ("nicht zu ermitteln", DeliveryFailed, Some(AddressIssue)),
        ("empfänger unbekannt", DeliveryFailed, Some(AddressIssue)),
        ("address error", DeliveryFailed, Some(AddressIssue)),
        ("incorrect address", DeliveryFailed, Some(AddressIssue)),
        ("wrong address", DeliveryFailed, Some(AddressIssue)),
        ("bad address", DeliveryFailed, Some(AddressIssue)),
        ("incomplete address", DeliveryFailed, Some(AddressIssue)),
        ("address is incomplete", DeliveryFailed, Some(AddressIssue)),
        ("insufficient address", DeliveryFailed, Some(AddressIssue)),
        ("unknown recipient", DeliveryFailed, Some(AddressIssue)),
        ("altersprüfung", DeliveryFailed, Some(IdCheckFailed)),
        ("identitätsprüfung", DeliveryFailed, Some(IdCheckFailed)),
        ("age check", DeliveryFailed, Some(IdCheckFailed)),
        ("identity check", DeliveryFailed, Some(IdCheckFailed)),
        (" geschlossen", DeliveryFailed, Some(BusinessClosed)),
        (" closed", DeliveryFailed, Some(BusinessClosed)),
        ("zahlung erforderlich", DeliveryFailed, Some(PaymentRequired)),
        ("zahlung ausstehend", DeliveryFailed, Some(PaymentRequired)),
        ("payment required", DeliveryFailed, Some(PaymentRequired)),
        ("awaiting payment", DeliveryFailed, Some(PaymentRequired)),
        ("benachrichtigungskarte", DeliveryFailed, Some(NoticeLeft)),
        ("notification card", DeliveryFailed, Some(NoticeLeft)),
        ("unzustellbar", DeliveryFailed, None),
        ("unzustellbar", ReturningToSender, Some(Undeliverable)),
        ("undeliverable", DeliveryFailed, None),
        ("undeliverable", ReturningToSender, Some(Undeliverable)),
        // Customs (before a failed attempt without a reason: "could not be delivered due
        // to customs" is held by customs).
        ("verzollt", InTransit, Some(CustomsReleased)),
        ("zollfreigabe", InTransit, Some(CustomsReleased)),
        ("clearance processing complete", InTransit, Some(CustomsReleased)),
        ("released by customs", InTransit, Some(CustomsReleased)),
        ("zoll", InTransit, Some(CustomsProcessing)),
        ("zoll", Exception, Some(CustomsHold)),
        ("customs", InTransit, Some(CustomsProcessing)),
        ("customs", Exception, Some(CustomsHold)),
        ("clearance", InTransit, Some(CustomsProcessing)),
        ("clearance", Exception, Some(CustomsHold)),
        // Back at the depot after a failed round (the DPD `ReturningFromDelivery` trap).
        ("returned from route", DeliveryFailed, Some(BackAtDepot)),
        // A failed attempt without a reason.
        ("delivery attempted", DeliveryFailed, None),
        ("konnte nicht zugestellt", DeliveryFailed, None),
        ("nicht zugestellt werden", DeliveryFailed, None),
        ("zustellung nicht möglich", DeliveryFailed, None),
        ("could not be delivered", DeliveryFailed, None),
        ("not delivered", DeliveryFailed, None),
        ("unsuccessful", DeliveryFailed, None),
        // Other problems on the way.
        ("beschädig", Exception, Some(Damaged)),
        ("damage", Exception, Some(Damaged)),
        ("nachforschung", Exception, Some(Investigation)),
        ("investigation", Exception, Some(Investigation)),
        ("unwetter", Exception, Some(Weather)),
        ("witterung", Exception, Some(Weather)),
        ("weather", Exception, Some(Weather)),
        ("höhere gewalt", Exception, Some(ForceMajeure)),
        ("force majeure", Exception, Some(ForceMajeure)),
        ("streik", Exception, Some(ForceMajeure)),
        ("strike", Exception, Some(ForceMajeure)),
        // "Die Sendung wurde zurückgestellt. Die Zustellung erfolgt vrs. am nächsten Werktag."
        ("zurückgestellt", Exception, Some(Delayed)),
        ("verzöger", Exception, Some(Delayed)),
        ("verspät", Exception, Some(Delayed)),
        ("delay", Exception, Some(Delayed)),
        ("on hold", Exception, Some(Held)),
        // Out for delivery.
        ("zustellfahrzeug", OutForDelivery, Some(OnVehicle)),
        ("in zustellung", OutForDelivery, Some(OnVehicle)),
        ("delivery vehicle", OutForDelivery, Some(OnVehicle)),
        ("out for delivery", OutForDelivery, Some(OnVehicle)),
        ("with courier for delivery", OutForDelivery, Some(OnVehicle)),
        // parcel-nl `PARCEL_HANDED_OVER_TO_COURIER` (beside its `OUT_FOR_DELIVERY`).
        ("handed over to courier", OutForDelivery, Some(OnVehicle)),
        // DHL Express checkpoint WC.
        ("with delivery courier", OutForDelivery, Some(OnVehicle)),
        // Loaded for a Packstation (`LDTMV_PCKST_PO`): on its way there, not in it yet.
        ("auf dem weg zur packstation", OutForDelivery, Some(OnVehicle)),
        // DHL's short status for SRTED/PO "loaded onto the delivery vehicle".
        ("in delivery", OutForDelivery, Some(OnVehicle)),
        // Waiting at a pickup point (the place, found further down, adds the sub-code).
        ("zur abholung bereit", AvailableForPickup, None),
        ("bereit zur abholung", AvailableForPickup, None),
        ("abholbereit", AvailableForPickup, None),
        ("ready for pick-up", AvailableForPickup, None),
        ("ready for pickup", AvailableForPickup, None),
        ("ready for collection", AvailableForPickup, None),
        ("available for pickup", AvailableForPickup, None),
        // How it was delivered (admitted under `delivered` only).
        ("nachbar", Delivered, Some(Neighbour)),
        ("neighbo", Delivered, Some(Neighbour)),
        ("ablageort", Delivered, Some(SafePlace)),
        ("wunschort", Delivered, Some(SafePlace)),
        ("briefkasten", Delivered, Some(SafePlace)),
        ("safe place", Delivered, Some(SafePlace)),
        ("preferred location", Delivered, Some(SafePlace)),
        ("mailbox", Delivered, Some(SafePlace)),
        ("letterbox", Delivered, Some(SafePlace)),
        ("front door", Delivered, Some(SafePlace)),
        ("porch", Delivered, Some(SafePlace)),
        ("andere anwesende person", Delivered, Some(Agent)),
        ("bevollmächtigt", Delivered, Some(Agent)),
        ("different person", Delivered, Some(Agent)),
        ("other person", Delivered, Some(Agent)),
        ("abgeholt", Delivered, Some(CollectedAtPickupPoint)),
        ("picked up", Delivered, Some(CollectedAtPickupPoint)),
        ("collected", Delivered, Some(CollectedAtPickupPoint)),
        ("packstation", Delivered, Some(CollectedAtPickupPoint)),
        ("filiale", Delivered, Some(CollectedAtPickupPoint)),
        ("paketshop", Delivered, Some(CollectedAtPickupPoint)),
        ("retail outlet", Delivered, Some(CollectedAtPickupPoint)),
        ("parcel shop", Delivered, Some(CollectedAtPickupPoint)),
        ("persönlich", Delivered, Some(Recipient)),
        ("an den empfänger", Delivered, Some(Recipient)),
        ("in person", Delivered, Some(Recipient)),
        ("to the recipient", Delivered, Some(Recipient)),
        ("signed", Delivered, Some(Signed)),
        // Before the first scan.
        ("elektronisch", InfoReceived, Some(LabelCreated)),
        ("angekündigt", InfoReceived, Some(LabelCreated)),
        ("electronically", InfoReceived, Some(LabelCreated)),
        ("announced", InfoReceived, Some(LabelCreated)),
        ("abholauftrag", InfoReceived, Some(PickupScheduled)),
        ("pickup request", InfoReceived, Some(PickupScheduled)),
        ("storniert", Cancelled, Some(ByShipper)),
        ("cancelled", Cancelled, Some(ByShipper)),
        ("canceled", Cancelled, Some(ByShipper)),
        // Through the network.
        ("eingeliefert", InTransit, Some(DroppedOff)),
        ("einlieferung", InTransit, Some(DroppedOff)),
        ("posted by the sender", InTransit, Some(DroppedOff)),
        ("posted by sender", InTransit, Some(DroppedOff)),
        ("posting at", InTransit, Some(DroppedOff)),
        ("dropped off", InTransit, Some(DroppedOff)),
        ("abgeholt", InTransit, Some(PickedUp)),
        ("picked up", InTransit, Some(PickedUp)),
        ("shipment pick-up", InTransit, Some(PickedUp)),
        ("pick-up was successful", InTransit, Some(PickedUp)),
        // parcel-nl: a courier takes it back from a ParcelShop.
        ("by courier", InTransit, Some(PickedUp)),
        // A US postal office of last-mile delivery (ecommerce), before "post office".
        ("arrival at post office", InTransit, Some(AtDestinationDepot)),
        ("ziel-paketzentrum", InTransit, Some(AtDestinationDepot)),
        ("zustellbasis", InTransit, Some(AtDestinationDepot)),
        ("destination parcel cent", InTransit, Some(AtDestinationDepot)),
        ("delivery facility", InTransit, Some(AtDestinationDepot)),
        ("delivery depot", InTransit, Some(AtDestinationDepot)),
        ("local depot", InTransit, Some(AtDestinationDepot)),
        ("region des empfängers angekommen", InTransit, Some(AtDestinationDepot)),
        ("arrived in the region of recipient", InTransit, Some(AtDestinationDepot)),
        ("arrival destination", InTransit, Some(AtDestinationDepot)),
        // Planned into a delivery round (parcel-nl `DELIVERY_PLANNED_IN_ROUTE`).
        ("delivery planned", InTransit, Some(DeliveryScheduled)),
        ("new delivery attempt", InTransit, Some(DeliveryScheduled)),
        ("zielland", InTransit, Some(International)),
        ("ausland", InTransit, Some(International)),
        ("destination country", InTransit, Some(International)),
        ("partner", InTransit, Some(Transferred)),
        ("tendered to", InTransit, Some(Transferred)),
        ("paketzentrum", InTransit, Some(Processing)),
        ("parcel cent", InTransit, Some(Processing)),
        ("bearbeitet", InTransit, Some(Processing)),
        ("processed", InTransit, Some(Processing)),
        ("weitertransport", InTransit, Some(Processing)),
        ("onward transport", InTransit, Some(Processing)),
        ("sort facility", InTransit, Some(Processing)),
        ("sorted at hub", InTransit, Some(Processing)),
        ("depart facility", InTransit, Some(Processing)),
        ("distribution center", InTransit, Some(Processing)),
        ("ecommerce facility", InTransit, Some(Processing)),
        ("departed", InTransit, Some(Processing)),
        ("arrived", InTransit, Some(Processing)),
        ("in transit", InTransit, Some(Processing)),
        // Pickup points named without "ready for pickup".
        ("packstation", AvailableForPickup, Some(Locker)),
        ("parcelstation", AvailableForPickup, Some(Locker)),
        ("locker", AvailableForPickup, Some(Locker)),
        ("filiale", AvailableForPickup, Some(PostOffice)),
        ("retail outlet", AvailableForPickup, Some(PostOffice)),
        ("post office", AvailableForPickup, Some(PostOffice)),
        ("paketshop", AvailableForPickup, Some(ParcelShop)),
        ("parcel shop", AvailableForPickup, Some(ParcelShop)),
        ("parcelshop", AvailableForPickup, Some(ParcelShop)),
        ("service point", AvailableForPickup, Some(ParcelShop)),
    ]
};

/// Classifies a lower-cased text with [`TEXT_RULES`], among the `admitted` statuses.
pub(super) fn classify_text(text: &str, admitted: &[Status]) -> Option<(Status, Option<SubCode>)> {
    classify(&RuleMatches::of(text), admitted)
}

fn classify(matches: &RuleMatches, admitted: &[Status]) -> Option<(Status, Option<SubCode>)> {
    let (_, status, sub) = matches
        .rules()
        .find(|(_, status, _)| admitted.contains(status))?;
    Some((*status, sub.or_else(|| sub_from(matches, *status))))
}

/// The first sub-code of a matching [`TEXT_RULES`] row that `status` allows.
pub(super) fn sub_from_text(text: &str, status: Status) -> Option<SubCode> {
    sub_from(&RuleMatches::of(text), status)
}

fn sub_from(matches: &RuleMatches, status: Status) -> Option<SubCode> {
    matches
        .rules()
        .find_map(|(_, _, sub)| sub.filter(|sub| status.allows(*sub)))
}

/// The [`TEXT_RULES`] rows whose needle a text contains, as a bit set of row numbers.
#[derive(Debug, PartialEq, Eq)]
struct RuleMatches([u64; TEXT_RULES.len().div_ceil(64)]);

impl RuleMatches {
    /// Finds every needle in one pass over the text (an Aho-Corasick automaton over all
    /// needles, built once), rather than searching the text once per row: the same rows,
    /// at about a tenth of the cost.
    fn of(text: &str) -> Self {
        static MATCHER: OnceLock<Option<AhoCorasick>> = OnceLock::new();
        let Some(matcher) = MATCHER.get_or_init(|| {
            AhoCorasick::builder()
                .kind(Some(AhoCorasickKind::DFA))
                .build(TEXT_RULES.iter().map(|(needle, ..)| needle))
                .ok()
        }) else {
            return Self::one_by_one(text);
        };
        let mut matches = Self([0; TEXT_RULES.len().div_ceil(64)]);
        for found in matcher.find_overlapping_iter(text) {
            matches.set(found.pattern().as_usize());
        }
        matches
    }

    /// Searches the text for each needle in turn (the reference, and the fallback).
    fn one_by_one(text: &str) -> Self {
        let mut matches = Self([0; TEXT_RULES.len().div_ceil(64)]);
        for (row, (needle, ..)) in TEXT_RULES.iter().enumerate() {
            if text.contains(needle) {
                matches.set(row);
            }
        }
        matches
    }

    fn set(&mut self, row: usize) {
        self.0[row / 64] |= 1 << (row % 64);
    }

    /// The matching rows, in table order: the set bits, lowest first (a text matches a
    /// few rows; testing all of them cost more than finding the matches).
    fn rules(&self) -> impl Iterator<Item = &'static (&'static str, Status, Option<SubCode>)> {
        self.0
            .iter()
            .enumerate()
            .flat_map(|(word, &bits)| {
                let mut bits = bits;
                std::iter::from_fn(move || {
                    let bit = bits.trailing_zeros() as usize;
                    bits &= bits.wrapping_sub(1);
                    (bit < 64).then_some(word * 64 + bit)
                })
            })
            .filter_map(|row| TEXT_RULES.get(row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_gives_only_an_admitted_status() {
        let delivered = "die sendung wurde erfolgreich an den empfänger zugestellt.";
        assert_eq!(classify_text(delivered, NON_TERMINAL), None);
        assert_eq!(
            classify_text(delivered, &[Status::Delivered]),
            Some((Status::Delivered, Some(SubCode::Recipient)))
        );
    }

    #[test]
    fn the_sub_code_may_come_from_a_later_row() {
        let text = "die annahme wurde verweigert. die sendung wird an den absender zurückgesandt.";
        assert_eq!(
            classify_text(text, NON_TERMINAL),
            Some((Status::ReturningToSender, Some(SubCode::Refused)))
        );
        assert_eq!(
            sub_from_text(text, Status::DeliveryFailed),
            Some(SubCode::Refused)
        );
        assert_eq!(sub_from_text("statusmeldung 17", Status::InTransit), None);
    }

    #[test]
    fn every_rule_needle_is_lower_case() {
        for (needle, status, sub) in TEXT_RULES {
            assert_eq!(*needle, needle.to_lowercase());
            if let Some(sub) = sub {
                assert!(status.allows(*sub), "{needle}: {status}.{sub}");
            }
        }
    }

    /// One pass with the automaton finds the rows that searching row by row finds, also
    /// for duplicate, overlapping and nested needles (`"nicht abgeholt"` twice, `"zoll"`
    /// in `"zollfreigabe"`, `"abgeholt"` in `"nicht abgeholt"`).
    #[test]
    fn one_pass_finds_what_row_by_row_finds() {
        let mut texts: Vec<String> = TEXT_RULES
            .iter()
            .map(|(needle, ..)| needle.to_string())
            .collect();
        texts.push(TEXT_RULES.iter().map(|(needle, ..)| *needle).collect());
        texts.push(
            TEXT_RULES
                .iter()
                .map(|(needle, ..)| *needle)
                .collect::<Vec<_>>()
                .join(" | "),
        );
        texts.extend(
            [
                "",
                "die sendung wurde vom empfänger nicht abgeholt. rücksendung an den absender.",
                "zollfreigabe | the shipment is being held by customs.",
                "out for delivery | the shipment has been loaded onto the delivery vehicle",
                "delivered | the shipment has been successfully delivered",
                "ΟΔΟΣ 東京 straße",
            ]
            .map(str::to_owned),
        );
        for text in &texts {
            let matches = RuleMatches::of(text);
            assert_eq!(matches, RuleMatches::one_by_one(text), "{text}");
            // The rows come out in table order, as the table would list them.
            let in_order: Vec<_> = TEXT_RULES
                .iter()
                .enumerate()
                .filter(|(row, _)| matches.0[row / 64] & (1 << (row % 64)) != 0)
                .map(|(_, rule)| rule)
                .collect();
            assert_eq!(matches.rules().collect::<Vec<_>>(), in_order, "{text}");
        }
        let needles: Vec<&str> = TEXT_RULES.iter().map(|(needle, ..)| *needle).collect();
        let every_needle = needles.join(" | ");
        assert_eq!(
            RuleMatches::of(&every_needle).rules().count(),
            TEXT_RULES.len()
        );
    }
}
