//! The refund-queue protocol as a stateright model: every step a process, the provider, the
//! network, finance or an operator can take, each a copy of what the code does in one
//! transaction or one call.
//!
//! Per-refund decisions are not copied: they call the product's own pure functions
//! (`domain::refund_state::transition`, `domain::balance::check_refund`,
//! `flows::refund_settle::{decide, supports}`). The rules that live in SQL are mirrored here, each
//! with the statement it mirrors named beside it. A step that changes nothing yields no next state,
//! so a terminal state is one where nothing can happen any more.

use super::state::{Answer, Delivery, Job, Phase, ProviderOp, ProviderOutcome, Refund, Row, State, Task};
use bnpl::domain::balance::{self, ExistingRefund};
use bnpl::domain::refund_state::{self, RefundEvent, RefundTransition, ReleaseOutcome};
use bnpl::domain::{Currency, Money, RefundStatus};
use bnpl::flows::refund_settle::{self, Verdict};

/// The rules under test; the real code keeps every one. Each can be broken on purpose, to show
/// that the properties notice.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// A queue's head is promoted only when nothing of its queue is in flight or in review.
    pub one_in_flight: bool,
    /// Every attempt sends the refund under its own id (`merchant_refund_id` /
    /// `maintenance_reference` = `refund_id`), so the provider's duplicate check applies.
    pub request_id_is_refund_id: bool,
    /// A refund in review is still checked, and sent again when the provider never got it (the
    /// fix for what this model found; false is the code before it).
    pub works_in_review: bool,
}

impl Rules {
    pub const REAL: Rules = Rules {
        one_in_flight: true,
        request_id_is_refund_id: true,
        works_in_review: true,
    };
}

/// How many faults of each kind one run may meet.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub crashes: u8,
    pub pauses: u8,
    pub losses: u8,
    pub duplicates: u8,
}

/// One account's refund queue over one captured payment.
pub struct RefundQueue {
    pub captured: i64,
    /// The amounts of the refund commands, which arrive in any order.
    pub amounts: Vec<i64>,
    pub rules: Rules,
    pub budget: Budget,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// A `refund.create` command is consumed (`flows::refund_create`).
    Arrive(u8),
    /// A process's dispatcher promotes the queue's head (`ledger::refund::promote`).
    Promote(u8),
    /// A process's runner claims a free `refund_send` job.
    Claim(u8, u8),
    /// A process's task (by index) reads and decides, or records the provider's answer.
    Advance(u8, u8),
    /// A process's task (by index) calls the provider.
    Transmit(u8, u8, Delivery),
    /// The lease of a refund's send job runs out.
    ExpireLease(u8),
    /// A process crashes (losing what it had in memory) and restarts.
    Crash(u8),
    /// The provider settles a pending request (by index), succeeded or not, and calls back.
    ProviderDecides(u8, bool),
    /// A callback (by index) arrives, is duplicated, or is lost.
    Deliver(u8),
    Duplicate(u8),
    Lose(u8),
    /// Some process runs a refund's `refund_check` job, past the refund threshold or not.
    Check(u8, bool),
    /// An operator releases a stuck head with the outcome a provider answer supports.
    Release(u8, ReleaseOutcome),
    /// Finance cancels a refund (`refund.cancel`).
    Cancel(u8),
}

fn money(minor: i64) -> Money {
    let gbp = Currency::new("GBP").unwrap_or_else(|_| unreachable!("GBP is a currency"));
    Money::new(minor, gbp)
}

/// True when the status holds its queue: `refunds_one_in_flight_per_queue`'s predicate
/// (`status IN ('in_flight', 'needs_review')`), the product's own definition.
pub fn blocks_queue(status: RefundStatus) -> bool {
    status.holds_queue()
}

/// Applies a refund event the way `ledger::refund::apply` does: the pure transition decides, and
/// only a `Move` changes the row. True when it moved.
fn apply(row: &mut Row, event: RefundEvent) -> bool {
    match refund_state::transition(row.status, &event) {
        RefundTransition::Move(to) => {
            row.status = to;
            true
        }
        RefundTransition::Stay
        | RefundTransition::Ignore
        | RefundTransition::FlagReview { .. }
        | RefundTransition::Refuse(_) => false,
    }
}

/// What a refund's send records once its call returned (`refund_send::After`).
enum After {
    Event(RefundEvent),
    Wait { registered: bool },
}

impl RefundQueue {
    pub fn init(&self) -> State {
        State {
            refunds: vec![Refund::NotArrived; self.amounts.len()],
            next_position: 0,
            processes: Default::default(),
            provider: Vec::new(),
            first_receipts: Vec::new(),
            callbacks: Vec::new(),
            spent: Default::default(),
        }
    }

