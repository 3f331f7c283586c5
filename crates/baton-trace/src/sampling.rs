//! Where the daemon's sampling endpoints will go. Not implemented yet.
//!
//! Besides UDP segments, the X-Ray daemon answers the SDKs' centralized sampling calls over
//! TCP on the same address: `POST /GetSamplingRules` and `POST /SamplingTargets`, which it
//! forwards to the X-Ray API. A tracer configured for centralized sampling (such as the
//! `baton-sampling` crate's) polls them; against `baton-trace` today those calls find no
//! listener, and such samplers fall back to their local rules.
//!
//! The plan, for whoever adds it:
//! - a TCP listener bound next to the UDP socket (the `tcp:` part of
//!   `AWS_XRAY_DAEMON_ADDRESS`, or the same `host:port`), started by
//!   [`Collector::spawn`](crate::Collector::spawn) and stopped with the receive task;
//! - `/GetSamplingRules` answering with one rule that samples everything (a local viewer
//!   wants every trace), in the X-Ray API's JSON shape;
//! - `/SamplingTargets` granting every requested rule a fixed rate of 1.0 with no reservoir
//!   limits;
//! - tests that drive both endpoints with the requests the sampler crate sends.
