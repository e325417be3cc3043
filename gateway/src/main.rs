use clap::Parser;

/// CyxCloud gateway: S3-compatible API, accounts, metadata and the storage node registry.
#[derive(Parser)]
#[command(name = "cyxcloud-gateway", version)]
struct Cli {
    #[command(flatten)]
    run: cyxcloud_gateway::RunArgs,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = cyxcloud_gateway::run(cli.run).await {
        eprintln!("cyxcloud-gateway: {e}");
        std::process::exit(2);
    }
}
