//! The `hookwall` binary: everything lives in the library; see `hookwall::app::cli`.

/// mimalloc instead of the C library's allocator: each request allocates and frees hyper's
/// and rustls's buffers and header maps across two worker threads, and glibc's malloc spent
/// 13–19 % of the CPU doing it. Measured in benches/README.md ("Round 4"): −21 % CPU per
/// request over keep-alive at 1 KiB, −26 % over HTTP/2; 1,000 idle connections +1.6 MiB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    hookwall::app::cli::main()
}
