//! Generates the tonic code from `proto/` with protox, so no system protoc is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/chunk.proto",
        "proto/node.proto",
        "proto/metadata.proto",
        "proto/gateway.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    // Shard payloads move as `bytes::Bytes`: no copies between the network and storage.
    tonic_prost_build::configure()
        .bytes(".")
        .codec_path("crate::codec::SizedProstCodec")
        .compile_fds(fds)?;
    Ok(())
}
