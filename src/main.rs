//! The `hookwall` binary: everything lives in the library; see `hookwall::app::cli`.

fn main() -> std::process::ExitCode {
    hookwall::app::cli::main()
}
