//! Writes the XML documentation of the addon's classes, as the library gives it to the
//! editor (from the Rust doc comments), into a folder: `DIR/<Class>.xml`. Godot's
//! `--doctool DIR --gdextension-docs` merges it into its own skeleton of the classes
//! (tools/class-reference.sh).
//!   cargo run --example class_docs -- DIR

fn main() {
    let dir = std::env::args().nth(1).expect("usage: class_docs DIR");
    std::fs::create_dir_all(&dir).unwrap();
    // The library's classes, for their registrations (the documentation shards).
    let _ = std::any::type_name::<godot_websocket_server::godot::WebSocketServer>();
    let mut written = 0;
    for xml in godot::docs::__gather_xml_docs() {
        let name = xml
            .split("<class name=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a class name")
            .to_string();
        std::fs::write(format!("{dir}/{name}.xml"), xml).unwrap();
        written += 1;
    }
    println!("class_docs: {written} classes written to {dir}");
}