    /// Every action worth trying in `state` (`step` decides whether it is enabled).
    pub fn candidates(&self, state: &State, actions: &mut Vec<Action>) {
        let refunds = self.amounts.len() as u8;
        for i in 0..refunds {
            actions.extend([
                Action::Arrive(i),
                Action::ExpireLease(i),
                Action::Check(i, false),
                Action::Check(i, true),
            ]);
            for outcome in [ReleaseOutcome::Succeeded, ReleaseOutcome::Declined] {
                actions.push(Action::Release(i, outcome));
            }
        }
        // Finance may cancel the last refund asked for. Only that one: a cancel that could empty
        // every queue would let a stuck queue look finished, hiding what the terminal-state
        // property is there to find.
        actions.push(Action::Cancel(refunds - 1));
        for (p, process) in state.processes.iter().enumerate() {
            let p = p as u8;
            actions.extend([Action::Promote(p), Action::Crash(p)]);
            for i in 0..refunds {
                actions.push(Action::Claim(p, i));
            }
            for (k, task) in process.tasks.iter().enumerate() {
                match task.phase {
                    Phase::Prepared => {
                        actions.extend(Delivery::ALL.map(|delivery| Action::Transmit(p, k as u8, delivery)))
                    }
                    Phase::Claimed | Phase::Answered(_) => actions.push(Action::Advance(p, k as u8)),
                }
            }
        }
        for (k, op) in state.provider.iter().enumerate() {
            if op.outcome == ProviderOutcome::Pending {
                actions.extend([
                    Action::ProviderDecides(k as u8, true),
                    Action::ProviderDecides(k as u8, false),
                ]);
            }
        }
        for k in 0..state.callbacks.len() as u8 {
            actions.extend([Action::Deliver(k), Action::Duplicate(k), Action::Lose(k)]);
        }
    }

    /// Takes `action` in `state`; false when it is not enabled here.
    pub fn step(&self, s: &mut State, action: Action) -> bool {
        match action {
            Action::Arrive(i) => self.arrive(s, i as usize),
            Action::Promote(p) => self.promote(s, p as usize),
            Action::Claim(p, i) => claim(s, p as usize, i as usize),
            Action::Advance(p, k) => self.advance(s, p as usize, k as usize),
            Action::Transmit(p, k, delivery) => self.transmit(s, p as usize, k as usize, delivery),
            Action::ExpireLease(i) => self.expire_lease(s, i as usize),
            Action::Crash(p) => {
                if s.spent.crashes >= self.budget.crashes || s.processes[p as usize].tasks.is_empty() {
                    return false;
                }
                s.spent.crashes += 1;
                s.processes[p as usize].tasks.clear();
                true
            }
            Action::ProviderDecides(k, succeeded) => {
                let op = &mut s.provider[k as usize];
                if op.outcome != ProviderOutcome::Pending {
                    return false;
                }
                op.outcome = if succeeded {
                    ProviderOutcome::Succeeded
                } else {
                    ProviderOutcome::Declined
                };
                let callback = (op.refund, op.outcome);
                push_sorted(&mut s.callbacks, callback);
                true
            }
            Action::Deliver(k) => {
                // flows::callbacks::refunds: a verified callback names our refund id and is applied
                // through the ledger writer like any other answer.
                let (refund, outcome) = s.callbacks.remove(k as usize);
                let event = match outcome {
                    ProviderOutcome::Succeeded => RefundEvent::Succeeded,
                    _ => RefundEvent::Declined,
                };
                if let Some(row) = s.row_mut(refund as usize) {
                    apply(row, event);
                }
                true
            }
            Action::Duplicate(k) => {
                if s.spent.duplicates >= self.budget.duplicates {
                    return false;
                }
                s.spent.duplicates += 1;
                let copy = s.callbacks[k as usize];
                push_sorted(&mut s.callbacks, copy);
                true
            }
            Action::Lose(k) => {
                if s.spent.losses >= self.budget.losses {
                    return false;
                }
                s.spent.losses += 1;
                s.callbacks.remove(k as usize);
                true
            }
            Action::Check(i, overdue) => self.check(s, i as usize, overdue),
            Action::Release(i, outcome) => self.release(s, i as usize, outcome),
            Action::Cancel(i) => s.row_mut(i as usize).is_some_and(|row| apply(row, RefundEvent::Cancel)),
        }
    }

