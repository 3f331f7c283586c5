//! The propagation layer.

use tower::Layer;

use super::propagation::Propagation;
use crate::config::SqsPropagation;

/// A [`Layer`] that wraps an SQS service (usually [`SqsService`](super::SqsService)) in
/// [`Propagation`].
#[derive(Clone, Debug, Default)]
pub struct PropagationLayer {
    config: SqsPropagation,
}

impl PropagationLayer {
    /// A layer with `config`.
    pub fn new(config: SqsPropagation) -> Self {
        PropagationLayer { config }
    }
}

impl<S> Layer<S> for PropagationLayer {
    type Service = Propagation<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Propagation::new(inner, self.config.clone())
    }
}
