//! The `bnpl admin` command line's arguments (clap).

use clap::Subcommand;

/// `bnpl admin [--json] …`: options every admin subcommand takes, then the subcommand.
#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    /// Print lists and records as JSON instead of tables, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// `bnpl admin …`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Admin API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Payments: list, show (with history), resolve, force a status check, replay events.
    #[command(subcommand)]
    Payments(PaymentCommand),
    /// Refunds: list, release a stuck head by recording its outcome, cancel a queued one.
    #[command(subcommand)]
    Refunds(RefundCommand),
    /// Refund queues with head, depth and age of the head.
    Queues,
    /// Provider accounts (those of BNPL_CONFIG) and their states: list (no subcommand), pause or
    /// resume one. Running `bnpl serve` processes follow at once.
    Accounts {
        #[command(subcommand)]
        action: Option<AccountCommand>,
    },
    /// Dead letters: list, replay (optionally fixed), purge.
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(DeadLetterCommand),
    /// Jobs that exhausted their retries: list them (no subcommand), retry or discard one.
    Jobs {
        #[command(subcommand)]
        action: Option<JobCommand>,
    },
    /// Payments and refunds waiting for an operator.
    Reviews,
    /// The reconciliation report of a period, as CSV on stdout.
    Report {
        /// Start, inclusive: YYYY-MM-DD or RFC 3339.
        #[arg(long)]
        from: String,
        /// End, exclusive: YYYY-MM-DD or RFC 3339.
        #[arg(long)]
        to: String,
        /// Only humm or valu.
        #[arg(long)]
        provider: Option<String>,
    },
    /// Purge personal data past the configured retention now (the job does it daily).
    Retention,
    /// Settlement reports: import one (compare it with the ledger), list an import's mismatches.
    #[command(subcommand)]
    Settlement(SettlementCommand),
}

#[derive(Debug, Subcommand)]
pub enum SettlementCommand {
    /// Import a provider's settlement or operations report (CSV) with the provider's mapping
    /// (`[settlements.humm|valu]` in BNPL_CONFIG; assumed defaults otherwise). The same file
    /// again answers the earlier import.
    Import {
        /// The CSV file.
        file: std::path::PathBuf,
        /// humm or valu.
        #[arg(long)]
        provider: String,
        /// The provider account the report is of.
        #[arg(long, default_value = "default")]
        account: String,
        /// The first day the report covers (YYYY-MM-DD, UTC); with --to. Default: its first row's.
        #[arg(long, requires = "to")]
        from: Option<chrono::NaiveDate>,
        /// The last day it covers, inclusive; with --from. Default: its last row's.
        #[arg(long, requires = "from")]
        to: Option<chrono::NaiveDate>,
    },
    /// Where an import disagrees with the ledger (`--csv` for CSV).
    Mismatches {
        /// The import id.
        id: i64,
        #[arg(long)]
        csv: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once (only its hash is kept).
    Create {
        #[arg(long)]
        name: String,
        /// Comma-separated: read, operate, finance.
        #[arg(long, value_delimiter = ',', required = true)]
        scope: Vec<String>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token; its dashboard sessions end too.
    Revoke {
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PaymentCommand {
    /// Search payments, newest first.
    List {
        /// accepted, pending, action_required, succeeded, declined, failed, expired or
        /// needs_review.
        #[arg(long)]
        status: Option<String>,
        /// humm or valu.
        #[arg(long)]
        provider: Option<String>,
        /// A provider account name.
        #[arg(long)]
        account: Option<String>,
        /// Created at or after (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Created before (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        to: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// One payment with its full history, as JSON.
    Show { payment_id: String },
    /// Resolve a payment manually to a final status (audited; announced as payment.resolved).
    Resolve {
        payment_id: String,
        /// succeeded, declined, failed or expired.
        #[arg(long)]
        to: String,
        #[arg(long)]
        reason: String,
        /// The status you decided from; when the payment has another one now, nothing changes.
        #[arg(long)]
        from: Option<String>,
    },
    /// Schedule a status check now.
    StatusCheck { payment_id: String },
    /// Publish the payment's events again (same event ids).
    ReplayEvents { payment_id: String },
}

#[derive(Debug, Subcommand)]
pub enum RefundCommand {
    /// Refunds, newest first.
    List {
        /// queued, in_flight, succeeded, declined, failed, cancelled or needs_review.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Ask the provider about a refund in flight or in review now; prints the stored answer's id
    /// and what it supports (accounts of BNPL_CONFIG; with `serve --sandbox`, use the API).
    StatusCheck { refund_id: String },
    /// Record the outcome of a stuck refund (in flight or in review), on the evidence of a stored
    /// provider answer that supports it.
    Release {
        refund_id: String,
        /// succeeded or declined.
        #[arg(long)]
        outcome: String,
        /// The id of the stored answer (from `status-check`) that supports the outcome.
        #[arg(long)]
        answer: i64,
        #[arg(long)]
        reason: String,
    },
    /// Cancel a refund that is still queued.
    Cancel {
        refund_id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeadLetterCommand {
    /// Dead letters with their reasons.
    List {
        /// Include purged ones.
        #[arg(long)]
        all: bool,
    },
    /// Publish a dead letter again to the command exchange, optionally fixed.
    Replay {
        id: i64,
        /// Replay under this routing key instead.
        #[arg(long)]
        routing_key: Option<String>,
        /// Replay the JSON in this file instead of the original body.
        #[arg(long)]
        body_file: Option<std::path::PathBuf>,
    },
    /// Purge a dead letter (it leaves the lists).
    Purge { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Retry an exhausted job now, with a fresh attempt budget (audited).
    Retry {
        id: i64,
        #[arg(long)]
        reason: String,
    },
    /// Discard an exhausted job for good (audited).
    Discard {
        id: i64,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Pause an account: no call goes to its provider until it is resumed (audited, announced).
    Pause {
        /// humm or valu.
        provider: String,
        account: String,
        #[arg(long)]
        reason: String,
    },
    /// Resume an account (also closes an open circuit).
    Resume {
        provider: String,
        account: String,
        #[arg(long)]
        reason: String,
    },
}
