//! docs/adding-an-event-type.md is current: every file it names exists, its file table's count
//! is the table's, every Rust snippet parses, and what the snippets name of the workspace — the
//! fields of a struct literal, `Enum::Variant` paths, `use alchemiser_*::{..}` items — is what
//! the code has today. The guide's own new names (`OrdersReconciled`, `Reconciler`, ...) are the
//! only ones allowed not to exist. (The guide once showed `producer:`/`consumer:` fields an hour
//! after they became `producers`/`consumers`; this test is what would have said so.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// Names the guide introduces: a snippet may use them though the code does not have them.
const INTRODUCED: [&str; 5] = [
    "OrdersReconciled",
    "Reconciler",
    "ReconcilerHandler",
    "reconciler",
    "reconcile",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn guide() -> String {
    std::fs::read_to_string(repo().join("docs/adding-an-event-type.md"))
        .expect("docs/adding-an-event-type.md is readable")
}

/// The fenced code blocks of `language`, in order.
fn blocks(markdown: &str, language: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start().strip_prefix("```")) {
            (None, Some(tag)) if tag.trim() == language => current = Some(String::new()),
            (Some(block), Some(_)) => {
                found.push(std::mem::take(block));
                current = None;
            }
            (Some(block), None) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    found
}

/// What the workspace's Rust defines, by name: struct fields, enum variants, and every item name
/// of each crate (for `use` paths).
#[derive(Default)]
struct Workspace {
    structs: BTreeMap<String, Vec<BTreeSet<String>>>,
    enums: BTreeMap<String, BTreeSet<String>>,
    crate_items: BTreeMap<String, BTreeSet<String>>,
}

impl Workspace {
    fn load() -> Self {
        let mut workspace = Workspace::default();
        let mut crate_dirs = vec![repo().join("functions")];
        for top in ["lib", "bin"] {
            for crate_dir in std::fs::read_dir(repo().join(top)).expect("workspace folder") {
                crate_dirs.push(crate_dir.expect("a crate folder").path());
            }
        }
        for crate_dir in crate_dirs {
            let manifest =
                std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap_or_default();
            let Some(name) = manifest
                .lines()
                .find_map(|line| line.strip_prefix("name = \""))
                .map(|rest| rest.trim_end_matches('"').replace('-', "_"))
            else {
                continue;
            };
            let mut items = BTreeSet::new();
            for file in rust_files(&crate_dir.join("src")) {
                let text = std::fs::read_to_string(&file).expect("readable source");
                let parsed = syn::parse_file(&text)
                    .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()));
                let mut collector = Collector {
                    workspace: &mut workspace,
                    items: &mut items,
                };
                collector.visit_file(&parsed);
            }
            workspace.crate_items.insert(name, items);
        }
        workspace
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

struct Collector<'a> {
    workspace: &'a mut Workspace,
    items: &'a mut BTreeSet<String>,
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item_struct(&mut self, item: &'ast syn::ItemStruct) {
        self.items.insert(item.ident.to_string());
        let fields = item
            .fields
            .iter()
            .filter_map(|f| f.ident.as_ref().map(ToString::to_string))
            .collect();
        self.workspace
            .structs
            .entry(item.ident.to_string())
            .or_default()
            .push(fields);
        syn::visit::visit_item_struct(self, item);
    }
    fn visit_item_enum(&mut self, item: &'ast syn::ItemEnum) {
        self.items.insert(item.ident.to_string());
        self.workspace
            .enums
            .entry(item.ident.to_string())
            .or_default()
            .extend(item.variants.iter().map(|v| v.ident.to_string()));
        syn::visit::visit_item_enum(self, item);
    }
    fn visit_item_macro(&mut self, item: &'ast syn::ItemMacro) {
        // `handlers!` defines HandlerName (and the registry) from its list.
        if item.mac.path.is_ident("handlers") {
            let entries = item
                .mac
                .parse_body_with(handler_entries)
                .unwrap_or_else(|e| {
                    panic!("the code's handlers! list is not what this test reads: {e}")
                });
            self.items.insert("HandlerName".to_owned());
            self.workspace
                .enums
                .entry("HandlerName".to_owned())
                .or_default()
                .extend(entries.into_iter().map(|entry| entry.name));
        }
        // `event_types!` defines EventType and Event from its list.
        if item.mac.path.is_ident("event_types") {
            let names = event_type_entries(&item.mac).unwrap_or_else(|e| {
                panic!("the code's event_types! list is not what this test reads: {e}")
            });
            for enum_name in ["EventType", "Event"] {
                self.items.insert(enum_name.to_owned());
                self.workspace
                    .enums
                    .entry(enum_name.to_owned())
                    .or_default()
                    .extend(names.clone());
            }
        }
    }
    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        self.items.insert(item.sig.ident.to_string());
    }
    fn visit_item_const(&mut self, item: &'ast syn::ItemConst) {
        self.items.insert(item.ident.to_string());
    }
    fn visit_item_trait(&mut self, item: &'ast syn::ItemTrait) {
        self.items.insert(item.ident.to_string());
    }
    fn visit_item_type(&mut self, item: &'ast syn::ItemType) {
        self.items.insert(item.ident.to_string());
    }
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        self.items.insert(item.ident.to_string());
        syn::visit::visit_item_mod(self, item);
    }
    fn visit_use_rename(&mut self, item: &'ast syn::UseRename) {
        self.items.insert(item.rename.to_string());
    }
    fn visit_use_name(&mut self, item: &'ast syn::UseName) {
        // Re-exports (`pub use ...::{Name}`) make the name the crate's too.
        self.items.insert(item.ident.to_string());
    }
}

