//! C2SP `tlog-tiles` layout: which tiles a tree of a given size has, their paths, their bytes,
//! and entry bundles (big-endian uint16 length-prefixed entries).

use crate::hash::Hash;
use crate::tree::Tree;
use crate::{invalid, Result};

/// Hashes in a full tile (tile height 8).
pub const TILE_WIDTH: u64 = 256;
/// Largest entry an entry bundle can carry.
pub const MAX_ENTRY: usize = u16::MAX as usize;

/// One tile (or entry bundle): level (`None` for entries), index within the level and width
/// (1..=256; 256 is a full tile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    pub level: Option<u8>,
    pub index: u64,
    pub width: u16,
}

impl TileId {
    pub fn is_full(&self) -> bool {
        self.width as u64 == TILE_WIDTH
    }

    /// The tile's path below the log prefix, e.g. `tile/0/x001/234.p/112`, `tile/entries/000`.
    pub fn path(&self) -> String {
        let mut s = String::from("tile/");
        match self.level {
            Some(l) => s.push_str(&l.to_string()),
            None => s.push_str("entries"),
        }
        s.push('/');
        s.push_str(&encode_index(self.index));
        if !self.is_full() {
            s.push_str(".p/");
            s.push_str(&self.width.to_string());
        }
        s
    }

    /// Number of entries the tile spans below it: 256^(level+1) for a full tile.
    pub fn end_size(&self) -> u64 {
        let l = self.level.unwrap_or(0) as u32;
        let unit = 1u64.checked_shl(8 * l).unwrap_or(0);
        (self.index * TILE_WIDTH + self.width as u64).saturating_mul(unit)
    }
}

/// `N` as 3-digit groups, all but the last prefixed with `x`: 1234067 -> `x001/x234/067`.
pub fn encode_index(mut n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        groups.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

fn parse_decimal(s: &str, what: &str, path: &str) -> Result<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return invalid(format!("tile path {path:?}: {what} {s:?} is not a decimal number without leading zeroes"));
    }
    s.parse::<u64>().or_else(|_| invalid(format!("tile path {path:?}: {what} {s:?} is too large")))
}

/// Parse a path below the log prefix (`tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`),
/// accepting only the canonical spelling.
pub fn parse_path(path: &str) -> Result<TileId> {
    let rest = match path.strip_prefix("tile/") {
        Some(r) => r,
        None => return invalid(format!("tile path {path:?}: does not start with tile/")),
    };
    let (lvl, rest) = match rest.split_once('/') {
        Some(x) => x,
        None => return invalid(format!("tile path {path:?}: no tile index")),
    };
    let level = if lvl == "entries" {
        None
    } else {
        let l = parse_decimal(lvl, "level", path)?;
        if l > 63 {
            return invalid(format!("tile path {path:?}: level {l} is above 63"));
        }
        Some(l as u8)
    };
    let (idx, width) = match rest.split_once(".p/") {
        Some((i, w)) => {
            let w = parse_decimal(w, "width", path)?;
            if !(1..TILE_WIDTH).contains(&w) {
                return invalid(format!("tile path {path:?}: partial width {w} is not between 1 and 255"));
            }
            (i, w as u16)
        }
        None => (rest, TILE_WIDTH as u16),
    };
    let mut index: u64 = 0;
    let groups: Vec<&str> = idx.split('/').collect();
    for (k, g) in groups.iter().enumerate() {
        let digits = if k + 1 < groups.len() {
            match g.strip_prefix('x') {
                Some(d) => d,
                None => return invalid(format!("tile path {path:?}: index group {g:?} must start with x")),
            }
        } else {
            g
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return invalid(format!("tile path {path:?}: index group {g:?} is not 3 digits"));
        }
        let d: u64 = digits.parse().unwrap_or(0);
        index = match index.checked_mul(1000).and_then(|v| v.checked_add(d)) {
            Some(v) => v,
            None => return invalid(format!("tile path {path:?}: index is too large")),
        };
    }
    let t = TileId { level, index, width };
    if t.path() != path {
        return invalid(format!("tile path {path:?}: not canonical (expected {:?})", t.path()));
    }
    Ok(t)
}

