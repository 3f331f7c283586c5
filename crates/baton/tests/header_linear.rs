//! Reading a trace header takes time in proportion to its length: the time per byte stays flat
//! from 100 B to 64 KiB.
//!
//! Alone in its binary, so no other test of this crate runs beside it. The machine may still be
//! busy with other work, so each size is timed several times and the fastest run is kept, the
//! sizes are compared with each other rather than with a fixed budget, the bound is loose (a
//! quadratic reader is 16 to 64 times slower per byte at 64 KiB than at 1 to 4 KiB; the bound
//! is 3 times), and a failed comparison is measured again before the test fails.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use baton::{Sampled, TraceHeader, extract_header};
use opentelemetry::Context;
use opentelemetry::trace::{SpanId, TraceContextExt};

const SIZES: [usize; 5] = [100, 1024, 4 * 1024, 16 * 1024, 64 * 1024];

/// A header of exactly `len` bytes mixing every kind of field the reader handles: known fields
/// (repeated), unknown ones, malformed ones and segments without `=`, with spaces.
fn header_of(len: usize) -> String {
    const HEAD: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8";
    const FIELDS: [&str; 6] = [
        ";Sampled=1",
        "; tenant = 42 ",
        ";Lineage=1:a87bd80c:1",
        ";junk",
        ";Parent=53995c3f42cd8ad8",
        ";x-a=b",
    ];
    let mut out = HEAD.to_owned();
    for field in FIELDS.iter().cycle() {
        if out.len() + field.len() > len {
            break;
        }
        out.push_str(field);
    }
    while out.len() < len {
        out.push(';');
    }
    out
}

/// Everything a consumer does with a header: parse, build the remote context with its
/// pass-on fields, and write the header for the next hop.
fn read(input: &str, out: &mut String) {
    let header = TraceHeader::parse(input).expect("the header parses");
    black_box(header.dropped());
    out.clear();
    write!(
        out,
        "{}",
        header.pass_on(SpanId::from(0x00f0_67aa_0ba9_02b7_u64), Sampled::Yes)
    )
    .unwrap();
    let cx = extract_header(&Context::new(), input, "test");
    black_box(cx.span().span_context().is_valid());
}

/// Nanoseconds per byte of input at each size: the fastest of several runs, each reading about
/// 256 KiB in all. A run that takes ten times longer per byte than the fastest smaller size
/// is cut short (a quadratic reader would otherwise take minutes at 64 KiB): its figure so far
/// already fails the comparison.
fn measure(inputs: &[String]) -> Vec<f64> {
    const BYTES_PER_RUN: usize = 256 << 10;
    const RUNS: usize = 5;
    let mut out = String::with_capacity(2048);
    let mut per_byte: Vec<f64> = Vec::with_capacity(inputs.len());
    for input in inputs {
        let rounds = (BYTES_PER_RUN / input.len()).max(1);
        let best_so_far = per_byte.iter().copied().fold(f64::INFINITY, f64::min);
        let budget = Duration::from_nanos((10.0 * best_so_far * BYTES_PER_RUN as f64) as u64);
        let mut fastest = f64::INFINITY;
        for _ in 0..RUNS {
            let start = Instant::now();
            let mut done = 0;
            while done < rounds {
                read(black_box(input), &mut out);
                done += 1;
                if !per_byte.is_empty() && start.elapsed() > budget {
                    break;
                }
            }
            let run = start.elapsed().as_nanos() as f64 / (done * input.len()) as f64;
            fastest = fastest.min(run);
            if done < rounds {
                break;
            }
        }
        per_byte.push(fastest);
    }
    per_byte
}

/// The comparisons that fail, if any: per byte, no size is more than `SLACK` times slower than
/// 100 B, nor than any smaller size from 1 KiB up.
fn not_flat(per_byte: &[f64]) -> Vec<String> {
    const SLACK: f64 = 3.0;
    let mut failures = Vec::new();
    for (i, &large) in per_byte.iter().enumerate() {
        for (j, &small) in per_byte.iter().enumerate().take(i) {
            if (j == 0 || SIZES[j] >= 1024) && large > SLACK * small {
                failures.push(format!(
                    "{} B: {large:.2} ns/B, over {SLACK} x the {:.2} ns/B of {} B",
                    SIZES[i], small, SIZES[j]
                ));
            }
        }
    }
    failures
}

#[test]
fn time_per_byte_is_flat_from_100_bytes_to_64_kib() {
    let inputs: Vec<String> = SIZES.iter().map(|&len| header_of(len)).collect();
    for (input, &len) in inputs.iter().zip(&SIZES) {
        assert_eq!(input.len(), len);
        let header = TraceHeader::parse(input)
            .unwrap_or_else(|e| panic!("a {len}-byte header with a valid Root must parse: {e}"));
        assert_eq!(
            header.trace_id().to_string(),
            "5759e988bd862e3fe1be46a994272793"
        );
    }
    // Warm up caches and the allocator (on small inputs: a slow reader is slow enough at
    // 64 KiB without a warm-up).
    let mut out = String::new();
    for input in &inputs[..2] {
        read(input, &mut out);
    }
    let mut attempts = Vec::new();
    for _ in 0..3 {
        let per_byte = measure(&inputs);
        let failures = not_flat(&per_byte);
        if failures.is_empty() {
            eprintln!("ns per byte at {SIZES:?} B: {per_byte:.2?}");
            return;
        }
        attempts.push(format!("{per_byte:.2?}: {failures:?}"));
        // Ten times slower per byte is no noise: no need to measure again.
        let smallest = per_byte.iter().copied().fold(f64::INFINITY, f64::min);
        if per_byte.iter().any(|&t| t > 10.0 * smallest) {
            break;
        }
    }
    panic!(
        "time per byte grows with the input (ns/B at {SIZES:?}):\n{}",
        attempts.join("\n")
    );
}
