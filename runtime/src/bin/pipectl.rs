//! `pipectl`: validate, format, plan, run and benchmark `.pipe` pipelines.

/// mimalloc reuses the buffers a pipeline passes between operators; with the system allocator
/// the kernel zeroed fresh pages for each batch, a quarter of all CPU time. (jemalloc measured
/// 10% slower than mimalloc here; see BENCHMARKS.md.)
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its place in `mi_option_e`, in mimalloc 2 and 3 alike).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long memory stays free before mimalloc gives it back to the kernel, unless
/// `MIMALLOC_PURGE_DELAY` says otherwise. Its default, one second, gave back the pages of
/// containers freed between bursts (a minute's windows closing at once), and the kernel zeroed
/// them again on their next use: 6% of the time with two workers, 10% less throughput.
const PURGE_DELAY_MS: std::ffi::c_long = 10_000;

#[allow(unsafe_code)]
fn keep_freed_memory_a_while() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets an option of the allocator linked in above, before any thread starts;
        // mimalloc reads options atomically.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, PURGE_DELAY_MS) };
    }
}

fn main() -> std::process::ExitCode {
    keep_freed_memory_a_while();
    pipe_runtime::cli::main()
}
