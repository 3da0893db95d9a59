//! What the HTTP API parses from callers and functions: a deploy's JSON config (the first byte
//! 0), a function name (1), a CGI response's headers (2), a multipart deploy body (3), a deploy's
//! tar archive of files (4: what it becomes must be a valid image).

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    afl::fuzz!(|data: &[u8]| {
        let Some((&which, bytes)) = data.split_first() else {
            return;
        };
        match which % 5 {
            0 => {
                if let Ok(s) = flint_server::settings::FunctionSettings::parse(bytes) {
                    let json = serde_json::to_vec(&s).expect("settings serialise");
                    let again = flint_server::settings::FunctionSettings::parse(&json);
                    assert_eq!(again.expect("valid settings re-parse"), s);
                }
            }
            1 => {
                let _ = flint_server::settings::validate_name(&String::from_utf8_lossy(bytes));
            }
            2 => {
                let _ = flint_server::api::cgi::respond(bytes, true);
            }
            3 => {
                let _ =
                    runtime.block_on(flint_server::api::functions::parse_upload(bytes.to_vec()));
            }
            _ => {
                let limits = flint_runtime::bundle::BundleLimits::default();
                if let Ok(image) = flint_runtime::bundle::image_from_tar(bytes, limits) {
                    flint_abi::files::decode(&image).expect("an accepted archive is a valid image");
                }
            }
        }
    });
}
