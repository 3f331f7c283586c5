//! Estimates of what the page's per-trace state holds in memory, so that it can count
//! against the assembler's byte budget.
//!
//! Each heap block is counted as a typical allocator (glibc's) hands it out: the bytes
//! asked for plus an 8-byte header, rounded up to 16, at least 32. `tests/memory.rs` checks
//! the estimates against the process's resident memory.

use std::mem::size_of;

use serde_json::Value;

/// The memory taken by one heap block of `bytes` bytes (none for an empty one).
pub(crate) fn block(bytes: usize) -> usize {
    if bytes == 0 {
        0
    } else {
        (bytes + 8).next_multiple_of(16).max(32)
    }
}

/// What a `String` holds on the heap.
pub(crate) fn string(s: &String) -> usize {
    block(s.capacity())
}

/// What a `Vec<T>` holds on the heap, its elements' own heap blocks not included.
pub(crate) fn vec<T>(v: &Vec<T>) -> usize {
    block(v.capacity() * size_of::<T>())
}

/// What a JSON value holds on the heap (beyond the `Value` itself).
pub(crate) fn value(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        Value::String(s) => string(s),
        Value::Array(items) => vec(items) + items.iter().map(value).sum::<usize>(),
        // A B-tree map: count each entry as a block of its key and value (its nodes hold
        // up to eleven of them), plus the key's and the value's own blocks.
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| block(size_of::<String>() + size_of::<Value>()) + string(k) + value(v))
            .sum(),
    }
}