    /// `flows::refund_create`: the balance check over the stored refunds under the payment's lock,
    /// then the enqueue at the queue's next position (`refunds::take_position`).
    fn arrive(&self, s: &mut State, i: usize) -> bool {
        if s.refunds[i] != Refund::NotArrived {
            return false;
        }
        let existing: Vec<ExistingRefund> = s
            .rows()
            .map(|(j, row)| ExistingRefund {
                status: row.status,
                amount: money(self.amounts[j]),
                flagged: false,
            })
            .collect();
        s.refunds[i] = match balance::check_refund(money(self.captured), &existing, money(self.amounts[i])) {
            Ok(()) => {
                s.next_position += 1;
                Refund::Accepted(Row {
                    status: RefundStatus::Queued,
                    position: s.next_position - 1,
                    request_id_known: false,
                    send_job: None,
                    check_job: false,
                })
            }
            Err(_) => Refund::Rejected,
        };
        true
    }

    /// `store::refunds::free_head` + `ledger::refund_sql::promote`: the lowest queued position
    /// (`ORDER BY position LIMIT 1`) moves to in flight only when `NOT EXISTS (… status IN
    /// ('in_flight', 'needs_review'))` (and the unique index `refunds_one_in_flight_per_queue`
    /// would refuse a second anyway); the same statement inserts its send job already claimed by
    /// the promoting process, which sends at once.
    fn promote(&self, s: &mut State, p: usize) -> bool {
        if self.rules.one_in_flight && s.rows().any(|(_, row)| blocks_queue(row.status)) {
            return false;
        }
        let head = s
            .rows()
            .filter(|(_, row)| row.status == RefundStatus::Queued)
            .min_by_key(|(_, row)| row.position)
            .map(|(i, _)| i);
        let Some(i) = head else { return false };
        let token = s.fresh_token(i);
        let Some(row) = s.row_mut(i) else { return false };
        if !apply(row, RefundEvent::Submit) {
            return false;
        }
        row.send_job = Some(Job {
            token,
            claims: 1,
            held: true,
        });
        s.processes[p].tasks.push(Task {
            refund: i as u8,
            token,
            later_attempt: false,
            phase: Phase::Claimed,
        });
        true
    }

    /// `refund_send::attempt_with` up to the call, or `finish` after it.
    fn advance(&self, s: &mut State, p: usize, k: usize) -> bool {
        let Some(task) = s.processes[p].tasks.get(k).copied() else {
            return false;
        };
        let i = task.refund as usize;
        match task.phase {
            Phase::Claimed => {
                let Some(row) = s.row(i) else { return false };
                if !self.works_on(row.status) {
                    return finish(s, p, k, None, self.rules.works_in_review);
                }
                // Any attempt after the first asks the provider before sending again.
                if task.later_attempt {
                    match self.ask(s, i) {
                        Verdict::Settle(event, _) => {
                            return finish(s, p, k, Some(After::Event(event)), self.rules.works_in_review)
                        }
                        Verdict::NotApplied => {}
                        // The provider holds it unfinished: wait for it, as after an uncertain send.
                        Verdict::InProgress => {
                            return finish(
                                s,
                                p,
                                k,
                                Some(After::Wait { registered: false }),
                                self.rules.works_in_review,
                            )
                        }
                        Verdict::Unknown(_) => unreachable!("the model's provider always answers"),
                    }
                }
                s.processes[p].tasks[k].phase = Phase::Prepared;
                true
            }
            Phase::Answered(answer) => {
                let after = match answer {
                    Answer::Registered => After::Wait { registered: true },
                    Answer::Uncertain => After::Wait { registered: false },
                    Answer::Completed => After::Event(RefundEvent::Succeeded),
                    Answer::Declined => After::Event(RefundEvent::Declined),
                };
                finish(s, p, k, Some(after), self.rules.works_in_review)
            }
            Phase::Prepared => false,
        }
    }

