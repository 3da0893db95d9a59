//! Builds the example components (as the tests do) and writes them into the directory given
//! as the only argument: `c.wasm`, `javascript.wasm`, `python.wasm`. `scripts/bench-components.sh` runs
//! it.

fn main() {
    let dir = std::env::args().nth(1).expect("usage: components OUT_DIR");
    std::fs::create_dir_all(&dir).expect("create the output directory");
    let built = [
        ("c", flint_test_modules::examples::c_component()),
        (
            "javascript",
            flint_test_modules::examples::javascript_component(),
        ),
        ("python", flint_test_modules::examples::python_component()),
    ];
    for (name, wasm) in built {
        let path = std::path::Path::new(&dir).join(format!("{name}.wasm"));
        std::fs::write(&path, wasm).expect("write the component");
        println!("{}", path.display());
    }
}
