// Generates the corrbus.v1 client stubs from the repository's .proto files at build time.
// protoc comes from the protoc-bin-vendored crate (no system package needed), and its
// bundled include dir resolves google/protobuf/{timestamp,duration}.proto.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let wkt_include = protoc_bin_vendored::include_path()?;
    // SAFETY: build scripts are single-threaded here; prost-build reads PROTOC from the environment.
    unsafe { std::env::set_var("PROTOC", &protoc) };

    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let protos: Vec<PathBuf> = ["correlation", "envelope", "service", "workflow"]
        .iter()
        .map(|name| proto_root.join(format!("corrbus/v1/{name}.proto")))
        .collect();

    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .build_transport(false)
        .compile_protos(&protos, &[proto_root.clone(), wkt_include])?;

    // compile_protos already emits rerun-if-changed for each .proto; watch the folder for new files too.
    println!(
        "cargo:rerun-if-changed={}",
        proto_root.join("corrbus/v1").display()
    );
    Ok(())
}
