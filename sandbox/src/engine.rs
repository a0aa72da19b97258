//! The one way to build a Rhai engine in this project.
//!
//! `Engine::new_raw` plus only the packages rules need; hard limits on
//! operations, call depth, expression depth, sizes, variables and functions;
//! modules, `eval`, clocks and sleeping unavailable; `print`/`debug` never
//! reach stdout; a wall-clock deadline checked from the progress callback.

use rhai::packages::{
    ArithmeticPackage, BasicArrayPackage, BasicIteratorPackage, BasicMapPackage, BasicStringPackage, LogicPackage,
    MoreStringPackage, Package,
};
use rhai::{Dynamic, Engine, EvalAltResult, Module, OptimizationLevel, Position};
use std::cell::{Cell, RefCell};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The limits every evaluation runs under.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_operations: u64,
    pub wall_time: Duration,
    pub max_call_levels: usize,
    pub max_expr_depth: usize,
    pub max_function_expr_depth: usize,
    pub max_string_bytes: usize,
    pub max_array_len: usize,
    pub max_map_len: usize,
    pub max_variables: usize,
    pub max_functions: usize,
    /// Largest script file the loader reads.
    pub max_script_bytes: u64,
    /// How much the process heap may grow during one evaluation, when a
    /// heap probe is installed (see [`set_heap_probe`]).
    pub max_heap_growth_bytes: usize,
}

pub const LIMITS: Limits = Limits {
    max_operations: 2_000_000,
    wall_time: Duration::from_millis(400),
    max_call_levels: 24,
    max_expr_depth: 48,
    max_function_expr_depth: 32,
    max_string_bytes: 16 * 1024,
    max_array_len: 4096,
    max_map_len: 1024,
    max_variables: 256,
    max_functions: 256,
    max_script_bytes: 1024 * 1024,
    max_heap_growth_bytes: 64 * 1024 * 1024,
};

/// Symbols rule scripts may not use at all (a parse error names them).
const DISABLED_SYMBOLS: &[&str] = &["eval", "Fn", "call", "curry", "is_def_fn", "is_def_var", "is_shared"];

/// Functions that must not exist for scripts, even though no package we
/// load defines them: overridden so that any path to them (a direct call, a
/// method call, a function pointer) ends in an error.
const FORBIDDEN_FUNCTIONS: &[&str] = &["sleep", "timestamp", "eval", "exit", "blob", "random", "rand"];

const DEADLINE_TAG: i64 = 0x5AFE;
const HEAP_TAG: i64 = 0x4EA9;

static HEAP_PROBE: OnceLock<fn() -> usize> = OnceLock::new();

/// Installs a function that returns the bytes currently allocated on the
/// process heap (the binary's counting global allocator). With it, an
/// evaluation is stopped when the heap grows by more than
/// [`Limits::max_heap_growth_bytes`] while it runs: Rhai's own size limits
/// do not cover every way a script can grow a value (assigning new keys to a
/// map by index is one), and this catches them all.
pub fn set_heap_probe(probe: fn() -> usize) {
    let _ = HEAP_PROBE.set(probe);
}

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    static HEAP_LIMIT: Cell<usize> = const { Cell::new(usize::MAX) };
    static PRINTED: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// The shared engine with the rule API registered. Built once.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut e = hardened_engine();
        crate::api::register(&mut e);
        e
    })
}

