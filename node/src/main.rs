//! `cyxcloud-node`: run a CyxCloud storage node.

use clap::Parser;

/// Shard-sized buffers are allocated and freed all the time; mimalloc reuses them where
/// glibc's malloc hands many back to the kernel and faults in zeroed pages again.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "cyxcloud-node",
    version,
    about = "CyxCloud storage node: stores shards and earns for serving them"
)]
struct Cli {
    #[command(flatten)]
    run: cyxcloud_node::RunArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cyxcloud_node::run(cli.run).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cyxcloud-node: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
