//! `getr`: a replicated read — ask every replica of the key, take the newest committed value.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::error::OpError;
use crate::id::{Addr, Epoch, Member, OpId, ServerId, Version};
use crate::msg::{Msg, ReadAnswer};
use crate::time::Deadline;

use super::op::{OpOutput, Stage};

/// One `getr` operation.
#[derive(Clone, Debug)]
pub(crate) struct Read {
    /// The key.
    pub(crate) key: String,
    /// Its attempt, from 1.
    pub(crate) attempt: u32,
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
    /// Reads sent; collecting answers.
    Reading { epoch: Epoch, replicas: Vec<Member>, answers: BTreeMap<ServerId, ReadAnswer> },
}

/// How a read attempt ended.
#[derive(Clone, Debug)]
pub(crate) struct Concluded {
    /// The operation's result, or why to try again.
    pub(crate) result: Result<Result<OpOutput, OpError>, String>,
    /// The cached view may be stale: a replica was silent or at another epoch.
    pub(crate) stale_view: bool,
}

impl Read {
    /// A new `getr`, waiting for a view.
    pub(crate) fn new(key: String) -> Self {
        Read { key, attempt: 1, phase: GetPhase::NeedView }
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

    /// A new attempt: a read for each replica (queued in `sends`).
    pub(crate) fn start(&mut self, op: OpId, epoch: Epoch, replicas: Vec<Member>, sends: &mut Vec<(Addr, Msg)>) {
        for m in &replicas {
            sends.push((m.addr.clone(), Msg::GetR { op, epoch, key: self.key.clone() }));
        }
        self.phase = GetPhase::Reading { epoch, replicas, answers: BTreeMap::new() };
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
    /// the value may be changing under us. `None` unless reading.
    pub(crate) fn conclude(&self) -> Option<Concluded> {
        let GetPhase::Reading { epoch, replicas, answers } = &self.phase else { return None };
        let mut best: Option<(Version, &String)> = None;
        let mut usable = 0;
        let mut retry: Option<String> = None;
        let mut stale_view = false;
        for (server, answer) in answers {
            match answer {
                ReadAnswer::Value { value, version } => {
                    usable += 1;
                    if best.is_none_or(|(v, _)| *version > v) {
                        best = Some((*version, value));
                    }
                }
                ReadAnswer::NotFound => usable += 1,
                ReadAnswer::Pending { tx } => retry = Some(format!("{tx} is pending at {server}")),
                ReadAnswer::WrongEpoch { epoch: theirs } => {
                    stale_view = true;
                    retry = Some(format!("{server} is at epoch {theirs}, not {epoch}"));
                }
                ReadAnswer::Rebalancing => {}
                ReadAnswer::Isolated => stale_view = true,
            }
        }
        let silent: Vec<&str> =
            replicas.iter().filter(|m| !answers.contains_key(&m.id)).map(|m| m.id.as_str()).collect();
        if retry.is_none() && usable == 0 {
            retry = Some(if silent.is_empty() {
                String::from("the key's copies are still moving")
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
        Some(Concluded { result, stale_view: stale_view || !silent.is_empty() })
    }
}
