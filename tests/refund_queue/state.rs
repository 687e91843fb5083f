//! The state of the refund-queue model: one account, one captured payment, the refunds asked of
//! it, the processes working its queue, and the provider on the other side of the network.
//!
//! Everything is small and ordered (`Vec`s kept sorted, `u8` indices) so that two states that
//! mean the same are equal and hash the same: the checker's state count stays honest.

use bnpl::domain::RefundStatus;

/// Processes running `bnpl serve` against the same database.
pub const PROCESSES: usize = 2;

/// One refund command, as the orchestrator knows it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Refund {
    /// The command has not been consumed yet.
    NotArrived,
    /// Refused by the balance check (`command.rejected`).
    Rejected,
    /// Stored: a row of `refunds`.
    Accepted(Row),
}

/// A `refunds` row and the jobs that belong to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Row {
    pub status: RefundStatus,
    /// `refunds.position`: taken from the queue's counter under the payment's lock.
    pub position: u8,
    /// `refunds.provider_request_id` is set (the provider registered the send).
    pub request_id_known: bool,
    /// The live `refund_send` job (its dedupe key allows one per refund).
    pub send_job: Option<Job>,
    /// A `refund_check` job is scheduled.
    pub check_job: bool,
}

/// A `jobs` row of `refund_send`.
///
/// `token` stands for the lease token of the claim holding it. Tokens are only ever compared for
/// equality, so the state renumbers them after every step (the job's own is 0, stale ones held
/// by tasks follow): a loop of claims and resends then returns to a state already seen instead
/// of counting up for ever.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Job {
    pub token: u8,
    /// `attempts`, saturated at 2: only "first attempt or not" matters to the sender.
    pub claims: u8,
    /// `state = 'running'` under a lease (else `scheduled`, free to claim).
    pub held: bool,
}

/// A `bnpl serve` process: the send attempts in its memory, lost when it crashes. A crashed
/// process restarts at once with nothing in memory; a process that is down for a while is one
/// that takes no step meanwhile, which the checker explores anyway. Processes are
/// interchangeable, so the state keeps them sorted (a symmetry reduction).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Process {
    /// Sorted; at most one per refund and token.
    pub tasks: Vec<Task>,
}

/// An attempt of `refund_send` running in a process's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Task {
    pub refund: u8,
    /// The lease token it claimed the job with; its completion is fenced by it.
    pub token: u8,
    /// `job.attempts > 1`: an earlier attempt may have reached the provider.
    pub later_attempt: bool,
    pub phase: Phase,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Claimed; the refund is not read yet.
    Claimed,
    /// Read (and, on a later attempt, asked about): about to call the provider.
    Prepared,
    /// The provider call returned (or timed out); about to record the answer.
    Answered(Answer),
}

/// What the refund call returned to the sender (`providers::outcome::CreateOutcome`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Answer {
    /// `RefundAck::Registered` with a request id: wait for the callback.
    Registered,
    /// `RefundAck::Completed`: the provider made it at once.
    Completed,
    /// `Terminal`: refused; no money moved.
    Declined,
    /// `Uncertain` / `Exists`: a timeout, or the provider already has that id.
    Uncertain,
}

/// How the network treats one refund call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Delivery {
    Registered,
    Completed,
    Declined,
    /// The provider got it, the answer was lost.
    AnswerLost,
    /// The request never reached the provider.
    RequestLost,
}

impl Delivery {
    pub const ALL: [Delivery; 5] = [
        Delivery::Registered,
        Delivery::Completed,
        Delivery::Declined,
        Delivery::AnswerLost,
        Delivery::RequestLost,
    ];
}

/// The provider's record of one refund request id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProviderOp {
    pub refund: u8,
    /// The request id the sender used (`merchant_refund_id` / `maintenance_reference`): the
    /// refund's own id, or (a broken rule) one made per attempt.
    pub request_id: (u8, u8),
    pub outcome: ProviderOutcome,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProviderOutcome {
    Pending,
    Succeeded,
    Declined,
}

/// Faults already spent; each is bounded so the state space is finite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Spent {
    pub crashes: u8,
    /// Leases lost by a live process (a pause longer than the lease).
    pub pauses: u8,
    /// Requests, answers or callbacks lost on the network.
    pub losses: u8,
    pub duplicates: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    pub refunds: Vec<Refund>,
    /// The queue's position counter (`refund_queue_positions`).
    pub next_position: u8,
    pub processes: [Process; PROCESSES],
    /// Sorted; one per request id the provider has seen.
    pub provider: Vec<ProviderOp>,
    /// Refund indices in the order the provider first saw a request for them.
    pub first_receipts: Vec<u8>,
    /// Callbacks on their way (a sorted multiset of refund index and outcome).
    pub callbacks: Vec<(u8, ProviderOutcome)>,
    pub spent: Spent,
}

impl State {
    pub fn row(&self, refund: usize) -> Option<&Row> {
        match &self.refunds[refund] {
            Refund::Accepted(row) => Some(row),
            _ => None,
        }
    }

    pub fn row_mut(&mut self, refund: usize) -> Option<&mut Row> {
        match &mut self.refunds[refund] {
            Refund::Accepted(row) => Some(row),
            _ => None,
        }
    }

    /// Renumbers the lease tokens of every refund (its job's first, then the stale ones held by
    /// tasks, in order) and sorts tasks and processes: equal meanings, equal states.
    pub fn canonicalize(&mut self) {
        for refund in 0..self.refunds.len() {
            let current = self.row(refund).and_then(|row| row.send_job).map(|job| job.token);
            let mut stale: Vec<u8> = self
                .processes
                .iter()
                .flat_map(|process| process.tasks.iter())
                .filter(|task| task.refund as usize == refund && Some(task.token) != current)
                .map(|task| task.token)
                .collect();
            stale.sort_unstable();
            stale.dedup();
            let renumber = |token: u8| -> u8 {
                if Some(token) == current {
                    0
                } else {
                    stale
                        .iter()
                        .position(|&old| old == token)
                        .map_or(token, |k| k as u8 + 1)
                }
            };
            for process in &mut self.processes {
                for task in process.tasks.iter_mut().filter(|task| task.refund as usize == refund) {
                    task.token = renumber(task.token);
                }
            }
            if let Some(Some(job)) = self.row_mut(refund).map(|row| row.send_job.as_mut()) {
                job.token = 0;
            }
        }
        for process in &mut self.processes {
            process.tasks.sort();
        }
        self.processes.sort();
    }

    /// A lease token no job or task of `refund` holds.
    pub fn fresh_token(&self, refund: usize) -> u8 {
        let job = self.row(refund).and_then(|row| row.send_job).map(|job| job.token);
        self.processes
            .iter()
            .flat_map(|process| process.tasks.iter())
            .filter(|task| task.refund as usize == refund)
            .map(|task| task.token)
            .chain(job)
            .max()
            .map_or(0, |max| max + 1)
    }

    /// The rows with their index.
    pub fn rows(&self) -> impl Iterator<Item = (usize, &Row)> {
        self.refunds
            .iter()
            .enumerate()
            .filter_map(|(index, refund)| match refund {
                Refund::Accepted(row) => Some((index, row)),
                _ => None,
            })
    }
}
