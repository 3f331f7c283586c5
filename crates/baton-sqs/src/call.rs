//! One traced call in flight, shared by both forms.

use baton::CallError;
use opentelemetry::Context;

use crate::receive::ReceiveCall;
use crate::send::SendCall;

/// The spans of one traced SQS operation in flight (opaque). Whatever happens to the call,
/// they end: with its outcome, or as cancelled when it is dropped first (see
/// [`baton::sdk::Pending`]).
#[derive(Clone, Debug)]
pub struct CallState(pub(crate) Call);

#[derive(Clone, Debug)]
pub(crate) enum Call {
    Send(SendCall),
    Batch(SendCall),
    Receive(ReceiveCall),
}

impl CallState {
    /// The context to keep current while the call runs: the send span's, so the SDK's own
    /// spans nest under it.
    pub(crate) fn active_context(&self) -> Option<Context> {
        match &self.0 {
            Call::Send(call) | Call::Batch(call) => Some(call.cx().clone()),
            Call::Receive(_) => None,
        }
    }
}

impl baton::sdk::InFlight for CallState {
    fn fail(self, error: &CallError) {
        match self.0 {
            Call::Send(call) => call.finish_message(Err(error)),
            Call::Batch(call) => call.finish_batch(Err(error)),
            Call::Receive(call) => call.finish(Err(error)),
        }
    }
}