    /// The refund call (`refund_send::send`) and what the network does with it. The provider keeps
    /// one record per request id: a second request with an id it has seen is refused as a
    /// duplicate, which the sender reads as uncertain.
    fn transmit(&self, s: &mut State, p: usize, k: usize, delivery: Delivery) -> bool {
        let Some(task) = s.processes[p].tasks.get(k).copied() else {
            return false;
        };
        if task.phase != Phase::Prepared {
            return false;
        }
        let refund = task.refund;
        // The broken rule numbers its ids by the provider's count of this refund's requests.
        let request_id = if self.rules.request_id_is_refund_id {
            (refund, 0)
        } else {
            (refund, s.provider.iter().filter(|op| op.refund == refund).count() as u8)
        };
        let seen = s.provider.iter().any(|op| op.request_id == request_id);
        let lossy = matches!(delivery, Delivery::AnswerLost | Delivery::RequestLost);
        if (seen && delivery != Delivery::Registered) || (lossy && s.spent.losses >= self.budget.losses) {
            return false;
        }
        let (outcome, answer) = match delivery {
            _ if seen => (None, Answer::Uncertain),
            Delivery::Registered => (Some(ProviderOutcome::Pending), Answer::Registered),
            Delivery::Completed => (Some(ProviderOutcome::Succeeded), Answer::Completed),
            Delivery::Declined => (Some(ProviderOutcome::Declined), Answer::Declined),
            Delivery::AnswerLost => (Some(ProviderOutcome::Pending), Answer::Uncertain),
            Delivery::RequestLost => (None, Answer::Uncertain),
        };
        if lossy && !seen {
            s.spent.losses += 1;
        }
        if let Some(outcome) = outcome {
            push_sorted(
                &mut s.provider,
                ProviderOp {
                    refund,
                    request_id,
                    outcome,
                },
            );
            if outcome != ProviderOutcome::Pending {
                push_sorted(&mut s.callbacks, (refund, outcome));
            }
            if !s.first_receipts.contains(&refund) {
                s.first_receipts.push(refund);
            }
        }
        s.processes[p].tasks[k].phase = Phase::Answered(answer);
        true
    }

    /// A send job's lease runs out: at once when its holder is gone, and within the pause budget
    /// while the holder still runs (its task then carries on with a stale token).
    fn expire_lease(&self, s: &mut State, i: usize) -> bool {
        let Some(job) = s.row(i).and_then(|row| row.send_job) else {
            return false;
        };
        if !job.held {
            return false;
        }
        let holder_alive = s.processes.iter().any(|process| {
            process
                .tasks
                .iter()
                .any(|t| t.refund as usize == i && t.token == job.token)
        });
        if holder_alive {
            if s.spent.pauses >= self.budget.pauses {
                return false;
            }
            s.spent.pauses += 1;
        }
        if let Some(Some(job)) = s.row_mut(i).map(|row| row.send_job.as_mut()) {
            job.held = false;
        }
        true
    }

    /// `refund_check`'s attempt: settle by the provider's figures; past the threshold, review
    /// (and keep checking); hand a never-registered refund the provider does not have back to
    /// the sender, in review too.
    fn check(&self, s: &mut State, i: usize, overdue: bool) -> bool {
        let Some(row) = s.row(i) else { return false };
        if !row.check_job {
            return false;
        }
        if !self.works_on(row.status) {
            // The job completes without doing anything; checking "past the threshold" or not is
            // the same step.
            return !overdue && s.row_mut(i).is_some_and(|row| std::mem::take(&mut row.check_job));
        }
        let in_review = row.status == RefundStatus::NeedsReview;
        let verdict = self.ask(s, i);
        let request_id_known = row.request_id_known;
        let Some(row) = s.row_mut(i) else { return false };
        match verdict {
            // A review is scheduled to be checked again; anything else settles the refund.
            Verdict::Settle(event, _) => {
                row.check_job = event == RefundEvent::NoDefiniteAnswer && self.rules.works_in_review;
                apply(row, event);
                true
            }
            Verdict::NotApplied | Verdict::InProgress | Verdict::Unknown(_) if overdue && !in_review => {
                row.check_job = self.rules.works_in_review;
                apply(row, RefundEvent::NoDefiniteAnswer);
                true
            }
            // `resend`: the check completes and schedules a fresh send job (`schedule::refund_send`,
            // deduplicated by `refund_send:<refund_id>` while one is live).
            Verdict::NotApplied if !request_id_known => {
                row.check_job = false;
                if row.send_job.is_none() {
                    row.send_job = Some(Job {
                        token: 0,
                        claims: 0,
                        held: false,
                    });
                }
                true
            }
            // Asked again later: nothing changes now.
            Verdict::NotApplied | Verdict::InProgress | Verdict::Unknown(_) => false,
        }
    }

    /// The statuses the sender and the status check act on (`RefundStatus::holds_queue`).
    fn works_on(&self, status: RefundStatus) -> bool {
        status == RefundStatus::InFlight || (self.rules.works_in_review && status == RefundStatus::NeedsReview)
    }

