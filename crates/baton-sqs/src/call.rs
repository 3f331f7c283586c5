//! One traced call in flight, shared by both forms: its spans, and the guarantee that they end
//! — with the outcome when there is one, as "cancelled" when the call is dropped before it.

use opentelemetry::Context;

use crate::config::SqsPropagation;
use crate::error::ErrorInfo;
use crate::receive::ReceiveCall;
use crate::send::SendCall;

/// The spans of one traced operation.
#[derive(Clone, Debug)]
pub(crate) enum CallState {
    Send(SendCall),
    Batch(SendCall),
    Receive(ReceiveCall),
}

impl CallState {
    /// The context to keep current while the call runs: the send span's, so the SDK's own
    /// spans nest under it.
    pub(crate) fn active_context(&self) -> Option<Context> {
        match self {
            CallState::Send(call) | CallState::Batch(call) => Some(call.cx.clone()),
            CallState::Receive(_) => None,
        }
    }

    /// Ends the spans with `error`.
    pub(crate) fn fail(self, config: &SqsPropagation, error: &ErrorInfo) {
        match self {
            CallState::Send(call) => call.finish_message(Err(error)),
            CallState::Batch(call) => call.finish_batch(Err(error)),
            CallState::Receive(call) => call.finish(config, Err(error)),
        }
    }
}

/// A call whose spans are still open. Taking the state out hands the duty of ending them to
/// the taker; if it is never taken — the caller dropped the future (a timeout, a cancelled
/// task) or the SDK gave up before its last hook — dropping this ends them as cancelled.
#[derive(Debug)]
pub(crate) struct Pending {
    state: Option<CallState>,
    config: SqsPropagation,
}

impl Pending {
    pub(crate) fn new(state: Option<CallState>, config: SqsPropagation) -> Self {
        Pending { state, config }
    }

    pub(crate) fn state_mut(&mut self) -> Option<&mut CallState> {
        self.state.as_mut()
    }

    pub(crate) fn take(&mut self) -> Option<CallState> {
        self.state.take()
    }

    pub(crate) fn config(&self) -> &SqsPropagation {
        &self.config
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            state.fail(&self.config, &ErrorInfo::cancelled());
        }
    }
}
