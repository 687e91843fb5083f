//! `GET /`: the operations overview: broker queue depths, recent activity, payments by status
//! per provider, provider accounts (paused, circuit open), refund queues and their heads, payments to review, payments past their
//! threshold, dead letters and exhausted jobs, each payment linking to its detail page.

use super::actions::{Action, Done};
use super::detail::job_actions;
use super::html::{self, maybe_time, money, payment_link, table, text, time};
use super::session::Viewer;
use crate::admin::read::payments::{self as admin_payments, PaymentSummary};
use crate::admin::read::{dead_letters as admin_dead_letters, refunds as admin_refunds};
use crate::admin::AdminState;
use crate::admin::{ops, personal};
use axum::extract::{Query, State};
use axum::response::Response;
use sqlx::Row as _;
use std::collections::BTreeMap;

/// The overview page.
pub async fn overview(viewer: Viewer, State(state): State<AdminState>, Query(done): Query<Done>) -> Response {
    match render(&state, &viewer).await {
        Ok(body) => html::page("Overview", Some(&viewer.0.name), &format!("{}{body}", done.notice())),
        Err(error) => {
            tracing::error!(%error, "dashboard overview failed");
            html::unavailable(Some(&viewer.0.name))
        }
    }
}

/// The counters whose non-zero value is an alarm.
const ALARMS: [&str; 5] = [
    "needs-review-count",
    "past-threshold-count",
    "dead-letter-count",
    "exhausted-count",
    "settlement-mismatch-count",
];

