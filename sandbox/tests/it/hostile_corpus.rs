//! Hostile rule scripts: each must end in a ruleset error. Shared by the
//! sandbox's in-process tests and the CLI tests in robot-runtime.

/// (name, entry script) — each must fail.
pub fn hostile() -> Vec<(&'static str, String)> {
    let fixed: &[(&str, &str)] = &[
        ("endless loop", "loop { }"),
        ("endless while", "let x = 0; while true { x += 1; }"),
        (
            "huge range",
            "let s = 0; for i in 0..9223372036854775807 { s += 1; } draft",
        ),
        ("runaway recursion", "fn f(x) { f(x + 1) } f(0); draft"),
        ("mutual recursion", "fn a(x) { b(x) } fn b(x) { a(x) } a(1); draft"),
        (
            "exponential recursion",
            "fn f(n) { if n == 0 { 0 } else { f(n - 1) + f(n - 1) } } f(60); draft",
        ),
        ("string bomb", r#"let s = "x"; loop { s += s; }"#),
        ("string pad bomb", r#"let s = "x"; s.pad(100000000, "y"); draft"#),
        (
            "interpolation bomb",
            r#"let s = "0123456789"; loop { s = `${s}${s}`; }"#,
        ),
        ("array bomb", "let a = [1]; loop { a += a; }"),
        ("array pad bomb", "let a = []; a.pad(1000000000, 0); draft"),
        ("nested array bomb", "let a = []; loop { a = [a, a]; }"),
        ("map bomb", "let m = #{}; let i = 0; loop { m[`k${i}`] = i; i += 1; }"),
        ("blob bomb", "let b = blob(1000000000); draft"),
        ("sleep", "sleep(10); draft"),
        ("sleep method", "10.sleep(); draft"),
        ("timestamp", "let t = timestamp(); draft"),
        ("eval", r#"eval("loop {}"); draft"#),
        ("eval via Fn", r#"let f = Fn("eval"); f.call("1"); draft"#),
        ("sleep via Fn", r#"let f = Fn("sleep"); f.call(5); draft"#),
        ("import", r#"import "std" as s; draft"#),
        ("exit", "exit(0);"),
        ("printing forever", r#"loop { print("x"); debug("y"); }"#),
        ("integer overflow", "let x = 9223372036854775807; x += 1; draft"),
        ("division by zero", "let x = 1 / 0; draft"),
        ("no draft returned", "42"),
        ("draft never decided", r#"draft.rule("r"); draft"#),
        ("row outside a rule", r#"draft.row("norm", "x", 1); draft"#),
        ("unknown code", r#"draft.rule("r"); draft.code("hittepa"); draft"#),
        ("unknown parameter", r#"let x = params.get("finns.inte"); draft"#),
        ("manual without code", r#"draft.rule("r"); draft.manual(); draft"#),
        (
            "negative amount",
            r#"draft.rule("r"); draft.outcome("bifall", -100); draft"#,
        ),
        ("öre amount", r#"draft.rule("r"); draft.outcome("bifall", 150); draft"#),
        (
            "too many rows",
            r#"draft.rule("r"); loop { draft.row("norm", "x", 1); }"#,
        ),
        ("too many trace entries", r#"loop { draft.rule("r"); }"#),
        (
            "map index bomb",
            r#"let s = "x"; s.pad(16000, "y"); let m = #{}; let i = 0; loop { m[`${i}`] = s + i; i += 1; }"#,
        ),
        (
            "nested map index bomb",
            r#"let s = "x"; s.pad(16000, "y"); let m = #{}; let i = 0; loop { m[`${i}`] = [s + i]; i += 1; }"#,
        ),
        (
            "huge inputs map",
            r#"let m = #{}; for i in 0..100000 { m[`k${i}`] = i; } draft.rule("r", m); draft"#,
        ),
        ("modify facts", "facts.costs.rent = 0; draft"),
        ("syntax error", "let = ;"),
        ("undefined variable", "let x = y + 1; draft"),
        ("float literal", "let x = 1.5; draft"),
    ];
    let mut all: Vec<(&'static str, String)> = fixed.iter().map(|(n, s)| (*n, (*s).to_string())).collect();
    all.push((
        "many variables",
        (0..2000)
            .map(|i| format!("let v{i} = \"{}\";\n", "x".repeat(1000)))
            .collect(),
    ));
    all.push((
        "deeply nested expression",
        format!("let x = {}1{};\ndraft", "(".repeat(5000), ")".repeat(5000)),
    ));
    all.push((
        "deeply nested blocks",
        format!("{}{}\ndraft", "{ ".repeat(5000), "} ".repeat(5000)),
    ));
    all.push((
        "deeply nested arrays",
        format!("let x = {}1{};\ndraft", "[".repeat(5000), "]".repeat(5000)),
    ));
    all.push((
        "too many functions",
        (0..1000)
            .map(|i| format!("fn f{i}() {{ {i} }}\n"))
            .chain(["draft".to_string()])
            .collect(),
    ));
    all
}
