//! Any bytes, read as UTF-8 (lossily), through the `${…}` template parser and
//! expander: no panics, error offsets at a `$`, and `display` parses back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smokeprobe::config::template::{self, Part, Piece, RawRef, Scope, Template};

struct FuzzScope;

impl Scope for FuzzScope {
    fn get(&self, name: &str) -> Option<&str> {
        (name.len() % 2 == 0).then_some("value")
    }

    fn run_id(&self) -> &str {
        "run-1"
    }
}

fuzz_target!(|data: &[u8]| {
    let src = String::from_utf8_lossy(data);
    match template::parse(&src) {
        Err(e) => assert!(src[e.offset..].starts_with('$')),
        Ok(pieces) => {
            let parts = pieces
                .iter()
                .map(|p| match p {
                    Piece::Lit(s) => Part::Lit(s.clone()),
                    Piece::Ref { r, .. } => match r {
                        RawRef::Name(n) => Part::Var(n.clone()),
                        RawRef::Env(_) | RawRef::File(_) => Part::Const("secret".into()),
                        RawRef::Builtin(b) => Part::Builtin(b.clone()),
                    },
                })
                .collect();
            let t = Template { parts };
            let _ = t.expand(&FuzzScope);
            let shown = t.display();
            if !shown.contains("***") {
                assert!(
                    template::parse(&shown).is_ok(),
                    "display does not parse: {shown}"
                );
            }
        }
    }

    // Every `$` doubled is plain text again.
    let escaped = src.replace('$', "$$");
    let pieces = template::parse(&escaped).expect("escaped text parses");
    let text: String = pieces
        .iter()
        .map(|p| match p {
            Piece::Lit(s) => s.as_str(),
            Piece::Ref { .. } => panic!("a reference in escaped text"),
        })
        .collect();
    assert_eq!(text, src);
});
