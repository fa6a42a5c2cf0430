//! The `reportq` command line: render reports locally, list templates, prepare the TeX bundle,
//! run the API and the worker, submit jobs, manage keys ([`cli`]).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    reportq::sandbox::maybe_run_child();
    // Before any thread: the credentials leave the environment a TeX child could read.
    // SAFETY: no thread has started yet.
    unsafe { reportq::sandbox::credentials::take_from_environment() };
    if let Err(e) = reportq::logging::init() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    match cli::run(cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The one line a user reads when a command fails: plain text, not a log event.
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