/// Dead letters' details are masked unless the viewer sees personal data; action buttons show
/// only for the viewer's scopes.
async fn render(state: &AdminState, viewer: &Viewer) -> Result<String, sqlx::Error> {
    let show_personal = personal::sees_personal_data(&viewer.0.scopes);
    let pool = &state.pool;
    let review = admin_payments::in_review(pool).await?;
    let past_threshold = admin_payments::past_threshold(pool, 100).await?;
    let counts = admin_payments::counts_by_status(pool).await?;
    let queues = admin_refunds::queues(pool).await?;
    let mut dead = admin_dead_letters::list(pool, false, 50).await?;
    if !show_personal {
        dead.iter_mut().for_each(personal::mask_dead_letter);
    }
    let dead_total = admin_dead_letters::open_count(pool).await?;
    let exhausted = admin_dead_letters::exhausted_jobs(pool, 50).await?;
    let imports = crate::store::settlements::latest(pool, 20).await?;
    // What finance still has to explain: the mismatches of each account's latest import.
    let mut seen = std::collections::BTreeSet::new();
    let open_mismatches: i64 = imports
        .iter()
        .filter(|import| seen.insert((import.provider.clone(), import.account.clone())))
        .map(|import| i64::from(import.mismatch_count))
        .sum();
    let recent = admin_payments::list(
        pool,
        &admin_payments::PaymentFilter {
            limit: 20,
            ..Default::default()
        },
    )
    .await?;
    let activity = sqlx::query(
        "SELECT
           (SELECT count(*) FROM commands WHERE received_at > now() - interval '5 minutes') AS commands,
           (SELECT count(*) FROM outbox WHERE published_at > now() - interval '5 minutes') AS events,
           (SELECT count(*) FROM inbound_callbacks WHERE received_at > now() - interval '5 minutes') AS callbacks",
    )
    .fetch_one(pool)
    .await?;

    let mut body = String::new();
    body.push_str("<section class=\"cards\">");
    for (id, label, value) in [
        ("needs-review-count", "Payments to review", review.len() as i64),
        (
            "past-threshold-count",
            "Open past threshold",
            past_threshold.len() as i64,
        ),
        ("dead-letter-count", "Dead letters", dead_total),
        ("exhausted-count", "Exhausted jobs", exhausted.len() as i64),
        (
            "settlement-mismatch-count",
            "Settlement mismatches (latest import)",
            open_mismatches,
        ),
        (
            "commands-5m",
            "Commands (5 min)",
            activity.try_get::<i64, _>("commands")?,
        ),
        (
            "events-5m",
            "Events published (5 min)",
            activity.try_get::<i64, _>("events")?,
        ),
        (
            "callbacks-5m",
            "Callbacks (5 min)",
            activity.try_get::<i64, _>("callbacks")?,
        ),
    ] {
        // The first four are alarms: anything above zero needs a person, so it must not look
        // like a quiet zero.
        let alarm = ALARMS.contains(&id) && value > 0;
        body.push_str(&format!(
            "<div class=\"card{}\" data-alarm=\"{alarm}\"><span class=\"label\">{}</span><span class=\"value\" id=\"{id}\">{value}</span></div>",
            if alarm { " alarm" } else { "" },
            text(label)
        ));
    }
    body.push_str("</section>");

    body.push_str("<section><h2>Broker queues</h2>");
    match ops::queue_depths(&state.broker).await {
        Some(depths) => {
            let rows: Vec<Vec<String>> = depths
                .iter()
                .map(|d| vec![text(&d.queue), d.messages.to_string(), d.consumers.to_string()])
                .collect();
            body.push_str(&table(
                "broker-queues",
                &["Queue", "Messages", "Consumers"],
                &rows,
                "No queues.",
            ));
        }
        None => body.push_str("<p class=\"error\">The broker is not reachable right now.</p>"),
    }
    body.push_str("</section>");

    body.push_str(&status_matrix(&counts));

    // Paused accounts and open circuits: while an account is not active nothing goes to its
    // provider, so it leads the page after the counts.
    let accounts = crate::admin::accounts::list(pool, &state.services.accounts).await?;
    let rows: Vec<Vec<String>> = accounts
        .iter()
        .map(|a| {
            vec![
                text(a.provider.as_str()),
                text(&a.account),
                text(&a.state),
                a.reason.as_deref().map(text).unwrap_or_default(),
                a.since.map(time).unwrap_or_else(|| "–".to_owned()),
                account_actions(viewer, a.provider.as_str(), &a.account, &a.state),
            ]
        })
        .collect();
    body.push_str("<section><h2>Provider accounts</h2>");
    body.push_str(&table(
        "provider-accounts",
        &["Provider", "Account", "State", "Reason", "Since", ""],
        &rows,
        "No provider accounts.",
    ));
    body.push_str("</section>");

    let rows: Vec<Vec<String>> = queues
        .iter()
        .map(|q| {
            vec![
                text(&q.queue_key),
                q.depth.to_string(),
                q.head_refund_id
                    .as_deref()
                    .map(|id| {
                        format!(
                            "<a href=\"/search?q={}\">{}</a>",
                            html::attr(&html::url_segment(id)),
                            text(id)
                        )
                    })
                    .unwrap_or_else(|| "–".to_owned()),
                q.head_status.as_deref().map(text).unwrap_or_else(|| "–".to_owned()),
                q.head_age_seconds
                    .map(|s| format!("{s:.0} s"))
                    .unwrap_or_else(|| "–".to_owned()),
            ]
        })
        .collect();
    body.push_str("<section><h2>Refund queues</h2>");
    body.push_str(&table(
        "refund-queues",
        &["Queue", "Depth", "Head", "Head status", "Head age"],
        &rows,
        "No refund queues yet.",
    ));
    body.push_str("</section>");

    body.push_str("<section><h2>Payments to review</h2>");
    body.push_str(&payments_table("review-payments", &review, "Nothing to review."));
    body.push_str("</section><section><h2>Open payments past their threshold</h2>");
    body.push_str(&payments_table("past-threshold", &past_threshold, "None."));
    body.push_str("</section>");

    let rows: Vec<Vec<String>> = dead
        .iter()
        .map(|d| {
            vec![
                format!(
                    "<a class=\"dead-letter-link\" href=\"/dead-letters/{id}\">{id}</a>",
                    id = d.id
                ),
                text(&d.routing_key),
                text(&d.reason),
                text(&d.detail),
                time(d.created_at),
                maybe_time(d.replayed_at),
            ]
        })
        .collect();
    body.push_str("<section><h2>Dead letters</h2>");
    body.push_str(&table(
        "dead-letters",
        &["Id", "Routing key", "Reason", "Detail", "Received", "Replayed"],
        &rows,
        "No dead letters.",
    ));
    body.push_str("</section>");

    let rows: Vec<Vec<String>> = exhausted
        .iter()
        .map(|j| {
            vec![
                j.id.to_string(),
                text(&j.kind),
                j.payment_id.as_deref().map(payment_link).unwrap_or_default(),
                j.attempts.to_string(),
                j.last_error.as_deref().map(text).unwrap_or_default(),
                time(j.updated_at),
                job_actions(viewer, j.id, &j.state),
            ]
        })
        .collect();
    body.push_str("<section><h2>Jobs that exhausted their retries</h2>");
    body.push_str(&table(
        "exhausted-jobs",
        &["Id", "Kind", "Payment", "Attempts", "Last error", "At", ""],
        &rows,
        "None.",
    ));
    body.push_str("</section>");

    let rows: Vec<Vec<String>> = imports
        .iter()
        .map(|import| {
            vec![
                import.id.to_string(),
                format!("{} / {}", text(&import.provider), text(&import.account)),
                text(import.file_name.as_deref().unwrap_or("–")),
                match (import.period_from, import.period_to) {
                    (Some(from), Some(to)) => format!("{from} – {to}"),
                    _ => "–".to_owned(),
                },
                import.row_count.to_string(),
                format!(
                    "<span class=\"{}\">{}</span>",
                    if import.mismatch_count > 0 { "error" } else { "" },
                    import.mismatch_count
                ),
                text(&import.imported_by),
                time(import.imported_at),
            ]
        })
        .collect();
    body.push_str("<section><h2>Settlement imports</h2>");
    body.push_str(&table(
        "settlement-imports",
        &[
            "Id",
            "Provider / account",
            "File",
            "Period",
            "Rows",
            "Mismatches",
            "By",
            "At",
        ],
        &rows,
        "No settlement imported yet (POST /admin/v1/settlements or bnpl admin settlement import).",
    ));
    body.push_str("</section><section><h2>Latest payments</h2>");
    body.push_str(&payments_table("recent-payments", &recent, "No payments yet."));
    body.push_str("</section>");
    Ok(body)
}

