//! Which Keccak backend runs: detected once at run time, forced by `NFTREG_KECCAK`, switchable
//! by tests and benchmarks.
//!
//! * `avx512` — eight states per AVX-512F register set ([`super::avx512`]), needs AVX-512F.
//! * `avx2` — four states per AVX2 register set ([`super::avx2`]), needs AVX2.
//! * `scalar` — one state at a time (the `keccak` crate's `f1600`).
//!
//! The first hash picks the fastest backend the CPU has, unless `NFTREG_KECCAK` names one.
//! A forced backend the CPU lacks, or a name that is not one of the three (or `auto`), falls
//! back to the fastest available one and says so once on stderr — a hash is never refused for
//! it. [`set_backend`] (tests, benchmarks, `nftreg._core`) switches explicitly and returns an
//! error for an unavailable backend. Every backend computes the same bytes.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

#[cfg(target_arch = "x86_64")]
use super::avx2::Avx2;
#[cfg(target_arch = "x86_64")]
use super::avx512::Avx512;

/// A Keccak-f[1600] implementation, named as `NFTREG_KECCAK` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// One lane (`keccak::f1600`).
    Scalar,
    /// Four lanes in AVX2 registers.
    Avx2,
    /// Eight lanes in AVX-512 registers.
    Avx512,
}

impl Backend {
    /// Every backend, fastest first.
    pub const ALL: [Backend; 3] = [Backend::Avx512, Backend::Avx2, Backend::Scalar];

    pub fn name(self) -> &'static str {
        match self {
            Backend::Scalar => "scalar",
            Backend::Avx2 => "avx2",
            Backend::Avx512 => "avx512",
        }
    }

    /// Parse `scalar`, `avx2` or `avx512` (case-insensitive).
    pub fn parse(name: &str) -> Option<Backend> {
        Backend::ALL.into_iter().find(|b| b.name().eq_ignore_ascii_case(name.trim()))
    }

    /// States hashed per permutation call.
    pub fn lanes(self) -> usize {
        match self {
            Backend::Scalar => 1,
            Backend::Avx2 => 4,
            Backend::Avx512 => 8,
        }
    }

    /// The CPU features this backend needs, for error messages.
    pub fn needs(self) -> &'static str {
        match self {
            Backend::Scalar => "nothing",
            Backend::Avx2 => "x86-64 AVX2",
            Backend::Avx512 => "x86-64 AVX-512F",
        }
    }

    /// A handle to run this backend, if the CPU supports it.
    pub fn lanes_handle(self) -> Result<Lanes, Unavailable> {
        let kernel = match self {
            Backend::Scalar => Some(Kernel::Scalar),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => Avx2::detect().map(Kernel::Avx2),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512 => Avx512::detect().map(Kernel::Avx512),
            #[cfg(not(target_arch = "x86_64"))]
            _ => None,
        };
        kernel.map(|kernel| Lanes { kernel }).ok_or(Unavailable(self))
    }

    /// True if this CPU can run the backend.
    pub fn is_available(self) -> bool {
        self.lanes_handle().is_ok()
    }

    fn code(self) -> u8 {
        match self {
            Backend::Scalar => 1,
            Backend::Avx2 => 2,
            Backend::Avx512 => 3,
        }
    }

    fn from_code(c: u8) -> Option<Backend> {
        Backend::ALL.into_iter().find(|b| b.code() == c)
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A backend this CPU cannot run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unavailable(pub Backend);

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "keccak backend '{}' is not available on this CPU (it needs {})", self.0, self.0.needs())
    }
}

impl std::error::Error for Unavailable {}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Kernel {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Avx2(Avx2),
    #[cfg(target_arch = "x86_64")]
    Avx512(Avx512),
}

/// A backend this CPU supports (holding one is the proof): the batch hashing entry points are
/// its methods (see `lanes.rs`). Copy it freely.
#[derive(Clone, Copy, Debug)]
pub struct Lanes {
    pub(crate) kernel: Kernel,
}

impl Lanes {
    pub fn backend(self) -> Backend {
        match self.kernel {
            Kernel::Scalar => Backend::Scalar,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2(_) => Backend::Avx2,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(_) => Backend::Avx512,
        }
    }

    /// Every backend this CPU runs, fastest first (always ends with `scalar`).
    pub fn available() -> Vec<Lanes> {
        Backend::ALL.into_iter().filter_map(|b| b.lanes_handle().ok()).collect()
    }

    /// The fastest backend this CPU runs.
    pub fn fastest() -> Lanes {
        Lanes::available()[0]
    }

    /// The backend in use: [`set_backend`]'s choice, else `NFTREG_KECCAK`'s, else the fastest.
    #[inline]
    pub fn active() -> Lanes {
        let code = match ACTIVE.load(Ordering::Relaxed) {
            0 => {
                let b = *CHOSEN.get_or_init(choose_from_env);
                // Racing first callers all store the same value.
                let _ = ACTIVE.compare_exchange(0, b.code(), Ordering::Relaxed, Ordering::Relaxed);
                ACTIVE.load(Ordering::Relaxed)
            }
            c => c,
        };
        match Backend::from_code(code).map(Backend::lanes_handle) {
            Some(Ok(l)) => l,
            // Unreachable: only available backends are ever stored.
            _ => Lanes { kernel: Kernel::Scalar },
        }
    }
}

/// 0 = not chosen yet, else `Backend::code`.
static ACTIVE: AtomicU8 = AtomicU8::new(0);
static CHOSEN: OnceLock<Backend> = OnceLock::new();

/// The variable that forces a backend.
pub const ENV_VAR: &str = "NFTREG_KECCAK";

fn choose_from_env() -> Backend {
    let fastest = Lanes::fastest().backend();
    let raw = match std::env::var(ENV_VAR) {
        Ok(v) => v,
        Err(_) => return fastest,
    };
    if raw.trim().is_empty() || raw.trim().eq_ignore_ascii_case("auto") {
        return fastest;
    }
    match Backend::parse(&raw) {
        Some(b) if b.is_available() => b,
        Some(b) => {
            eprintln!("nftreg: {ENV_VAR}={raw}: {}; using '{fastest}'", Unavailable(b));
            fastest
        }
        None => {
            eprintln!("nftreg: {ENV_VAR}={raw} is not one of avx512, avx2, scalar, auto; using '{fastest}'");
            fastest
        }
    }
}

/// The backend the batch hashing functions use now.
pub fn active_backend() -> Backend {
    Lanes::active().backend()
}

/// The backend `NFTREG_KECCAK` (or detection) chose at first use, whatever [`set_backend`]
/// did since.
pub fn default_backend() -> Backend {
    *CHOSEN.get_or_init(choose_from_env)
}

/// Switch every later batch hash in this process to `backend` (tests and benchmarks run each
/// backend in turn this way). Fails, changing nothing, if the CPU cannot run it.
pub fn set_backend(backend: Backend) -> Result<(), Unavailable> {
    backend.lanes_handle()?;
    ACTIVE.store(backend.code(), Ordering::Relaxed);
    Ok(())
}
