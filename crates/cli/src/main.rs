//! mote: pack a static binary into a micro-container image, inspect it, push it, run it.
//!
//! Each subcommand lives in its own module with a clap `Args` struct and a `run` function.

use clap::{Parser, Subcommand};

mod inspect;
mod kube;
mod pack;
mod push;
mod run;
mod serve;
mod up;

#[derive(Parser)]
#[command(name = "mote", version, about = "Micro-containers: pack, inspect, push and run OCI images of a few kilobytes")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pack mote-httpd and a site into an image and run it (the main job)
    Up(up::Args),
    /// Pack static binaries (default: mote-httpd) and files into a reproducible OCI image
    Pack(pack::Args),
    /// List an image's manifests, config, layers and files, verifying every digest and size
    Inspect(inspect::Args),
    /// Push an image to OCI distribution registries
    Push(push::Args),
    /// Print a Kubernetes Deployment and Service for an image
    Kube(kube::Args),
    /// Run an image in its own namespaces, with no other runtime
    Run(run::Args),
    /// Listen on a port and start the image on the first connection; stop it when idle
    Serve(serve::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(a) => up::run(a),
        Command::Pack(a) => pack::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Push(a) => push::run(a),
        Command::Kube(a) => kube::run(a),
        Command::Run(a) => run::run(a),
        Command::Serve(a) => serve::run(a),
    };
    if let Err(e) = result {
        eprintln!("mote: {e:#}");
        std::process::exit(1);
    }
}
