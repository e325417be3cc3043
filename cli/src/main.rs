//! `cyxcloud`: the CyxCloud command line.
//!
//! - `main.rs`: arguments, dispatch and exit codes.
//! - `commands.rs`: accounts, keys, buckets, listing, status.
//! - `transfer.rs`: upload, download and cat with progress bars.
//! - `dev.rs`: `cyxcloud dev`, a complete local network of processes.

mod commands;
mod dev;
mod transfer;

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};
use cyxcloud_client::ClientError;

/// CyxCloud: end-to-end encrypted, erasure-coded decentralized storage.
#[derive(Parser)]
#[command(name = "cyxcloud", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Args, Clone, Debug)]
pub struct Global {
    /// Configuration profile to use [env: CYXCLOUD_PROFILE]
    #[arg(long, global = true, value_name = "NAME")]
    pub config_profile: Option<String>,
    /// Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]
    #[arg(long, global = true, value_name = "URL")]
    pub gateway: Option<String>,
    /// Upper bound on concurrent shard transfers (adapts below it to the link)
    #[arg(long, global = true, value_name = "N")]
    pub max_connections: Option<usize>,
    /// No progress bars or informational messages
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Machine-readable JSON output (listings and status)
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Save the gateway URL and API key (interactive, or entirely by flags)
    Configure(commands::ConfigureArgs),
    /// Create an account and store an API key for this machine
    Signup(commands::LoginArgs),
    /// Log in and store an API key for this machine
    Login(commands::LoginArgs),
    /// Forget this profile's stored API key, session and cached key
    Logout,
    /// Manage API keys
    #[command(subcommand)]
    Keys(commands::KeysCmd),
    /// Make a bucket
    Mb(commands::MbArgs),
    /// Remove an empty bucket
    Rb { bucket: String },
    /// List buckets, or objects under cyx://bucket/prefix
    Ls(commands::LsArgs),
    /// Upload files, directories (recursively) or stdin (`-`)
    Upload(transfer::UploadArgs),
    /// Download an object to a file or stdout
    Download(transfer::DownloadArgs),
    /// Write an object to stdout
    Cat {
        /// cyx://bucket/key
        uri: String,
    },
    /// Delete an object, or everything under a prefix with --recursive
    Rm(commands::RmArgs),
    /// Show an object's details
    Stat {
        /// cyx://bucket/key
        uri: String,
    },
    /// Storage used against the quota, for the account or one bucket
    Status {
        #[arg(short, long)]
        bucket: Option<String>,
    },
    /// Run a storage node
    #[command(subcommand)]
    Node(NodeCmd),
    /// Run a gateway
    #[command(subcommand)]
    Gateway(GatewayCmd),
    /// Start a complete local network (gateway + 14 nodes) and configure this CLI for it
    Dev(dev::DevArgs),
    /// Print a shell completion script
    Completions { shell: clap_complete::Shell },
}

#[derive(Subcommand)]
pub enum NodeCmd {
    /// Run a storage node until interrupted
    Run(cyxcloud_node::RunArgs),
}

#[derive(Subcommand)]
pub enum GatewayCmd {
    /// Run a gateway until interrupted
    Run(cyxcloud_gateway::RunArgs),
}

/// Exit codes, documented in the README.
pub mod exit {
    pub const OK: u8 = 0;
    pub const ERROR: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const AUTH: u8 = 3;
    pub const NOT_FOUND: u8 = 4;
    pub const NETWORK: u8 = 5;
    pub const QUOTA: u8 = 6;
    pub const KEY: u8 = 7;
    pub const IO: u8 = 8;
}

fn exit_code(e: &anyhow::Error) -> u8 {
    let Some(c) = e.downcast_ref::<ClientError>() else {
        return exit::ERROR;
    };
    match c {
        ClientError::Config(_) | ClientError::Secrets(_) => exit::AUTH,
        ClientError::Gateway { status, .. } => match status {
            401 | 403 => exit::AUTH,
            404 => exit::NOT_FOUND,
            507 => exit::QUOTA,
            502..=504 => exit::NETWORK,
            400 | 409 | 412 | 416 => exit::USAGE,
            _ => exit::ERROR,
        },
        ClientError::Unreachable(_) | ClientError::Quorum(_) => exit::NETWORK,
        ClientError::WrongKey(_) | ClientError::NoKey(_) | ClientError::Integrity(_) => exit::KEY,
        ClientError::InvalidArgument(_) => exit::USAGE,
        ClientError::Io { .. } => exit::IO,
        _ => exit::ERROR,
    }
}

pub fn command() -> clap::Command {
    Cli::command()
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Services keep freed memory for the next request's buffers; client commands reuse
    // theirs from one heap, which keeps their peak memory near what is in flight.
    use cyxcloud_core::buffers::{Workload, keep_freed_memory, reuse_transfer_buffers};
    match cli.cmd {
        Cmd::Node(_) => keep_freed_memory(Workload::LargeBuffers),
        Cmd::Gateway(_) => keep_freed_memory(Workload::ManySmallRequests),
        _ => reuse_transfer_buffers(),
    }
    // The node and gateway own their runtime, logging and exit codes.
    match cli.cmd {
        Cmd::Node(NodeCmd::Run(args)) => {
            return run_service(async move {
                cyxcloud_node::run(args).await.map_err(|e| e.to_string())
            });
        }
        Cmd::Gateway(GatewayCmd::Run(args)) => {
            return run_service(async move {
                cyxcloud_gateway::run(args).await.map_err(|e| e.to_string())
            });
        }
        Cmd::Completions { shell } => {
            clap_complete::generate(shell, &mut command(), "cyxcloud", &mut std::io::stdout());
            return std::process::ExitCode::SUCCESS;
        }
        _ => {}
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(commands::dispatch(cli.global, cli.cmd)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            std::process::ExitCode::from(exit_code(&e))
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, std::process::ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: starting the runtime: {e}");
            std::process::ExitCode::from(exit::ERROR)
        })
}

/// The error and its causes on one line.
fn one_line(e: &anyhow::Error) -> String {
    let mut s = e.to_string();
    for c in e.chain().skip(1) {
        let c = c.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
    }
    s.replace('\n', " ")
}

fn run_service(f: impl std::future::Future<Output = Result<(), String>>) -> std::process::ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(f) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(exit::USAGE)
        }
    }
}

/// Default directory for `cyxcloud dev`.
pub fn default_dev_dir() -> anyhow::Result<PathBuf> {
    Ok(cyxcloud_client::config::home_dir()?.join("dev"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cli_definition_is_consistent() {
        super::command().debug_assert();
    }
}
