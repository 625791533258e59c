//! `getr`: a replicated read — ask every replica of the key (both sets of a moving key), take
//! the newest committed value. It counts only once a replica whose answer shows the newest for
//! certain has answered: any replica of a key at rest, a stable replica of a moving one.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::error::OpError;
use crate::id::{Addr, Epoch, Member, OpId, ServerId, Version};
use crate::msg::{Msg, ReadAnswer};
use crate::time::Deadline;

use super::op::{OpOutput, Stage};
use super::view::{Placement, ViewAge};

/// One `getr` operation.
#[derive(Clone, Debug)]
pub(crate) struct Read {
    /// The key.
    pub(crate) key: String,
    /// Its attempt, from 1.
    pub(crate) attempt: u32,
    /// Set when a replica showed that a newer view overtook the latest attempt: how new its
    /// view was, and what the replica said. The read then runs again at once in a newer view.
    pub(crate) overtaken: Option<(ViewAge, String)>,
    /// Where the attempt stands.
    pub(crate) phase: GetPhase,
}

/// Where a `getr` attempt stands.
#[derive(Clone, Debug)]
pub(crate) enum GetPhase {
    /// Waiting for a view to pick the replicas.
    NeedView,
    /// Waiting out the backoff before the next attempt, which starts at its deadline.
    Backoff(Deadline),
    /// Reads sent; collecting answers. `settled`: the replicas whose answers show the newest.
    Reading { epoch: Epoch, replicas: Vec<Member>, settled: Vec<ServerId>, answers: BTreeMap<ServerId, ReadAnswer> },
}

/// How a read attempt ended.
#[derive(Clone, Debug)]
pub(crate) struct Concluded {
    /// The operation's result, or why to try again.
    pub(crate) result: Result<Result<OpOutput, OpError>, String>,
    /// The cached view may be stale: a replica was silent or at another epoch.
    pub(crate) stale_view: bool,
    /// A replica showed a newer view: the read runs again at once (see [`Read::overtaken`]).
    pub(crate) overtaken: bool,
}

impl Read {
    /// A new `getr`, waiting for a view.
    pub(crate) fn new(key: String) -> Self {
        Read { key, attempt: 1, overtaken: None, phase: GetPhase::NeedView }
    }

    /// What it waits for, for observers.
    pub(crate) fn stage(&self) -> Stage {
        match &self.phase {
            GetPhase::NeedView => Stage::NeedView,
            GetPhase::Backoff(next_attempt) => Stage::Backoff { next_attempt: *next_attempt },
            GetPhase::Reading { replicas, answers, .. } => Stage::Reading {
                replicas: replicas.iter().map(|m| m.id.clone()).collect(),
                answered: answers.keys().cloned().collect(),
            },
        }
    }

    /// A new attempt: a read for each member of the key's placement (queued in `sends`).
    pub(crate) fn start(&mut self, op: OpId, epoch: Epoch, placement: Placement, sends: &mut Vec<(Addr, Msg)>) {
        let Placement { members: replicas, settled, .. } = placement;
        for m in &replicas {
            sends.push((m.addr.clone(), Msg::GetR { op, epoch, key: self.key.clone() }));
        }
        self.overtaken = None;
        self.phase = GetPhase::Reading { epoch, replicas, settled, answers: BTreeMap::new() };
    }

    /// A replica's answer; returns whether every replica has answered.
    pub(crate) fn handle_reply(&mut self, server: ServerId, result: ReadAnswer) -> bool {
        let GetPhase::Reading { replicas, answers, .. } = &mut self.phase else { return false };
        if !replicas.iter().any(|m| m.id == server) {
            return false;
        }
        answers.insert(server, result);
        answers.len() == replicas.len()
    }

    /// The newest committed value among the answers, or a reason to retry when an answer says
    /// the value may be changing under us, or that no answer shows the newest. `None` unless
    /// reading. Records in [`overtaken`](Self::overtaken) a replica that showed a newer view.
    pub(crate) fn conclude(&mut self) -> Option<Concluded> {
        let GetPhase::Reading { epoch, replicas, settled, answers } = &self.phase else { return None };
        let mut best: Option<(Version, &String)> = None;
        let mut usable = 0;
        let mut retry: Option<String> = None;
        let mut overtaken = None;
        let mut stale_view = false;
        for (server, answer) in answers {
            let settles = settled.contains(server);
            match answer {
                ReadAnswer::Value { value, version } => {
                    usable += usize::from(settles);
                    if best.is_none_or(|(v, _)| *version > v) {
                        best = Some((*version, value));
                    }
                }
                ReadAnswer::NotFound => usable += usize::from(settles),
                ReadAnswer::Pending { tx } => retry = Some(format!("{tx} is pending at {server}")),
                ReadAnswer::WrongEpoch { epoch: theirs } => {
                    stale_view = true;
                    let reason = format!("{server} is at epoch {theirs}, not {epoch}");
                    if theirs > epoch {
                        overtaken = Some((ViewAge { epoch: *epoch, settled: true }, reason.clone()));
                    }
                    retry = Some(reason);
                }
                // It gave its copy up: the view became stable since this client's view said not.
                ReadAnswer::NotReplica => {
                    stale_view = true;
                    let reason = format!("{server} no longer replicates {} in epoch {epoch}", self.key);
                    overtaken.get_or_insert((ViewAge { epoch: *epoch, settled: false }, reason.clone()));
                    retry.get_or_insert(reason);
                }
                ReadAnswer::Isolated => stale_view = true,
            }
        }
        let silent: Vec<&str> =
            replicas.iter().filter(|m| !answers.contains_key(&m.id)).map(|m| m.id.as_str()).collect();
        if retry.is_none() && usable == 0 {
            retry = Some(if silent.is_empty() {
                String::from("no replica whose answer shows the newest value answered")
            } else {
                format!("no answer from {}", silent.join(", "))
            });
        }
        let result = match (retry, best) {
            (Some(reason), _) => Err(reason),
            (None, Some((version, value))) => Ok(Ok(OpOutput::Value { value: value.clone(), version: Some(version) })),
            (None, None) => Ok(Err(OpError::NotFound { key: self.key.clone() })),
        };
        // A silent replica may be dead: the next attempt should see the view without it.
        let concluded =
            Concluded { result, stale_view: stale_view || !silent.is_empty(), overtaken: overtaken.is_some() };
        if overtaken.is_some() {
            self.overtaken = overtaken;
        }
        Some(concluded)
    }
}
