//! `cyxcloud-node`: run a CyxCloud storage node.

use clap::Parser;

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

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    cyxcloud_core::buffers::keep_freed_memory(cyxcloud_core::buffers::Workload::LargeBuffers);
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cyxcloud-node: starting the runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match rt.block_on(cyxcloud_node::run(cli.run)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cyxcloud-node: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
