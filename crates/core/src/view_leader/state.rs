//! What the view leader decides, as commands on one state: the view, the failed ids,
//! rebalancing progress and the lock table. A lone view leader applies each command at once;
//! replicas apply them in the order their log commits them, so every replica's state is the
//! same and a new leader takes over exactly what the last one decided.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::id::{Addr, Epoch, Member, ServerId, View};
use crate::limits::Limits;
use crate::locks::{Handover, LockGetOutcome, LockReleaseError, LockTable, Refusal, Released, Request};
use crate::msg::LockAnswer;
use crate::outbox::Outbox;

/// A change to the view leader's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "do")]
pub enum ViewCommand {
    /// A new server joins the view (a new epoch), unless its id failed or its address is taken.
    Join {
        /// Its id.
        id: ServerId,
        /// Where it listens.
        addr: Addr,
    },
    /// A member finished rebalancing for `epoch`.
    Rebalanced {
        /// The member.
        id: ServerId,
        /// The epoch it finished.
        epoch: Epoch,
    },
    /// A member is failed, forever (a new epoch); the locks it held or waited for go.
    Fail {
        /// The member.
        id: ServerId,
    },
    /// A restarted lone view leader forms one view of every server it heard while gathering,
    /// above every epoch they knew.
    Recover {
        /// The servers heard.
        heard: Vec<Member>,
        /// The newest epoch any of them knew.
        newest: Epoch,
    },
    /// `requester` asks for lock `name`.
    LockGet {
        /// The lock.
        name: String,
        /// Who asks.
        requester: String,
        /// Which request of which process.
        #[serde(default, skip_serializing_if = "Request::is_unset")]
        request: Request,
    },
    /// `requester` gives lock `name` up (or leaves its queue).
    LockRelease {
        /// The lock.
        name: String,
        /// Who gives it up.
        requester: String,
        /// Which request of which process: one sent before the request that holds or queues
        /// `requester` now is stale.
        #[serde(default, skip_serializing_if = "Request::is_unset")]
        request: Request,
    },
}

impl ViewCommand {
    /// The command's name, as the log and the page show it.
    pub fn name(&self) -> &'static str {
        match self {
            ViewCommand::Join { .. } => "join",
            ViewCommand::Rebalanced { .. } => "rebalanced",
            ViewCommand::Fail { .. } => "fail",
            ViewCommand::Recover { .. } => "recover",
            ViewCommand::LockGet { .. } => "lock_get",
            ViewCommand::LockRelease { .. } => "lock_release",
        }
    }
}

/// A member as the view leader's state records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// Where it listens.
    pub addr: Addr,
    /// Whether it finished rebalancing for the current epoch.
    pub rebalanced: bool,
}

/// What applying a command answered, for the one who asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A membership change (or nothing changed).
    Done,
    /// A lock command's answer.
    Lock(LockAnswer),
    /// A lock command refused by the limits.
    Refused(String),
}

/// The view leader's replicated state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewState {
    /// The live members, by id.
    pub servers: BTreeMap<ServerId, Registration>,
    /// Every id failed, never taken back.
    pub failed: BTreeSet<ServerId>,
    /// The current view.
    pub view: View,
    /// The newest view whose rebalancing every member finished.
    pub stable: View,
    /// The locks.
    pub locks: LockTable,
}

impl ViewState {
    /// Whether rebalancing for the current epoch is still under way.
    pub fn rebalancing(&self) -> bool {
        self.stable.epoch != self.view.epoch
    }

    /// Applies `cmd`; what it did goes to `events`. The same command on the same state does the
    /// same on every replica: nothing here reads a clock or a random number.
    pub(crate) fn apply(&mut self, cmd: ViewCommand, limits: &Limits, events: &mut Outbox) -> Outcome {
        match cmd {
            ViewCommand::Join { id, addr } => {
                let busy = self.servers.values().any(|r| r.addr == addr);
                if !busy && !self.failed.contains(&id) && !self.servers.contains_key(&id) {
                    self.servers.insert(id.clone(), Registration { addr: addr.clone(), rebalanced: false });
                    self.rebuild_view();
                    events.event(Event::ServerJoined { id, addr, epoch: self.view.epoch });
                    self.check_stable(events);
                }
                Outcome::Done
            }
            ViewCommand::Rebalanced { id, epoch } => {
                if let Some(record) = self.servers.get_mut(&id).filter(|_| epoch == self.view.epoch) {
                    record.rebalanced = true;
                    self.check_stable(events);
                }
                Outcome::Done
            }
            ViewCommand::Fail { id } => {
                self.fail(id, events);
                Outcome::Done
            }
            ViewCommand::Recover { heard, newest } => {
                let mut joined = Vec::new();
                for Member { id, addr } in heard {
                    let taken = self.servers.values().any(|r| r.addr == addr);
                    if !taken && !self.failed.contains(&id) && !self.servers.contains_key(&id) {
                        self.servers.insert(id.clone(), Registration { addr: addr.clone(), rebalanced: false });
                        joined.push((id, addr));
                    }
                }
                self.view.epoch = self.view.epoch.max(newest);
                self.rebuild_view();
                let epoch = self.view.epoch;
                events.event(Event::Recovered { epoch, servers: self.view.members.len() });
                for (id, addr) in joined {
                    events.event(Event::ServerJoined { id, addr, epoch });
                }
                self.check_stable(events);
                Outcome::Done
            }
            ViewCommand::LockGet { name, requester, request } => match self.lock_refusal(&name, &requester, limits) {
                None => Outcome::Lock(self.lock_get(name, requester, request, events)),
                Some(reason) => Outcome::Refused(reason),
            },
            // A late resend or a duplicate must not let go of what a later request took: as
            // if it had come before that request, which found the requester holding nothing.
            ViewCommand::LockRelease { name, requester, request }
                if self.locks.stale_release(&name, &requester, request) =>
            {
                Outcome::Lock(LockAnswer::NotHolderOrWaiter)
            }
            ViewCommand::LockRelease { name, requester, .. } => {
                Outcome::Lock(self.lock_release(name, requester, events))
            }
        }
    }