/// A raw engine with the packages and limits, without the rule API.
#[allow(clippy::disallowed_methods)]
pub fn hardened_engine() -> Engine {
    let l = LIMITS;
    let mut e = Engine::new_raw();
    // The packages as one module: Rhai looks a function up in every global
    // module in turn (and, for each method call, first as a script function
    // in all of them), so one module instead of seven is fewer lookups per
    // call. The functions are the same.
    let mut packages = Module::new();
    for pkg in [
        LogicPackage::new().as_shared_module(),
        ArithmeticPackage::new().as_shared_module(),
        BasicIteratorPackage::new().as_shared_module(),
        BasicStringPackage::new().as_shared_module(),
        MoreStringPackage::new().as_shared_module(),
        BasicArrayPackage::new().as_shared_module(),
        BasicMapPackage::new().as_shared_module(),
    ] {
        packages.combine_flatten((*pkg).clone());
    }
    e.register_global_module(packages.into());
    e.set_max_operations(l.max_operations)
        .set_max_call_levels(l.max_call_levels)
        .set_max_expr_depths(l.max_expr_depth, l.max_function_expr_depth)
        .set_max_string_size(l.max_string_bytes)
        .set_max_array_size(l.max_array_len)
        .set_max_map_size(l.max_map_len)
        .set_max_variables(l.max_variables)
        .set_max_functions(l.max_functions)
        .set_max_strings_interned(0)
        .set_strict_variables(true)
        .set_fail_on_invalid_map_property(true)
        .set_optimization_level(OptimizationLevel::Simple);
    for s in DISABLED_SYMBOLS {
        e.disable_symbol(*s);
    }
    for name in FORBIDDEN_FUNCTIONS {
        let msg = format!("{name} är inte tillgänglig i regler (ingen tid, ingen slump, ingen I/O)");
        let m0 = msg.clone();
        e.register_fn(*name, move || -> Result<(), Box<EvalAltResult>> { Err(forbidden(&m0)) });
        let m1 = msg.clone();
        e.register_fn(*name, move |_: Dynamic| -> Result<(), Box<EvalAltResult>> {
            Err(forbidden(&m1))
        });
        e.register_fn(*name, move |_: Dynamic, _: Dynamic| -> Result<(), Box<EvalAltResult>> {
            Err(forbidden(&msg))
        });
    }
    e.on_print(capture_print);
    e.on_debug(|text, _source, _pos| capture_print(text));
    e.on_progress(|ops| {
        if ops & 0x1f != 0 {
            return None;
        }
        if let Some(probe) = HEAP_PROBE.get()
            && probe() > HEAP_LIMIT.with(Cell::get)
        {
            return Some(Dynamic::from(HEAP_TAG));
        }
        if ops & 0x3ff != 0 {
            return None;
        }
        let deadline = DEADLINE.with(Cell::get)?;
        (Instant::now() > deadline).then(|| Dynamic::from(DEADLINE_TAG))
    });
    e
}

fn forbidden(msg: &str) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(msg.into(), Position::NONE).into()
}

/// Script output goes to a per-evaluation buffer that the rule test runner
/// can show the rule author, and to the log only as a count: it may carry
/// amounts, which never go in a log line.
fn capture_print(text: &str) {
    PRINTED.with(|p| {
        if let Some(buf) = p.borrow_mut().as_mut()
            && buf.len() < 100
        {
            buf.push(text.chars().take(500).collect());
        }
    });
    tracing::trace!(target: "hrobot::script", bytes = text.len(), "rule script printed a line (kept out of the log)");
}

/// Runs `f` with the wall-clock deadline armed and script output captured.
pub(crate) fn with_deadline<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    let deadline = Instant::now() + LIMITS.wall_time;
    DEADLINE.with(|d| d.set(Some(deadline)));
    let heap_limit = HEAP_PROBE
        .get()
        .map_or(usize::MAX, |probe| probe().saturating_add(LIMITS.max_heap_growth_bytes));
    HEAP_LIMIT.with(|h| h.set(heap_limit));
    PRINTED.with(|p| *p.borrow_mut() = Some(Vec::new()));
    let out = f();
    DEADLINE.with(|d| d.set(None));
    HEAP_LIMIT.with(|h| h.set(usize::MAX));
    let printed = PRINTED.with(|p| p.borrow_mut().take()).unwrap_or_default();
    (out, printed)
}

/// Which of our own limits ended an evaluation, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stopped {
    Deadline,
    Heap,
}

pub(crate) fn stopped_by(err: &EvalAltResult) -> Option<Stopped> {
    match err {
        EvalAltResult::ErrorTerminated(v, _) => match v.as_int().ok() {
            Some(DEADLINE_TAG) => Some(Stopped::Deadline),
            Some(HEAP_TAG) => Some(Stopped::Heap),
            _ => None,
        },
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => stopped_by(inner),
        _ => None,
    }
}
