//! The retention rule for seeds (`[retention]`): once every file covering
//! a shipment was confirmed or expired, its seeds are shredded after the
//! configured days — data key and ciphertexts destroyed, the serials kept.

use oathvault_store::{Event, Store};

use crate::journey::RequestPolicy;

/// Shreds every shipment whose deliveries were done at least
/// `policy.shred_after` ago; returns the numbers shredded and how many
/// seeds each held. Nothing when the rule is `keep`.
pub async fn shred_due(
    store: &Store,
    policy: &RequestPolicy,
    now: i64,
) -> Result<Vec<(String, u64)>, oathvault_store::Error> {
    let Some(after) = policy.shred_after else {
        return Ok(Vec::new());
    };
    let mut done = Vec::new();
    for s in store.shipments_delivered().await? {
        if s.done_at.saturating_add(after) > now {
            continue;
        }
        let event = Event::ok(
            now,
            "retention",
            "portal",
            "shipment.shred",
            &format!("shipment:{}", s.number),
        )
        .with_detail(format!(
            "every file with it was confirmed or expired by {}; shredded {} days later (retention rule)",
            oathvault_otp::clock::rfc3339(s.done_at),
            after / 86_400
        ));
        let why = format!("retention: {} days after delivery", after / 86_400);
        match store.shred_shipment(&s.number, &why, &event).await {
            Ok(n) => done.push((s.number, n.seeds)),
            // Shredded meanwhile by hand or by another portal process.
            Err(oathvault_store::Error::Refused(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