    fn rebuild_view(&mut self) {
        self.view.epoch = Epoch(self.view.epoch.0 + 1);
        self.view.members =
            self.servers.iter().map(|(id, r)| Member { id: id.clone(), addr: r.addr.clone() }).collect();
        for record in self.servers.values_mut() {
            record.rebalanced = false;
        }
    }

    /// Rebalancing of the current epoch is done once every member said so; an empty view is
    /// done at once.
    fn check_stable(&mut self, events: &mut Outbox) {
        if self.stable.epoch != self.view.epoch && self.servers.values().all(|r| r.rebalanced) {
            self.stable = self.view.clone();
            events.event(Event::RebalancingDone { epoch: self.view.epoch });
        }
    }

    fn fail(&mut self, id: ServerId, events: &mut Outbox) {
        if self.servers.remove(&id).is_none() {
            return;
        }
        self.failed.insert(id.clone());
        self.rebuild_view();
        events.event(Event::ServerFailed { id: id.clone(), epoch: self.view.epoch });
        self.check_stable(events);
        for handover in self.locks.remove_requester(id.as_str()) {
            handed_over(handover, events);
        }
    }

    /// Why `lock_get` of `name` by `requester` would keep more than the limits allow.
    fn lock_refusal(&self, name: &str, requester: &str, limits: &Limits) -> Option<String> {
        if let Err(too_large) = limits.lock(name, requester) {
            return Some(too_large.describe());
        }
        match self.locks.holder(name) {
            None if self.locks.len() >= limits.locks => {
                Some(format!("the view leader keeps at most {} locks, and holds that many", limits.locks))
            }
            Some(holder) if holder != requester && !self.locks.queue(name).any(|w| w == requester) => {
                (self.locks.waiting() >= limits.waiters).then(|| {
                    format!("the view leader keeps at most {} waiters, and has that many queued", limits.waiters)
                })
            }
            _ => None,
        }
    }

    fn lock_get(&mut self, name: String, requester: String, request: Request, events: &mut Outbox) -> LockAnswer {
        let outcome = self.locks.get(&name, &requester);
        if !matches!(outcome, LockGetOutcome::Deadlock { .. }) {
            self.locks.note_request(&name, &requester, request);
        }
        match outcome {
            LockGetOutcome::Granted => {
                events.event(Event::LockGranted { name, requester });
                LockAnswer::Granted
            }
            LockGetOutcome::Queued { position } => {
                events.event(Event::LockQueued { name, requester, position });
                LockAnswer::Retry { position }
            }
            LockGetOutcome::Deadlock { cycle } => {
                events.event(Event::LockDeadlock { name, requester, cycle: cycle.clone() });
                LockAnswer::Deadlock { cycle }
            }
        }
    }

    fn lock_release(&mut self, name: String, requester: String, events: &mut Outbox) -> LockAnswer {
        match self.locks.release(&name, &requester) {
            Ok(Released::Released { next_holder, refused }) => {
                events.event(Event::LockReleased { name: name.clone(), requester });
                handed_over(Handover { name, next_holder: next_holder.clone(), refused }, events);
                LockAnswer::Released { next_holder }
            }
            Ok(Released::LeftQueue) => {
                events.event(Event::LockReleased { name, requester });
                LockAnswer::LeftQueue
            }
            Err(LockReleaseError::UnknownLock) => LockAnswer::UnknownLock,
            Err(LockReleaseError::NotHolderOrWaiter) => LockAnswer::NotHolderOrWaiter,
        }
    }
}

/// Says who a lock went to, and which waiters it refused because they would deadlock (each
/// hears it when it next asks).
fn handed_over(handover: Handover, events: &mut Outbox) {
    let Handover { name, next_holder, refused } = handover;
    if let Some(requester) = next_holder {
        events.event(Event::LockGranted { name: name.clone(), requester });
    }
    for Refusal { requester, cycle } in refused {
        events.event(Event::LockDeadlock { name: name.clone(), requester, cycle });
    }
}
