//! The resumable byte-level scanner of [`super::ProofStream`]: it only finds where JSON values
//! begin and end (no recursion: nesting is a counter); their syntax is checked by the parser.

/// Items per batch handed to one rayon task.
pub(super) const STREAM_BATCH: usize = 1024;
/// Deepest nesting the scanner follows (the top-level object counts as 1).
pub(super) const STREAM_MAX_DEPTH: u32 = 200;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum St {
    Start,
    FirstKey,
    NextKey,
    InKey,
    Colon,
    ValueStart,
    InValue,
    AfterValue,
    ItemsFirst,
    ItemsNext,
    InItem,
    ItemsAfter,
    Done,
    Bad,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Key {
    Root,
    LeafEncoding,
    Items,
    Other,
}

/// Byte classes outside strings: 1 = quote, 2 = open bracket, 3 = close bracket.
pub(super) const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'"' as usize] = 1;
    t[b'[' as usize] = 2;
    t[b'{' as usize] = 2;
    t[b']' as usize] = 3;
    t[b'}' as usize] = 3;
    t
};

pub(super) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

pub(super) fn skip_ws(buf: &[u8], mut i: usize) -> usize {
    while i < buf.len() && is_ws(buf[i]) {
        i += 1;
    }
    i
}

/// Index of the first `"` or `\\` at or after `i` (`buf.len()` if none), eight bytes at a time.
pub(super) fn find_quote_or_backslash(buf: &[u8], mut i: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const Q: u64 = LO * b'"' as u64;
    const B: u64 = LO * b'\\' as u64;
    while i + 8 <= buf.len() {
        let w = u64::from_le_bytes(buf[i..i + 8].try_into().unwrap_or([0; 8]));
        let (x, y) = (w ^ Q, w ^ B);
        // a zero byte of x or y is a match; the lowest flagged byte is always a real one
        let m = ((x.wrapping_sub(LO) & !x) | (y.wrapping_sub(LO) & !y)) & HI;
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < buf.len() && buf[i] != b'"' && buf[i] != b'\\' {
        i += 1;
    }
    i
}

pub(super) enum Step {
    /// The value ended; exclusive end offset.
    Done(usize),
    /// Ran out of bytes inside the value.
    More,
    /// Nested too deep.
    Bad,
}

/// Where the scanner is inside one JSON value (its syntax is checked later by serde).
#[derive(Clone, Copy, Default, Debug)]
pub(super) struct Skip {
    pub(super) depth: u32,
    pub(super) in_str: bool,
    pub(super) esc: bool,
    pub(super) scalar: bool,
}

impl Skip {
    /// Begin a value at `buf[i]` (not whitespace). None when no value can start there.
    pub(super) fn begin(b: u8) -> Option<(Skip, usize)> {
        match b {
            b'"' => Some((Skip { in_str: true, ..Skip::default() }, 1)),
            b'[' | b'{' => Some((Skip { depth: 1, ..Skip::default() }, 1)),
            b',' | b']' | b'}' | b':' => None,
            _ => Some((Skip { scalar: true, ..Skip::default() }, 0)),
        }
    }

    pub(super) fn step(&mut self, buf: &[u8], mut i: usize, base: u32) -> Step {
        let n = buf.len();
        if self.scalar {
            while i < n {
                let b = buf[i];
                if is_ws(b) || b == b',' || b == b']' || b == b'}' {
                    self.scalar = false;
                    return Step::Done(i);
                }
                i += 1;
            }
            return Step::More;
        }
        loop {
            if self.in_str {
                if self.esc {
                    if i >= n {
                        return Step::More;
                    }
                    self.esc = false;
                    i += 1;
                }
                loop {
                    i = find_quote_or_backslash(buf, i);
                    if i >= n {
                        return Step::More;
                    }
                    let b = buf[i];
                    i += 1;
                    if b == b'"' {
                        self.in_str = false;
                        if self.depth == 0 {
                            return Step::Done(i);
                        }
                        break;
                    }
                    if b == b'\\' {
                        if i >= n {
                            self.esc = true;
                            return Step::More;
                        }
                        i += 1;
                    }
                }
            } else {
                loop {
                    if i >= n {
                        return Step::More;
                    }
                    let c = CLASS[buf[i] as usize];
                    i += 1;
                    match c {
                        1 => {
                            self.in_str = true;
                            break;
                        }
                        2 => {
                            self.depth += 1;
                            if base + self.depth > STREAM_MAX_DEPTH {
                                return Step::Bad;
                            }
                        }
                        3 => {
                            self.depth -= 1;
                            if self.depth == 0 {
                                return Step::Done(i);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}
