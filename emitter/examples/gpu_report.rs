//! Prints this host's GPU readings as JSON (what the emitter's GPU collector
//! sees). `cargo run -p naap-emitter --example gpu_report`
fn main() {
    match naap_emitter::gpu::open() {
        Ok(mut gpus) => match gpus.read() {
            Ok(readings) => println!(
                "{}",
                serde_json::to_string_pretty(&readings).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
            ),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        },
        Err(e) => {
            println!("{{\"gpu_available\": false, \"reason\": {:?}}}", e.to_string());
        }
    }
}
