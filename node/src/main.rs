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
