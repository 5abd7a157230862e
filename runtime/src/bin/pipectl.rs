//! `pipectl`: validate, format, plan, run and benchmark `.pipe` pipelines.

/// mimalloc reuses the buffers a pipeline passes between operators; with the system allocator
/// the kernel zeroed fresh pages for each batch, a quarter of all CPU time. (jemalloc measured
/// 10% slower than mimalloc here; see BENCHMARKS.md.)
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    pipe_runtime::cli::main()
}
