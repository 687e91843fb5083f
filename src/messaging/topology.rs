//! The contract's broker topology (contract §1), declared idempotently at every (re)connection.
//!
//! Every name starts with the configured prefix. Declaring is idempotent as long as the arguments
//! never change between versions: RabbitMQ refuses a re-declaration with other arguments
//! (PRECONDITION_FAILED), so any change here needs a new queue name and a migration note.
//!
//! Added to the contract's names: `PREFIX.unrouted` (a fanout exchange and a quorum queue of the
//! same name). A command whose routing key no queue binds goes from `commands` to the DLX (its
//! alternate exchange, as the contract says), which routes it on to `unrouted` (the DLX's own
//! alternate exchange); intake consumes that queue and dead-letters the command *with* its reason
//! and a `command.rejected`, like any other command that cannot be processed. The one key the
//! DLX routes to `dead` that no command binds, `DEAD_LETTER_KEY`, is bound from `commands` to
//! `unrouted` too, so no routing key reaches `dead` without passing intake.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

/// Routing keys bound to the purchase intake queue (contract §1).
pub const PURCHASE_COMMANDS: [&str; 3] = ["purchase.create", "purchase.confirm", "purchase.resend_otp"];
/// Routing keys bound to the refund intake queue (contract §1).
pub const REFUND_COMMANDS: [&str; 2] = ["refund.create", "refund.cancel"];
/// The routing key of the dead letters the orchestrator publishes itself; the command's own
/// routing key travels in the `x-bnpl-routing-key` header.
pub const DEAD_LETTER_KEY: &str = "dead";

/// The exchange and queue names under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    prefix: String,
    /// The intake queues' `x-delivery-limit`.
    delivery_limit: u32,
}

impl Topology {
    pub fn new(prefix: impl Into<String>, delivery_limit: u32) -> Self {
        Self {
            prefix: prefix.into(),
            delivery_limit,
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Where order systems and finance publish commands.
    pub fn commands(&self) -> String {
        format!("{}.commands", self.prefix)
    }
    pub fn purchases(&self) -> String {
        format!("{}.purchases", self.prefix)
    }
    pub fn refunds(&self) -> String {
        format!("{}.refunds", self.prefix)
    }
    /// Every result the orchestrator announces.
    pub fn events(&self) -> String {
        format!("{}.events", self.prefix)
    }
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.dlx", self.prefix)
    }
    pub fn dead(&self) -> String {
        format!("{}.dead", self.prefix)
    }
    /// Commands with a routing key nobody binds, on their way to intake (see the module doc).
    pub fn unrouted(&self) -> String {
        format!("{}.unrouted", self.prefix)
    }

    /// Every queue this topology declares (for operators' checks and test clean-up).
    pub fn queues(&self) -> [String; 4] {
        [self.purchases(), self.refunds(), self.dead(), self.unrouted()]
    }

    /// Every exchange this topology declares.
    pub fn exchanges(&self) -> [String; 4] {
        [
            self.commands(),
            self.events(),
            self.dead_letter_exchange(),
            self.unrouted(),
        ]
    }

    /// Declares everything; safe to run any number of times.
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel
            .exchange_declare(&self.unrouted(), ExchangeKind::Fanout, durable, FieldTable::default())
            .await?;
        // The DLX routes by key: the intake queues' own dead letters keep their command key
        // (delivery limit), the orchestrator's carry `DEAD_LETTER_KEY`; both reach `dead`. Any
        // other key is an unrouted command, which the DLX's alternate exchange hands to intake.
        let mut dlx_args = FieldTable::default();
        dlx_args.insert("alternate-exchange".into(), long_string(&self.unrouted()));
        channel
            .exchange_declare(&self.dead_letter_exchange(), ExchangeKind::Direct, durable, dlx_args)
            .await?;
        // A command with a routing key nobody binds goes to the alternate exchange instead of
        // vanishing (contract §1; https://www.rabbitmq.com/docs/ae).
        let mut commands_args = FieldTable::default();
        commands_args.insert("alternate-exchange".into(), long_string(&self.dead_letter_exchange()));
        channel
            .exchange_declare(&self.commands(), ExchangeKind::Direct, durable, commands_args)
            .await?;
        channel
            .exchange_declare(&self.events(), ExchangeKind::Topic, durable, FieldTable::default())
            .await?;

        self.declare_queue(channel, &self.dead(), None).await?;
        let dead_keys = PURCHASE_COMMANDS
            .iter()
            .chain(REFUND_COMMANDS.iter())
            .chain([DEAD_LETTER_KEY].iter());
        for key in dead_keys {
            self.bind(channel, &self.dead(), &self.dead_letter_exchange(), key)
                .await?;
        }
        self.declare_queue(channel, &self.unrouted(), Some(self.delivery_limit))
            .await?;
        self.bind(channel, &self.unrouted(), &self.unrouted(), "").await?;
        // The commands exchange hands every key it does not bind to the DLX, which routes
        // `DEAD_LETTER_KEY` straight to `dead`: a command published as `dead` would skip intake,
        // its reason and its `command.rejected`. Bound here, it reaches intake like any
        // unknown type. (The command keys the DLX also routes are bound to intake above.)
        self.bind(channel, &self.unrouted(), &self.commands(), DEAD_LETTER_KEY)
            .await?;
        for (queue, keys) in [
            (self.purchases(), &PURCHASE_COMMANDS[..]),
            (self.refunds(), &REFUND_COMMANDS[..]),
        ] {
            self.declare_queue(channel, &queue, Some(self.delivery_limit)).await?;
            for key in keys {
                self.bind(channel, &queue, &self.commands(), key).await?;
            }
        }
        Ok(())
    }

    async fn bind(&self, channel: &Channel, queue: &str, exchange: &str, key: &str) -> lapin::Result<()> {
        channel
            .queue_bind(queue, exchange, key, QueueBindOptions::default(), FieldTable::default())
            .await
    }

    /// A durable quorum queue (replicated; counts redeliveries). Intake queues get a delivery
    /// limit and dead-letter to the DLX, so a message that crashes its consumer cannot spin
    /// (https://www.rabbitmq.com/docs/quorum-queues#poison-message-handling).
    async fn declare_queue(&self, channel: &Channel, name: &str, delivery_limit: Option<u32>) -> lapin::Result<()> {
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), long_string("quorum"));
        if let Some(limit) = delivery_limit {
            args.insert("x-delivery-limit".into(), AMQPValue::LongLongInt(i64::from(limit)));
            args.insert(
                "x-dead-letter-exchange".into(),
                long_string(&self.dead_letter_exchange()),
            );
        }
        let options = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel.queue_declare(name, options, args).await?;
        Ok(())
    }
}

fn long_string(text: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(text))
}
