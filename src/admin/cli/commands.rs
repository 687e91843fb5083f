//! What each `bnpl admin` subcommand does and prints (database-only ones; see [`super::broker`]
//! for those that publish).

use super::args::{
    AccountCommand, AdminCommand, JobCommand, PaymentCommand, RefundCommand, SettlementCommand, TokenCommand,
};
use super::table::{json as to_json, opt, render};
use crate::admin::actions as admin_actions;
use crate::admin::api::reports::period;
use crate::admin::auth::Scope;
use crate::admin::filters;
use crate::admin::read::history::RefundEntry;
use crate::admin::read::payments::{self as admin_payments, PaymentFilter, PaymentSummary};
use crate::admin::read::{dead_letters as admin_dead_letters, refunds as admin_refunds};
use crate::config::Config;
use crate::domain::{RefundEvent, ReleaseOutcome};
use crate::store::{reports, retention, tokens};
use anyhow::{bail, Context as _};
use sqlx::PgPool;
use std::io::Write as _;

/// Runs `command`; `json` prints lists and records as JSON instead of tables.
pub(super) async fn execute(config: &Config, pool: &PgPool, command: AdminCommand, json: bool) -> anyhow::Result<()> {
    let actor = super::actor();
    let out = match command {
        AdminCommand::Token(command) => token(pool, command, json).await?,
        AdminCommand::Payments(command) => payments(pool, command, &actor, json).await?,
        AdminCommand::Refunds(command) => refunds(config, pool, command, &actor, json).await?,
        AdminCommand::Queues => {
            let queues = admin_refunds::queues(pool).await?;
            if json {
                return print(to_json(&queues)?);
            }
            let rows: Vec<Vec<String>> = queues
                .into_iter()
                .map(|q| {
                    vec![
                        q.queue_key,
                        q.depth.to_string(),
                        opt(q.head_refund_id),
                        opt(q.head_status),
                        opt(q.head_age_seconds.map(|s| format!("{s:.0}s"))),
                    ]
                })
                .collect();
            render(&["queue", "depth", "head", "head status", "head age"], &rows)
        }
        AdminCommand::DeadLetters(command) => super::broker::dead_letters(config, pool, command, &actor, json).await?,
        AdminCommand::Accounts { action } => accounts(config, pool, action, &actor, json).await?,
        AdminCommand::Jobs { action: Some(action) } => job_decision(pool, action, &actor, json).await?,
        AdminCommand::Jobs { action: None } => {
            let jobs = admin_dead_letters::exhausted_jobs(pool, 500).await?;
            if json {
                return print(to_json(&jobs)?);
            }
            let rows: Vec<Vec<String>> = jobs
                .into_iter()
                .map(|j| {
                    vec![
                        j.id.to_string(),
                        j.kind,
                        opt(j.payment_id),
                        opt(j.refund_id),
                        format!("{}/{}", j.attempts, j.max_attempts),
                        opt(j.last_error),
                        j.updated_at.to_rfc3339(),
                    ]
                })
                .collect();
            render(
                &["id", "kind", "payment", "refund", "attempts", "last error", "at"],
                &rows,
            )
        }
        AdminCommand::Reviews => {
            let payments = admin_payments::in_review(pool).await?;
            let refunds = admin_refunds::in_review(pool).await?;
            if json {
                return print(to_json(&serde_json::json!({"payments": payments, "refunds": refunds}))?);
            }
            let mut out = payment_table(&payments);
            out.push('\n');
            out.push_str(&refund_table(&refunds));
            out
        }
        AdminCommand::Report { from, to, provider } => {
            let period = period(&from, &to, provider).map_err(anyhow::Error::msg)?;
            let lines = reports::reconciliation(pool, &period).await?;
            if json {
                return print(to_json(&lines)?);
            }
            String::from_utf8(reports::to_csv(&lines)?)?
        }
        AdminCommand::Settlement(command) => settlement(config, pool, command, &actor, json).await?,
        AdminCommand::Retention => {
            let purged = retention::purge_expired_personal_data(
                pool,
                config.retention.raw_callbacks,
                config.retention.personal_data,
            )
            .await?;
            format!("{}\n", serde_json::to_string_pretty(&purged)?)
        }
    };
    print(out)
}