/// The tiles (levels 0 and up) of a tree of `size` entries: every full tile and the partial
/// one of each level, lowest level first.
pub fn tiles_for_size(size: u64) -> Vec<TileId> {
    new_tiles(0, size)
}

/// The tiles that a tree growing from `old` to `new` entries must (re)write: at each level the
/// last tile of the old tree, if it grew, and every tile after it.
pub fn new_tiles(old: u64, new: u64) -> Vec<TileId> {
    let mut out = Vec::new();
    if new <= old {
        return out;
    }
    for level in 0u32..64 {
        let shift = 8 * level;
        if shift >= 64 {
            break;
        }
        let (start, end) = (old >> shift, new >> shift);
        if end == 0 {
            break;
        }
        if start == end {
            continue;
        }
        let first = start / TILE_WIDTH;
        let last = (end - 1) / TILE_WIDTH;
        for n in first..=last {
            let width = (end - n * TILE_WIDTH).min(TILE_WIDTH) as u16;
            out.push(TileId { level: Some(level as u8), index: n, width });
        }
    }
    out
}

/// The entry bundles a tree growing from `old` to `new` entries must (re)write.
pub fn new_bundles(old: u64, new: u64) -> Vec<TileId> {
    new_tiles(old, new)
        .into_iter()
        .filter(|t| t.level == Some(0))
        .map(|t| TileId { level: None, ..t })
        .collect()
}

/// The tile's bytes: its hashes concatenated (32 * width bytes). Fails when the tree is too
/// small to have it.
pub fn tile_bytes(tree: &Tree, tile: &TileId) -> Result<Vec<u8>> {
    let level = match tile.level {
        Some(l) => l as u32,
        None => return invalid("entry bundles are not tiles of hashes"),
    };
    let w = tile.width as u64;
    match tree.hashes(8 * level, tile.index * TILE_WIDTH, w) {
        Some(hs) => Ok(hs.concat()),
        None => invalid(format!("{} is beyond the log ({} entries)", tile.path(), tree.size())),
    }
}

/// Split a tile's bytes into hashes; the length must be 32 * width.
pub fn tile_hashes(data: &[u8], width: u16) -> Result<Vec<Hash>> {
    if data.len() != 32 * width as usize {
        return invalid(format!("tile of width {width} must be {} bytes, got {}", 32 * width as usize, data.len()));
    }
    Ok(data.chunks_exact(32).map(|c| c.try_into().unwrap_or([0u8; 32])).collect())
}

