//! A PutEvents call in flight, whose spans end whatever happens: with the outcome when there
//! is one, as cancelled when the call is dropped first.

use baton::CallError;

use crate::put::PutCall;

#[derive(Debug)]
pub(crate) struct Pending(Option<PutCall>);

impl Pending {
    pub(crate) fn new(call: Option<PutCall>) -> Self {
        Pending(call)
    }

    pub(crate) fn get_mut(&mut self) -> Option<&mut PutCall> {
        self.0.as_mut()
    }

    pub(crate) fn take(&mut self) -> Option<PutCall> {
        self.0.take()
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(call) = self.0.take() {
            call.finish(Err(&CallError::cancelled()));
        }
    }
}