/// An active account can be paused; a paused one (or one whose circuit is open) resumed.
fn account_actions(viewer: &Viewer, provider: &str, account: &str, state: &str) -> String {
    let target = format!("{provider}/{account}");
    match state {
        "active" => Action::PauseAccount.button(viewer, &target),
        _ => Action::ResumeAccount.button(viewer, &target),
    }
}

fn status_matrix(counts: &[admin_payments::StatusCount]) -> String {
    let statuses = crate::domain::PaymentStatus::ALL;
    let mut by_provider: BTreeMap<&str, BTreeMap<&str, i64>> = BTreeMap::new();
    for count in counts {
        by_provider
            .entry(count.provider.as_str())
            .or_default()
            .insert(count.status.as_str(), count.count);
    }
    let mut headers = vec!["Provider"];
    headers.extend(statuses.iter().map(|s| s.as_str()));
    let rows: Vec<Vec<String>> = by_provider
        .iter()
        .map(|(provider, by_status)| {
            let mut cells = vec![text(provider)];
            cells.extend(statuses.iter().map(|status| {
                let n = by_status.get(status.as_str()).copied().unwrap_or(0);
                format!(
                    "<span data-provider=\"{}\" data-status=\"{}\">{n}</span>",
                    html::attr(provider),
                    status.as_str()
                )
            }));
            cells
        })
        .collect();
    format!(
        "<section><h2>Payments by status</h2>{}</section>",
        table("status-counts", &headers, &rows, "No payments yet.")
    )
}

fn payments_table(id: &str, payments: &[PaymentSummary], empty: &str) -> String {
    let rows: Vec<Vec<String>> = payments
        .iter()
        .map(|p| {
            vec![
                payment_link(&p.payment_id),
                text(&p.provider),
                text(&p.account),
                text(&p.status),
                p.review_reason.as_deref().map(text).unwrap_or_default(),
                money(p.amount_minor, &p.currency),
                time(p.created_at),
                time(p.threshold_at),
            ]
        })
        .collect();
    table(
        id,
        &[
            "Payment",
            "Provider",
            "Account",
            "Status",
            "Review reason",
            "Amount",
            "Created",
            "Threshold",
        ],
        &rows,
        empty,
    )
}
