//! The `hookwall` binary: everything lives in the library; see `hookwall::cli`.

fn main() -> std::process::ExitCode {
    hookwall::cli::main()
}