    /// An operator's release (`admin::refund_evidence`): the outcome must be what a provider
    /// answer about the refund supports (`refund_settle::supports`).
    fn release(&self, s: &mut State, i: usize, outcome: ReleaseOutcome) -> bool {
        let Some(row) = s.row(i) else { return false };
        if !blocks_queue(row.status) {
            return false;
        }
        let wanted = match outcome {
            ReleaseOutcome::Succeeded => "succeeded",
            ReleaseOutcome::Declined => "declined",
        };
        if refund_settle::supports(&self.ask(s, i)) != wanted {
            return false;
        }
        s.row_mut(i)
            .is_some_and(|row| apply(row, RefundEvent::Release { outcome }))
    }

    /// `refund_settle::ask`: a declined operation of this refund at the provider settles it as
    /// declined (the model's amounts differ, so the match by amount is unambiguous); otherwise the
    /// provider's refunded total against ours, by the product's own rule.
    pub fn ask(&self, s: &State, i: usize) -> Verdict {
        if s.provider
            .iter()
            .any(|op| op.refund as usize == i && op.outcome == ProviderOutcome::Declined)
        {
            return Verdict::Settle(RefundEvent::Declined, Box::default());
        }
        // `refund_settle::in_progress_at_provider`: an operation the provider still works on.
        if s.provider
            .iter()
            .any(|op| op.refund as usize == i && op.outcome == ProviderOutcome::Pending)
        {
            return Verdict::InProgress;
        }
        let reported = self.provider_total(s);
        let succeeded: i64 = s
            .rows()
            .filter(|(_, row)| row.status == RefundStatus::Succeeded)
            .map(|(j, _)| self.amounts[j])
            .sum();
        refund_settle::decide(reported, succeeded, self.amounts[i], "model")
    }

    /// What the provider has paid out on the payment.
    pub fn provider_total(&self, s: &State) -> i64 {
        s.provider
            .iter()
            .filter(|op| op.outcome == ProviderOutcome::Succeeded)
            .map(|op| self.amounts[op.refund as usize])
            .sum()
    }
}

/// A runner claims a free send job: a fresh lease token, one more attempt.
fn claim(s: &mut State, p: usize, i: usize) -> bool {
    let token = s.fresh_token(i);
    let Some(Some(job)) = s.row_mut(i).map(|row| row.send_job.as_mut()) else {
        return false;
    };
    if job.held {
        return false;
    }
    job.held = true;
    job.token = token;
    job.claims = (job.claims + 1).min(2);
    let later_attempt = job.claims > 1;
    s.processes[p].tasks.push(Task {
        refund: i as u8,
        token,
        later_attempt,
        phase: Phase::Claimed,
    });
    true
}

/// `refund_send::finish`: the job's completion is fenced by the lease token, and the answer is
/// recorded in the same transaction; a task whose lease was taken records nothing.
fn finish(s: &mut State, p: usize, k: usize, after: Option<After>, works_in_review: bool) -> bool {
    let task = s.processes[p].tasks.remove(k);
    let Some(row) = s.row_mut(task.refund as usize) else {
        return true;
    };
    let fenced_in = row.send_job.is_some_and(|job| job.held && job.token == task.token);
    if !fenced_in {
        return true;
    }
    row.send_job = None;
    match after {
        None => {}
        Some(After::Event(event)) => {
            apply(row, event);
            // `finish` schedules a check of a refund it sent to review.
            if event == RefundEvent::NoDefiniteAnswer && works_in_review {
                row.check_job = true;
            }
        }
        Some(After::Wait { registered }) => {
            // `RetryLater` keeps the refund in flight and records the request id; the check is
            // scheduled whatever became of it.
            if refund_state::transition(row.status, &RefundEvent::RetryLater) == RefundTransition::Stay {
                row.request_id_known |= registered;
            }
            row.check_job = true;
        }
    }
    true
}

fn push_sorted<T: Ord>(items: &mut Vec<T>, item: T) {
    let at = items.partition_point(|existing| *existing <= item);
    items.insert(at, item);
}

impl stateright::Model for RefundQueue {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![self.init()]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        self.candidates(state, actions);
    }

    fn next_state(&self, state: &State, action: Action) -> Option<State> {
        let mut next = state.clone();
        if !self.step(&mut next, action) {
            return None;
        }
        next.canonicalize();
        (next != *state).then_some(next)
    }

    fn properties(&self) -> Vec<stateright::Property<Self>> {
        super::properties::all()
    }
}

impl RefundQueue {
    /// True when no action changes `state`: the run has ended there.
    pub fn is_terminal(&self, state: &State) -> bool {
        let mut actions = Vec::new();
        self.candidates(state, &mut actions);
        actions
            .into_iter()
            .all(|action| stateright::Model::next_state(self, state, action).is_none())
    }
}
