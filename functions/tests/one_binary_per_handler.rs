//! Every handler of the registry is deployed as a function, and every function is a handler:
//! the CDK app and `scripts/build` take the list from `routes.json` and expect a binary of the
//! handler's name in this package.

use std::collections::BTreeSet;
use std::path::Path;

use alchemiser_events::HandlerName;

#[test]
fn every_handler_has_its_entry_point_and_every_entry_point_is_a_handler() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin");
    let entry_points: BTreeSet<String> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", folder.display()))
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    let handlers: BTreeSet<String> = HandlerName::ALL
        .iter()
        .map(|handler| handler.as_str().to_owned())
        .collect();
    let missing: Vec<_> = handlers.difference(&entry_points).collect();
    assert!(
        missing.is_empty(),
        "handlers of the registry with no function: add functions/src/bin/<handler>.rs for {missing:?} \
         (copy functions/src/bin/portfolio.rs)"
    );
    let strays: Vec<_> = entry_points.difference(&handlers).collect();
    assert!(
        strays.is_empty(),
        "functions/src/bin has entry points of no handler (`scripts/build` never builds them): \
         {strays:?}; add the handler to the registry (lib/events/src/registry.rs), or remove them"
    );
}