/// A snippet as Rust: items (a file), or else statements or list entries inside a function.
fn parse_snippet(snippet: &str) -> Option<syn::File> {
    syn::parse_file(snippet)
        .or_else(|_| syn::parse_file(&format!("fn snippet() {{ let _ = [{snippet}]; }}")))
        .or_else(|_| syn::parse_file(&format!("fn snippet() {{ {snippet} }}")))
        .or_else(|_| {
            // A registry entry (`Name => "name" { field: value, ... }`) or an event type's line.
            let list = if syn::parse::Parser::parse_str(handler_entries, snippet).is_ok() {
                "handlers"
            } else {
                "event_types"
            };
            syn::parse_file(&format!("{list}! {{ {snippet} }}"))
        })
        .ok()
}

/// One entry of the `handlers!` list: its doc comments, `Name => "function" { field: value, ...
/// }`.
struct HandlerEntry {
    name: String,
    fields: Vec<(String, syn::Expr)>,
}

/// The entries of a `handlers!` list.
fn handler_entries(input: syn::parse::ParseStream) -> syn::Result<Vec<HandlerEntry>> {
    let mut entries = Vec::new();
    while !input.is_empty() {
        input.call(syn::Attribute::parse_outer)?;
        let name: syn::Ident = input.parse()?;
        input.parse::<syn::Token![=>]>()?;
        input.parse::<syn::LitStr>()?;
        let body;
        syn::braced!(body in input);
        let fields =
            syn::punctuated::Punctuated::<syn::FieldValue, syn::Token![,]>::parse_terminated(
                &body,
            )?
            .into_iter()
            .map(|field| {
                let member = match field.member {
                    syn::Member::Named(ident) => ident.to_string(),
                    syn::Member::Unnamed(index) => index.index.to_string(),
                };
                (member, field.expr)
            })
            .collect();
        entries.push(HandlerEntry {
            name: name.to_string(),
            fields,
        });
    }
    Ok(entries)
}

/// The event types an `event_types!` list names, each line `Name => "prefix",` after its doc
/// comments (the form the code's list has).
fn event_type_entries(list: &syn::Macro) -> syn::Result<Vec<String>> {
    list.parse_body_with(|input: syn::parse::ParseStream| {
        let mut names = Vec::new();
        while !input.is_empty() {
            input.call(syn::Attribute::parse_outer)?;
            let name: syn::Ident = input.parse()?;
            input.parse::<syn::Token![=>]>()?;
            input.parse::<syn::LitStr>()?;
            if !input.is_empty() {
                input.parse::<syn::Token![,]>()?;
            }
            names.push(name.to_string());
        }
        Ok(names)
    })
}

/// What a snippet says of the workspace that is not so.
struct Checker<'a> {
    workspace: &'a Workspace,
    problems: Vec<String>,
}

impl Checker<'_> {
    fn introduced(name: &str) -> bool {
        INTRODUCED.contains(&name)
    }
}

