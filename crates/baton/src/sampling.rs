//! A parent-based sampler that understands X-Ray's deferred decision (`Sampled=?`).

use opentelemetry::trace::{Link, SpanKind, TraceContextExt, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{Sampler, SamplingResult, ShouldSample};

use crate::consts::DEFERRED_STATE_KEY;
use crate::header::is_deferred;

/// Like OpenTelemetry's `Sampler::ParentBased`, except that a parent whose X-Ray header said
/// `Sampled=?` (no decision yet) is decided by the `root` sampler, as X-Ray intends, instead
/// of inheriting a decision nobody made. The decision made here is what later hops receive.
///
/// Without this sampler a deferred parent is treated as sampled (Baton never lets `?` drop a
/// trace), and the `?` is passed on unchanged.
///
/// ```
/// use baton::XrayParentBased;
/// use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
///
/// let provider = SdkTracerProvider::builder()
///     .with_sampler(XrayParentBased::new(Sampler::TraceIdRatioBased(0.05)))
///     .build();
/// # drop(provider);
/// ```
#[derive(Clone, Debug)]
pub struct XrayParentBased {
    root: Box<dyn ShouldSample>,
    parent_based: Sampler,
}

impl XrayParentBased {
    /// Decides root spans and deferred parents with `root`; follows the parent otherwise.
    pub fn new(root: impl ShouldSample + 'static) -> Self {
        let root: Box<dyn ShouldSample> = Box::new(root);
        XrayParentBased {
            parent_based: Sampler::ParentBased(root.box_clone()),
            root,
        }
    }
}

impl ShouldSample for XrayParentBased {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let deferred_state = parent_context.and_then(|cx| {
            let span = cx.span();
            let parent = span.span_context();
            (parent.is_valid() && is_deferred(parent)).then(|| parent.trace_state().clone())
        });
        match deferred_state {
            Some(state) => {
                let mut result = self.root.should_sample(
                    parent_context,
                    trace_id,
                    name,
                    span_kind,
                    attributes,
                    links,
                );
                // The decision is made now: later hops must see it, not "?".
                result.trace_state = state.delete(DEFERRED_STATE_KEY).unwrap_or_default();
                result
            }
            None => self.parent_based.should_sample(
                parent_context,
                trace_id,
                name,
                span_kind,
                attributes,
                links,
            ),
        }
    }
}
