//! Parsing a valid header does not touch the heap; neither does formatting into a buffer.
//!
//! Counted with a global allocator that tallies every allocation of this test binary. The test
//! is alone in its binary (one `#[test]`), so no other thread allocates while it counts.

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

#[test]
fn parse_and_format_do_not_allocate() {
    let mut buffer = String::with_capacity(512);
    for input in HEADERS {
        let region = Region::new(GLOBAL);
        let header = TraceHeader::parse(input).unwrap();
        let parse = region.change();
        assert_eq!(parse.allocations, 0, "parse allocated for {input}");

        let region = Region::new(GLOBAL);
        buffer.clear();
        write!(buffer, "{header}").unwrap();
        let unknown = header.unknown_fields().count();
        let format = region.change();
        assert_eq!(
            format.allocations + format.reallocations,
            0,
            "format allocated for {input}"
        );
        assert!(unknown <= 1);
    }

    // The span context form: trace state is empty for decided headers, so no allocation either.
    let input = HEADERS[0];
    let region = Region::new(GLOBAL);
    let cx = TraceHeader::parse(input).unwrap().span_context().unwrap();
    buffer.clear();
    write!(buffer, "{}", format_header(&cx).unwrap()).unwrap();
    let change = region.change();
    assert_eq!(change.allocations + change.reallocations, 0);
    assert_eq!(buffer, input);
}