/// Concatenate entries, each prefixed by its big-endian uint16 length.
pub fn encode_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>> {
    let total: usize = entries.iter().map(|e| e.as_ref().len() + 2).sum();
    let mut out = Vec::with_capacity(total);
    for (i, e) in entries.iter().enumerate() {
        let e = e.as_ref();
        if e.len() > MAX_ENTRY {
            return invalid(format!("entries[{i}]: {} bytes is over the {MAX_ENTRY}-byte limit of an entry bundle", e.len()));
        }
        out.extend_from_slice(&(e.len() as u16).to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Split an entry bundle into its entries (borrowed), refusing truncated or trailing bytes.
pub fn decode_bundle(data: &[u8]) -> Result<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.len() < 2 {
            return invalid(format!("entry bundle: truncated length prefix after {} entries", out.len()));
        }
        let n = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        if rest.len() < 2 + n {
            return invalid(format!("entry bundle: entry {} says {n} bytes but only {} remain", out.len(), rest.len() - 2));
        }
        out.push(&rest[2..2 + n]);
        rest = &rest[2 + n..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_encoding_matches_the_spec_example() {
        assert_eq!(encode_index(1234067), "x001/x234/067");
        assert_eq!(encode_index(0), "000");
        assert_eq!(encode_index(999), "999");
        assert_eq!(encode_index(1000), "x001/000");
        let t = TileId { level: Some(0), index: 1234067, width: 112 };
        assert_eq!(t.path(), "tile/0/x001/x234/067.p/112");
        assert_eq!(parse_path("tile/0/x001/x234/067.p/112").unwrap(), t);
        assert_eq!(
            parse_path("tile/entries/x001/000").unwrap(),
            TileId { level: None, index: 1000, width: 256 }
        );
    }

    #[test]
    fn non_canonical_paths_are_refused_with_a_reason() {
        for bad in [
            "tile/0/1",
            "tile/00/000",
            "tile/0/x000/001",
            "tile/0/001/002",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/012",
            "tile/64/000",
            "tile/0/000/",
            "tiles/0/000",
            "tile/0/x1234/000",
            "tile/entries",
            "tile/0/+01",
        ] {
            let e = parse_path(bad).unwrap_err();
            assert!(e.to_string().contains("tile path"), "{bad}: {e}");
        }
    }

    #[test]
    fn spec_layout_vector_70000() {
        let tiles = tiles_for_size(70_000);
        let count = |level: u8, full: bool| tiles.iter().filter(|t| t.level == Some(level) && t.is_full() == full).count();
        assert_eq!(count(0, true), 273);
        assert_eq!(count(1, true), 1);
        assert_eq!(count(2, true), 0);
        let partial: Vec<(u8, u64, u16)> =
            tiles.iter().filter(|t| !t.is_full()).map(|t| (t.level.unwrap(), t.index, t.width)).collect();
        assert_eq!(partial, vec![(0, 273, 112), (1, 1, 17), (2, 0, 1)]);
        assert_eq!(tiles.len(), 273 + 1 + 1 + 1 + 1);
        // A tree of 256: one full level-0 tile and a level-1 partial of width 1.
        let t256 = tiles_for_size(256);
        assert_eq!(
            t256,
            vec![TileId { level: Some(0), index: 0, width: 256 }, TileId { level: Some(1), index: 0, width: 1 }]
        );
        assert!(tiles_for_size(0).is_empty());
    }

    #[test]
    fn new_tiles_rewrites_only_what_grew() {
        assert_eq!(new_tiles(256, 257), vec![TileId { level: Some(0), index: 1, width: 1 }]);
        let t = new_tiles(255, 256);
        assert_eq!(
            t,
            vec![TileId { level: Some(0), index: 0, width: 256 }, TileId { level: Some(1), index: 0, width: 1 }]
        );
        // Growing in steps writes, at the end, the same set of final tiles as one step.
        let mut last = std::collections::BTreeMap::new();
        let mut old = 0;
        for new in [1u64, 5, 255, 256, 300, 65535, 65536, 70_000] {
            for t in new_tiles(old, new) {
                last.insert((t.level, t.index), t.width);
            }
            old = new;
        }
        let want: std::collections::BTreeMap<_, _> =
            tiles_for_size(70_000).into_iter().map(|t| ((t.level, t.index), t.width)).collect();
        assert_eq!(last, want);
    }

    #[test]
    fn tile_bytes_hold_the_level_hashes() {
        let mut tree = Tree::new();
        let entries: Vec<Vec<u8>> = (0..70_000u32).map(|i| i.to_be_bytes().to_vec()).collect();
        tree.append_entries(&entries);
        for t in tiles_for_size(70_000) {
            let b = tile_bytes(&tree, &t).unwrap();
            assert_eq!(b.len(), 32 * t.width as usize);
        }
        // The single level-2 hash is the root of the first 65536 entries.
        let l2 = tile_bytes(&tree, &TileId { level: Some(2), index: 0, width: 1 }).unwrap();
        assert_eq!(l2, tree.root(65_536).unwrap().to_vec());
        assert!(tile_bytes(&tree, &TileId { level: Some(0), index: 274, width: 1 }).is_err());
    }

    #[test]
    fn bundles_round_trip_and_refuse_damage() {
        let entries: Vec<Vec<u8>> = vec![vec![], b"a".to_vec(), vec![7u8; 65535]];
        let b = encode_bundle(&entries).unwrap();
        let back = decode_bundle(&b).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back[2].len(), 65535);
        assert!(decode_bundle(&b[..b.len() - 1]).is_err());
        assert!(decode_bundle(&[0]).is_err());
        assert!(encode_bundle(&[vec![0u8; 65536]]).unwrap_err().to_string().contains("entries[0]"));
    }
}
