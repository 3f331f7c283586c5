//! The trace view as a web page, served by the collector itself (see
//! [`Collector::with_page`](crate::Collector::with_page) and the crate docs, "The web page").
//!
//! - `graph`: the service map over many traces (nodes, edges, health, layout);
//! - `summary`: what the list and the filters read of one trace, kept beside it;
//! - `size`: what a summary holds in memory, counted against the assembler's byte budget;
//! - `filter`: the filter-expression subset;
//! - `api`: each endpoint's JSON, without I/O;
//! - `server`: hyper around it, the page's thread that makes the answers, and the
//!   embedded page (`assets/`).

mod api;
mod filter;
mod graph;
mod server;
mod size;
mod summary;

pub use filter::{Filter, FilterError, MAX_FILTER_CHARS};
pub use graph::{Health, MapEdge, MapNode, MapNodeKind, ServiceGraph, Status};
pub(crate) use server::{Page, serve};
pub(crate) use summary::Summary;

#[cfg(test)]
mod tests;