/// `bnpl admin accounts [pause|resume PROVIDER ACCOUNT --reason …]`.
async fn accounts(
    config: &Config,
    pool: &PgPool,
    action: Option<AccountCommand>,
    actor: &str,
    json: bool,
) -> anyhow::Result<String> {
    use crate::accounts::{AccountState, Accounts};
    let known = Accounts::from_config(config, &config.public_url)?;
    let (provider, account, reason, to) = match action {
        None => {
            let list = crate::admin::accounts::list(pool, &known).await?;
            if json {
                return to_json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .into_iter()
                .map(|a| {
                    vec![
                        a.provider.as_str().to_owned(),
                        a.account,
                        a.state,
                        opt(a.reason),
                        opt(a.since.map(|at| at.to_rfc3339())),
                    ]
                })
                .collect();
            return Ok(render(&["provider", "account", "state", "reason", "since"], &rows));
        }
        Some(AccountCommand::Pause {
            provider,
            account,
            reason,
        }) => (provider, account, reason, AccountState::Paused),
        Some(AccountCommand::Resume {
            provider,
            account,
            reason,
        }) => (provider, account, reason, AccountState::Active),
    };
    if reason.trim().is_empty() {
        bail!("--reason must not be empty");
    }
    let provider = provider.parse().map_err(anyhow::Error::msg)?;
    let view = crate::admin::accounts::set(pool, &known, provider, &account, to, reason.trim(), actor)
        .await
        .with_context(|| {
            format!(
                "{provider}:{account} (accounts of BNPL_CONFIG)",
                provider = provider.as_str()
            )
        })?;
    if json {
        return to_json(&view);
    }
    Ok(format!(
        "{}:{} is {}\n",
        view.provider.as_str(),
        view.account,
        view.state
    ))
}

/// `bnpl admin jobs retry|discard ID --reason …`.
async fn job_decision(pool: &PgPool, action: JobCommand, actor: &str, json: bool) -> anyhow::Result<String> {
    use crate::admin::jobs::{decide, Decision};
    let (id, reason, decision) = match action {
        JobCommand::Retry { id, reason } => (id, reason, Decision::Retry),
        JobCommand::Discard { id, reason } => (id, reason, Decision::Discard),
    };
    if reason.trim().is_empty() {
        bail!("--reason must not be empty");
    }
    let job = decide(pool, id, decision, reason.trim(), actor).await?;
    let state = match decision {
        Decision::Retry => "scheduled",
        Decision::Discard => "cancelled",
    };
    if json {
        return to_json(&serde_json::json!({"job_id": job.id, "kind": job.kind, "state": state}));
    }
    Ok(format!("job {} ({}) -> {state}\n", job.id, job.kind))
}

fn print(out: String) -> anyhow::Result<()> {
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(())
}

async fn token(pool: &PgPool, command: TokenCommand, json: bool) -> anyhow::Result<String> {
    Ok(match command {
        TokenCommand::Create { name, scope } => {
            let scopes: Vec<String> = scope.iter().map(|s| s.trim().to_owned()).collect();
            if let Some(bad) = scopes.iter().find(|s| !Scope::NAMES.contains(&s.as_str())) {
                bail!("unknown scope {bad:?}: use read, operate, finance");
            }
            let token = tokens::create(pool, &name, &scopes)
                .await
                .context("creating the token (is the name taken?)")?;
            eprintln!(
                "token {name:?} created with scopes {}; it is shown only once:",
                scopes.join(",")
            );
            format!("{token}\n")
        }
        TokenCommand::List => {
            let tokens = tokens::list(pool).await?;
            if json {
                return to_json(&tokens);
            }
            let rows: Vec<Vec<String>> = tokens
                .into_iter()
                .map(|t| {
                    vec![
                        t.name,
                        t.scopes.join(","),
                        t.created_at.to_rfc3339(),
                        opt(t.last_used_at.map(|at| at.to_rfc3339())),
                        opt(t.revoked_at.map(|at| at.to_rfc3339())),
                    ]
                })
                .collect();
            render(&["name", "scopes", "created", "last used", "revoked"], &rows)
        }
        TokenCommand::Revoke { name } => {
            if !tokens::revoke(pool, &name).await? {
                bail!("no live token named {name:?}");
            }
            format!("token {name:?} revoked\n")
        }
    })
}

async fn payments(pool: &PgPool, command: PaymentCommand, actor: &str, json: bool) -> anyhow::Result<String> {
    let instant = |text: Option<String>, what: &str| -> anyhow::Result<_> {
        text.map(|t| {
            crate::admin::api::reports::parse_instant(&t)
                .with_context(|| format!("--{what}: {t:?} is not a date or RFC 3339 time"))
        })
        .transpose()
    };
    Ok(match command {
        PaymentCommand::List {
            status,
            provider,
            account,
            from,
            to,
            limit,
        } => {
            let filter = PaymentFilter {
                status: filters::payment_status(status)?,
                provider: filters::provider(provider)?,
                account: filters::account(account)?,
                created_from: instant(from, "from")?,
                created_to: instant(to, "to")?,
                before: None,
                limit: limit.clamp(1, 10_000),
            };
            let payments = admin_payments::list(pool, &filter).await?;
            if json {
                return to_json(&payments);
            }
            payment_table(&payments)
        }
        PaymentCommand::Show { payment_id } => match admin_payments::detail(pool, &payment_id).await? {
            // A payment with its history is a nested record: JSON either way.
            Some(detail) => to_json(&detail)?,
            None => bail!("no payment {payment_id:?}"),
        },
        PaymentCommand::Resolve {
            payment_id,
            to,
            reason,
            from,
        } => {
            let decision = admin_actions::Decision::parse(&to, from.as_deref()).map_err(anyhow::Error::msg)?;
            if reason.trim().is_empty() {
                bail!("--reason must not be empty");
            }
            let done = admin_actions::resolve(pool, &payment_id, decision, reason.trim(), actor).await?;
            format!(
                "{} resolved {} -> {} (event sequence {})\n",
                done.payment_id, done.from, done.to, done.sequence
            )
        }
        PaymentCommand::StatusCheck { payment_id } => {
            let job = admin_actions::force_status_check(pool, &payment_id, actor).await?;
            match job {
                Some(job) => format!("status check of {payment_id} scheduled now (job {job})\n"),
                None => format!("a status check of {payment_id} is running now\n"),
            }
        }
        PaymentCommand::ReplayEvents { payment_id } => {
            let events = admin_actions::replay_events(pool, &payment_id, actor).await?;
            format!("{events} events of {payment_id} queued for publishing again\n")
        }
    })
}

async fn refunds(
    config: &Config,
    pool: &PgPool,
    command: RefundCommand,
    actor: &str,
    json: bool,
) -> anyhow::Result<String> {
    Ok(match command {
        RefundCommand::List { status, limit } => {
            let refunds = admin_refunds::list(pool, filters::refund_status(status)?, limit.clamp(1, 10_000)).await?;
            if json {
                return to_json(&refunds);
            }
            refund_table(&refunds)
        }
        RefundCommand::StatusCheck { refund_id } => {
            let services = crate::admin::refund_evidence::cli_services(config, pool.clone())?;
            let answer = crate::admin::refund_evidence::status_check(&services, &refund_id, actor).await?;
            if json {
                return to_json(&answer);
            }
            format!(
                "answer {} about {}: supports {}\n{}\n",
                answer.id,
                answer.refund_id,
                answer.supports,
                serde_json::to_string_pretty(&answer.answer)?
            )
        }
        RefundCommand::Release {
            refund_id,
            outcome,
            answer,
            reason,
        } => {
            let outcome = match outcome.as_str() {
                "succeeded" => ReleaseOutcome::Succeeded,
                "declined" => ReleaseOutcome::Declined,
                other => bail!("--outcome {other:?}: use succeeded or declined"),
            };
            if reason.trim().is_empty() {
                bail!("--reason must not be empty");
            }
            let change =
                crate::admin::refund_evidence::release(pool, &refund_id, outcome, Some(answer), reason.trim(), actor)
                    .await?;
            format!("{} {} -> {}\n", change.refund_id, change.from, change.to)
        }
        RefundCommand::Cancel { refund_id, reason } => {
            if reason.trim().is_empty() {
                bail!("--reason must not be empty");
            }
            let change = admin_refunds::apply(pool, &refund_id, RefundEvent::Cancel, reason.trim(), actor).await?;
            format!("{} {} -> {}\n", change.refund_id, change.from, change.to)
        }
    })
}

fn payment_table(payments: &[PaymentSummary]) -> String {
    let rows: Vec<Vec<String>> = payments
        .iter()
        .map(|p| {
            vec![
                p.payment_id.clone(),
                p.provider.clone(),
                p.account.clone(),
                p.status.clone(),
                opt(p.review_reason.clone()),
                format!("{} {}", p.amount_minor, p.currency.trim()),
                p.created_at.to_rfc3339(),
                opt(p.final_at.map(|at| at.to_rfc3339())),
            ]
        })
        .collect();
    render(
        &[
            "payment",
            "provider",
            "account",
            "status",
            "review",
            "amount (minor)",
            "created",
            "final",
        ],
        &rows,
    )
}

fn refund_table(refunds: &[RefundEntry]) -> String {
    let rows: Vec<Vec<String>> = refunds
        .iter()
        .map(|r| {
            vec![
                r.refund_id.clone(),
                r.payment_id.clone(),
                r.status.clone(),
                format!("{} {}", r.amount_minor, r.currency.trim()),
                format!("{}#{}", r.queue_key, r.position),
                r.requested_by.clone(),
                r.created_at.to_rfc3339(),
            ]
        })
        .collect();
    render(
        &[
            "refund",
            "payment",
            "status",
            "amount (minor)",
            "queue",
            "requested by",
            "created",
        ],
        &rows,
    )
}

async fn settlement(
    config: &Config,
    pool: &PgPool,
    command: SettlementCommand,
    actor: &str,
    json: bool,
) -> anyhow::Result<String> {
    use crate::settlement::import::{self, ImportRequest};
    match command {
        SettlementCommand::Import {
            file,
            provider,
            account,
            from,
            to,
        } => {
            let provider: crate::domain::Provider = provider
                .parse()
                .map_err(|_| anyhow::anyhow!("unknown provider {provider:?}: humm or valu"))?;
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let name = file.file_name().and_then(|name| name.to_str()).map(str::to_owned);
            let request = ImportRequest {
                period: from.zip(to),
                provider,
                account: &account,
                file_name: name.as_deref(),
                bytes: &bytes,
                actor,
            };
            let imported = import::import(pool, &config.settlements, &request).await?;
            Ok(format!("{}\n", serde_json::to_string_pretty(&imported)?))
        }
        SettlementCommand::Mismatches { id, csv } => {
            let Some(mismatches) = crate::store::settlements::mismatches(pool, id).await? else {
                bail!("no settlement import {id}");
            };
            if csv {
                return Ok(crate::admin::api::settlements::to_csv(&mismatches)?);
            }
            if json {
                return Ok(format!("{}\n", to_json(&mismatches)?));
            }
            let rows: Vec<Vec<String>> = mismatches
                .iter()
                .map(|m| {
                    vec![
                        m.kind.clone(),
                        m.payment_id.clone(),
                        opt(m.refund_id.as_deref()),
                        m.line.map(|l| l.to_string()).unwrap_or_default(),
                        m.detail.clone(),
                    ]
                })
                .collect();
            Ok(render(&["kind", "payment", "refund", "line", "detail"], &rows))
        }
    }
}
