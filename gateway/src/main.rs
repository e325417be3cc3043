use clap::Parser;

/// CyxCloud gateway: S3-compatible API, accounts, metadata and the storage node registry.
#[derive(Parser)]
#[command(name = "cyxcloud-gateway", version)]
struct Cli {
    #[command(flatten)]
    run: cyxcloud_gateway::RunArgs,
}

fn main() {
    let cli = Cli::parse();
    cyxcloud_core::buffers::keep_freed_memory(cyxcloud_core::buffers::Workload::ManySmallRequests);
    let r = tokio::runtime::Runtime::new()
        .map_err(|e| format!("starting the runtime: {e}"))
        .and_then(|rt| {
            rt.block_on(cyxcloud_gateway::run(cli.run))
                .map_err(|e| e.to_string())
        });
    if let Err(e) = r {
        eprintln!("cyxcloud-gateway: {e}");
        std::process::exit(2);
    }
}
