//! Command intake from `bnpl.purchases` and `bnpl.refunds` (contract §1–2).
//!
//! Every delivery ends in exactly one committed outcome before it is acked:
//! - undecodable, unknown or schema-failing commands are recorded, dead-lettered (the relay
//!   publishes them to `bnpl.dead` with `x-bnpl-reason` / `x-bnpl-detail`) and announced as
//!   `command.rejected`;
//! - well-formed commands go to the command's processor.
//!
//! A redelivery of a command whose outcome is already committed has no second effect.

pub mod dead_letter;
pub mod envelope;

use crate::messaging::consumer::{DeliveryHandler, Transient};
use crate::messaging::Publisher;
use envelope::{Decoded, Envelope};
use lapin::message::Delivery;
use sqlx::PgPool;
use std::sync::Arc;

/// The intake consumers' handler.
pub struct IntakeHandler {
    pool: PgPool,
    #[expect(
        dead_code,
        reason = "used by direct replies once command processors land"
    )]
    publisher: Arc<Publisher>,
}

impl IntakeHandler {
    pub fn new(pool: PgPool, publisher: Arc<Publisher>) -> Self {
        Self { pool, publisher }
    }
}

#[async_trait::async_trait]
impl DeliveryHandler for IntakeHandler {
    async fn handle(&self, delivery: &Delivery) -> Result<(), Transient> {
        let envelope = Envelope::from_delivery(delivery);
        match envelope.decode() {
            Decoded::Malformed(malformed) => {
                metrics::counter!("bnpl_commands_total", "outcome" => "dead_lettered").increment(1);
                dead_letter::record(&self.pool, &envelope, &malformed)
                    .await
                    .map_err(|e| Transient(e.into()))
            }
            Decoded::Command(command) => {
                metrics::counter!("bnpl_commands_total", "outcome" => "rejected").increment(1);
                dead_letter::refuse_unsupported(&self.pool, &envelope, &command)
                    .await
                    .map_err(|e| Transient(e.into()))
            }
        }
    }
}