impl<'ast> Visit<'ast> for Checker<'_> {
    fn visit_expr_struct(&mut self, literal: &'ast syn::ExprStruct) {
        let name = literal
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        let written: BTreeSet<String> = literal
            .fields
            .iter()
            .filter_map(|f| match &f.member {
                syn::Member::Named(ident) => Some(ident.to_string()),
                syn::Member::Unnamed(_) => None,
            })
            .collect();
        match self.workspace.structs.get(&name) {
            None if !Self::introduced(&name) => self
                .problems
                .push(format!("struct `{name}` does not exist")),
            None => {}
            Some(definitions) => {
                let fits = definitions.iter().any(|fields| {
                    if literal.rest.is_some() {
                        written.is_subset(fields)
                    } else {
                        &written == fields
                    }
                });
                if !fits {
                    self.problems.push(format!(
                        "`{name} {{ {} }}` does not match its fields in the code: {:?}",
                        written.iter().cloned().collect::<Vec<_>>().join(", "),
                        definitions
                    ));
                }
            }
        }
        syn::visit::visit_expr_struct(self, literal);
    }

    fn visit_item_macro(&mut self, item: &'ast syn::ItemMacro) {
        if item.mac.path.is_ident("handlers") {
            match item.mac.parse_body_with(handler_entries) {
                Err(e) => self.problems.push(format!(
                    "a `handlers!` entry is written `Name => \"name\" {{ field: value, ... }}` in the code: {e}"
                )),
                Ok(entries) => {
                    // The macro fills `name` from the entry's name.
                    let wanted: BTreeSet<String> = self
                        .workspace
                        .structs
                        .get("HandlerSpec")
                        .and_then(|definitions| definitions.first())
                        .map(|fields| fields.iter().filter(|f| *f != "name").cloned().collect())
                        .unwrap_or_default();
                    for entry in entries {
                        let written: BTreeSet<String> =
                            entry.fields.iter().map(|(field, _)| field.clone()).collect();
                        if written != wanted {
                            self.problems.push(format!(
                                "the registry entry `{}` has the fields {written:?}, a HandlerSpec's (but `name`) are {wanted:?}",
                                entry.name
                            ));
                        }
                        for (_, value) in &entry.fields {
                            self.visit_expr(value);
                        }
                    }
                }
            }
        }
        if item.mac.path.is_ident("event_types") {
            if let Err(e) = event_type_entries(&item.mac) {
                self.problems.push(format!(
                    "an `event_types!` line is written `Name => \"prefix\",` in the code: {e}"
                ));
            }
        }
        syn::visit::visit_item_macro(self, item);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        if let [.., owner, item] = segments.as_slice() {
            let is_variant = item.chars().next().is_some_and(char::is_uppercase)
                && item.chars().any(char::is_lowercase);
            if let Some(variants) = self.workspace.enums.get(owner) {
                if is_variant && !variants.contains(item) && !Self::introduced(item) {
                    self.problems
                        .push(format!("`{owner}::{item}` is not a variant of {owner}"));
                }
            }
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        fn names(tree: &syn::UseTree, out: &mut Vec<(String, String)>, krate: &mut Option<String>) {
            match tree {
                syn::UseTree::Path(path) => {
                    if krate.is_none() {
                        *krate = Some(path.ident.to_string());
                        names(&path.tree, out, krate);
                    } else {
                        out.push((krate.clone().unwrap_or_default(), path.ident.to_string()));
                    }
                }
                syn::UseTree::Name(name) => {
                    out.push((krate.clone().unwrap_or_default(), name.ident.to_string()))
                }
                syn::UseTree::Rename(rename) => {
                    out.push((krate.clone().unwrap_or_default(), rename.ident.to_string()))
                }
                syn::UseTree::Group(group) => {
                    for tree in &group.items {
                        names(tree, out, krate);
                    }
                }
                syn::UseTree::Glob(_) => {}
            }
        }
        let mut used = Vec::new();
        names(&item.tree, &mut used, &mut None);
        for (krate, name) in used {
            if !krate.starts_with("alchemiser_") {
                continue;
            }
            match self.workspace.crate_items.get(&krate) {
                None => self
                    .problems
                    .push(format!("crate `{krate}` does not exist")),
                Some(items) if !items.contains(&name) && !Self::introduced(&name) => {
                    self.problems.push(format!("`{krate}` has no `{name}`"))
                }
                Some(_) => {}
            }
        }
    }
}

