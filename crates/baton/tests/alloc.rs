//! Parsing a valid header does not touch the heap; neither does formatting into a buffer.
//!
//! Counted with a global allocator that tallies every allocation of this test binary. The test
//! is alone in its binary (one `#[test]`), so no other test allocates while it counts; the
//! harness's own thread still may, now and then, so each figure is the fewest of three attempts
//! (an allocation of the code measured shows in every attempt).

use std::alloc::System;
use std::fmt::Write as _;

use baton::{TraceHeader, format_header};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const HEADERS: &[&str] = &[
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?;Lineage=1:a87bd80c:1",
    "Self=1-67891234-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678;Foo=bar",
    " root = 1-5759E988-BD862E3FE1BE46A994272793 ; PARENT=53995c3f42cd8ad8 ",
];

/// Allocations and reallocations made while `f` runs: the fewest of three attempts.
fn allocations(mut f: impl FnMut()) -> usize {
    (0..3)
        .map(|_| {
            let region = Region::new(GLOBAL);
            f();
            let change = region.change();
            change.allocations + change.reallocations
        })
        .min()
        .unwrap()
}

#[test]
fn parse_and_format_do_not_allocate() {
    let mut buffer = String::with_capacity(512);
    for input in HEADERS {
        let parse = allocations(|| {
            std::hint::black_box(TraceHeader::parse(input).unwrap());
        });
        assert_eq!(parse, 0, "parse allocated for {input}");

        let header = TraceHeader::parse(input).unwrap();
        let format = allocations(|| {
            buffer.clear();
            write!(buffer, "{header}").unwrap();
            std::hint::black_box(header.unknown_fields().count());
        });
        assert_eq!(format, 0, "format allocated for {input}");
        assert!(header.unknown_fields().count() <= 1);
    }

    // The span context form: trace state is empty for decided headers, so no allocation either.
    let input = HEADERS[0];
    let change = allocations(|| {
        let cx = TraceHeader::parse(input).unwrap().span_context().unwrap();
        buffer.clear();
        write!(buffer, "{}", format_header(&cx).unwrap()).unwrap();
    });
    assert_eq!(change, 0);
    assert_eq!(buffer, input);
}
