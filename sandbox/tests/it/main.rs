//! Integration tests of the sandbox through its public API.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// The same counting allocator the `hrobot` binary installs, so the heap
/// limit is exercised here too.
#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

pub fn install_heap_probe() {
    sandbox::set_heap_probe(|| ALLOCATOR.allocated());
}

mod api;
mod casework;
mod coverage;
mod hostile;
mod hostile_corpus;
mod support;
