//! clouddb-operator: the operator binary. The reconcilers arrive with the TidbCloudCluster work (issue 4);
//! for now the binary only reports its version.
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "clouddb-operator",
    version,
    about = "Kubernetes operator for managed-database clouds"
)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
    println!("clouddb-operator {}", env!("CARGO_PKG_VERSION"));
}
