//! `agent`: pack, push and pull Sentinel agent packages on any OCI registry.
//!
//! A thin command line over the library crates: each command reads its
//! arguments, runs a workflow of `sentinel-workflows` (push, pull, inspect,
//! the local store's names) and shows what it returns. The CLI itself keeps
//! the configuration and the credentials ([`context`], [`remote`]), the
//! progress bars and the output. Errors print as one line on standard error,
//! with an exit code per kind of failure (see [`exit`]).

mod cli;
mod commands;
mod config;
mod context;
mod exit;
mod output;
mod progress;
mod remote;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::context::Context;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let interrupted = Arc::new(AtomicBool::new(false));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("agent: cannot start: {error}");
            return ExitCode::from(exit::GENERAL);
        }
    };
    let outcome = runtime.block_on(async {
        let work = run(cli, interrupted.clone());
        // Biased, so that the Ctrl-C handler is installed before any work
        // starts: a Ctrl-C is then never the default "die at once".
        tokio::select! {
            biased;
            _ = tokio::signal::ctrl_c() => {
                interrupted.store(true, Ordering::SeqCst);
                Err(anyhow::Error::new(exit::Interrupted))
            }
            outcome = work => outcome,
        }
    });
    // Dropping the runtime waits for blocking work (an unpack in progress),
    // which sees the flag, removes its partial output and returns.
    drop(runtime);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("agent: {}", exit::describe(&error));
            ExitCode::from(exit::code_for(&error))
        }
    }
}

async fn run(cli: Cli, interrupted: Arc<AtomicBool>) -> anyhow::Result<()> {
    let context = Context::new(cli.config, cli.store, interrupted)?;
    match cli.command {
        Command::Init(args) => commands::init::run(args),
        Command::Pack(args) => commands::pack::pack(args),
        Command::Unpack(args) => commands::pack::unpack(&context, args).await,
        Command::Push(args) => commands::push::run(&context, args, None).await,
        Command::Pull(args) => commands::pull::run(&context, args).await,
        Command::Versions(args) => commands::versions::run(&context, args).await,
        Command::Search(args) => commands::search::run(&context, args).await,
        Command::Stack(command) => commands::stack::run(&context, command).await,
        Command::Copy(args) => commands::copy::run(&context, args).await,
        Command::Delete(args) => commands::delete::run(&context, args).await,
        Command::Images(args) => commands::images::images(&context, args),
        Command::Inspect(args) => commands::inspect::run(&context, args).await,
        Command::Tag(args) => commands::images::tag(&context, args),
        Command::Rmi(args) => commands::images::rmi(&context, args),
        Command::Login(args) => commands::login::login(&context, args).await,
        Command::Logout(args) => commands::login::logout(&context, args),
        Command::Key(command) => commands::key::run(&context, command),
        Command::Sign(args) => commands::sign::run(&context, args).await,
        Command::Verify(args) => commands::verify::run(&context, args).await,
        Command::Trust(command) => commands::trust::run(&context, command),
        Command::Registry(command) => commands::registry::run(&context, command).await,
        Command::Configure(command) => commands::configure::run(&context, command).await,
    }
}