#[test]
fn every_rust_snippet_names_what_the_code_has() {
    let workspace = Workspace::load();
    assert!(
        workspace.structs.contains_key("HandlerSpec") && workspace.enums.contains_key("EventType"),
        "the workspace scan found the registry and the event types"
    );
    let snippets = blocks(&guide(), "rust");
    assert!(
        snippets.len() >= 5,
        "the guide shows its steps in Rust ({} snippets)",
        snippets.len()
    );
    let mut problems = Vec::new();
    for (i, snippet) in snippets.iter().enumerate() {
        let Some(file) = parse_snippet(snippet) else {
            problems.push(format!(
                "snippet {} does not parse as Rust:\n{snippet}",
                i + 1
            ));
            continue;
        };
        let mut checker = Checker {
            workspace: &workspace,
            problems: Vec::new(),
        };
        checker.visit_file(&file);
        problems.extend(
            checker
                .problems
                .into_iter()
                .map(|p| format!("snippet {}: {p}", i + 1)),
        );
    }
    assert!(
        problems.is_empty(),
        "docs/adding-an-event-type.md is stale:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_stale_snippet_is_caught() {
    // The check itself bites: the field names the guide once showed, and a variant that is not.
    let workspace = Workspace::load();
    for stale in [
        "Route { event_type: EventType::WorkflowFailed, producer: EXECUTION, consumer: Some(HandlerName::Monitor) }",
        "HandlerSpec { name: HandlerName::Monitor, job: \"\", timeout: T, memory_mb: 128, needs: &[Need::Ledger], schedule: None, python_counterpart: None, shadow_refusal: None }",
        "OrdersReconciled in orders_reconciled => \"orders-reconciled\",",
        "Reconciler => \"reconciler\" { name: HandlerName::Reconciler, job: \"\", timeout: T, memory_mb: 128, needs: &[Need::Broker], schedule: None, python_counterpart: None, shadow_refusal: None }",
        "Reconciler => \"reconciler\" { job: \"\", timeout: T, memory_mb: 128, needs: &[Need::Ledger], schedule: None, python_counterpart: None, shadow_refusal: None }",
    ] {
        let file = parse_snippet(stale).expect("parses");
        let mut checker = Checker { workspace: &workspace, problems: Vec::new() };
        checker.visit_file(&file);
        assert!(!checker.problems.is_empty(), "not caught: {stale}");
    }
}

#[test]
fn every_file_it_names_exists() {
    let text = guide();
    let mut missing = Vec::new();
    for (i, piece) in text.split('`').enumerate() {
        let is_code = i % 2 == 1;
        let looks_like_path = [
            "lib/",
            "functions/",
            "bin/",
            "infra/",
            "scripts/",
            "docs/",
            "tests/",
        ]
        .iter()
        .any(|top| piece.starts_with(top))
            && !piece.contains(' ')
            && !piece.contains('*');
        if !is_code || !looks_like_path {
            continue;
        }
        // A new file of the guide's handler: its folder must exist.
        let new = INTRODUCED.iter().any(|name| piece.contains(name));
        let path = repo().join(piece);
        let exists = if new {
            let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
            parent.exists()
        } else {
            path.exists()
        };
        if !exists {
            missing.push(piece.to_owned());
        }
    }
    assert!(
        missing.is_empty(),
        "docs/adding-an-event-type.md names files that do not exist: {missing:?}"
    );
}

#[test]
fn the_file_count_is_the_tables() {
    let text = guide();
    let rows = text.lines().filter(|line| line.starts_with("| `")).count();
    let sentence = text
        .lines()
        .find(|line| line.contains("touches these"))
        .expect("the guide says how many files a new consumer touches");
    let said: usize = sentence
        .split("touches these ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("a number after `touches these`");
    assert_eq!(
        said, rows,
        "the guide says {said} files but its table lists {rows}"
    );
}

#[test]
fn every_command_names_a_real_package_or_script() {
    for block in blocks(&guide(), "bash") {
        for line in block.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let Some(at) = words.iter().position(|w| *w == "-p") {
                let package = words.get(at + 1).copied().unwrap_or_default();
                let manifest = repo().join("bin").join(package).join("Cargo.toml");
                assert!(
                    manifest.exists(),
                    "the guide runs `-p {package}`, which is no package of bin/"
                );
            }
            if let Some(script) = words.first().filter(|w| w.starts_with("scripts/")) {
                assert!(
                    repo().join(script).exists(),
                    "the guide runs {script}, which does not exist"
                );
            }
        }
    }
}
