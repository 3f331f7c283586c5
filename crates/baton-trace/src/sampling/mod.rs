//! The daemon's sampling endpoints, served from a rules file (what they answer is described
//! in the crate documentation, under "Sampling rules for samplers").
//!
//! - `api`: the JSON of both endpoints and the per-rule counts, with no I/O (unit-tested);
//! - `server`: the TCP listener and hyper's HTTP/1.1 around it.

mod api;
mod server;

pub(crate) use api::Book;
pub(crate) use server::{listen, serve};

/// What samplers reported for one served rule through `/SamplingTargets`, summed since the
/// collector started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuleCounts {
    /// The rule's name (`RuleName`).
    pub rule: String,
    /// Spans that met the rule (`RequestCount`).
    pub requests: u64,
    /// Of those, the spans sampled (`SampledCount`).
    pub sampled: u64,
    /// Of those sampled, the ones a sampler took from its one-a-second allowance while it
    /// had no target yet (`BorrowCount`).
    pub borrowed: u64,
    /// The same counts for each reporting process (`ClientID`), in the order they first
    /// reported. At most 256 processes are listed per rule; the totals count them all.
    pub clients: Vec<ClientCounts>,
}

/// One process's share of a [`RuleCounts`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientCounts {
    /// The id the sampler sends as `ClientID` (24 hex digits for X-Ray's SDKs).
    pub client_id: String,
    /// Spans that met the rule in this process.
    pub requests: u64,
    /// Of those, the spans sampled.
    pub sampled: u64,
    /// Of those sampled, the borrowed ones.
    pub borrowed: u64,
}
