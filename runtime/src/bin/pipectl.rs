//! `pipectl`: validate, format, plan and run `.pipe` pipelines.

fn main() -> std::process::ExitCode {
    pipe_runtime::cli::main()
}
