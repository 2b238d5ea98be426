"""Minimal reader for R's XDR serialization (format 2 and 3) and lazy-load databases (.rdx/.rdb).

Enough for data packages: vectors (logical, integer, double, character, list), pairlists,
attributes, symbols, references and the common ALTREP classes (compact sequences, wrappers, deferred
strings). R objects map to Python as: character vector -> list[str|None], list -> list, integer/
logical -> list[int|None], double -> list[float], pairlist -> list of (tag, value), symbol -> Symbol.
Attributes are dropped except "names", which turns a list or vector into an RNamed (dict-like list).
"""
import gzip
import struct
import zlib

NA_INT = -2147483648


class Symbol(str):
    pass


class RNamed(list):
    """A vector with a names attribute; .names holds them."""
    names = None


class _Reader:
    def __init__(self, data):
        self.b = data
        self.i = 0
        self.refs = []

    def take(self, n):
        if self.i + n > len(self.b):
            raise ValueError("R serialization: truncated stream")
        out = self.b[self.i:self.i + n]
        self.i += n
        return out

    def int(self):
        return struct.unpack(">i", self.take(4))[0]

    def length(self):
        n = self.int()
        if n == -1:
            hi, lo = self.int(), self.int()
            n = (hi << 32) + lo
        return n

    def header(self):
        fmt = self.take(2)
        if fmt != b"X\n":
            raise ValueError(f"R serialization: only XDR ('X\\n') is supported, got {fmt!r}")
        version = self.int()
        self.int()
        self.int()
        if version == 3:
            self.take(self.int())   # native encoding name
        elif version != 2:
            raise ValueError(f"R serialization: unsupported format version {version}")

    def attributes(self, flags):
        return self.item() if flags & (1 << 9) else None

    def item(self):
        flags = self.int()
        t = flags & 0xFF
        has_attr = flags & (1 << 9)
        has_tag = flags & (1 << 10)
        if t == 254:                       # NILVALUE_SXP
            return None
        if t in (253, 242, 241, 252, 251, 250):   # global/empty/base env, unbound, missing, base namespace
            return None
        if t == 255:                       # REFSXP
            idx = flags >> 8
            if idx == 0:
                idx = self.int()
            return self.refs[idx - 1]
        if t in (247, 249, 248):           # PERSISTSXP, NAMESPACESXP, PACKAGESXP: a STRSXP follows
            self.int()                     # (its flags word is 0)
            n = self.int()
            value = [self.item() for _ in range(n)]
            self.refs.append(value)
            return value
        if t == 1:                         # SYMSXP
            s = Symbol(self.item() or "")
            self.refs.append(s)
            return s
        if t == 4:                         # ENVSXP
            env = {}
            self.refs.append(env)
            self.int()                     # locked
            self.item()                    # enclosure
            frame = self.item()
            hashtab = self.item()
            self.item()                    # attributes
            for part in (frame, hashtab):
                if isinstance(part, list):
                    for entry in part:
                        if isinstance(entry, list) and entry and isinstance(entry[0], tuple):
                            env.update(entry)
                        elif isinstance(entry, tuple):
                            env[entry[0]] = entry[1]
            return env
        if t in (2, 6, 3, 5, 17, 239, 240):   # pairlist-like: attr, tag, car, cdr
            out = []
            while True:
                if has_attr:
                    self.item()
                tag = self.item() if has_tag else None
                out.append((tag, self.item()))
                flags = self.int()
                t = flags & 0xFF
                has_attr = flags & (1 << 9)
                has_tag = flags & (1 << 10)
                if t == 254:
                    return out
                if t not in (2, 6, 3, 5, 17, 239, 240):
                    # cdr is not a pairlist cell: rewind the flags word and read it as an item
                    self.i -= 4
                    self.item()
                    return out
        if t == 9:                         # CHARSXP
            n = self.int()
            if n == -1:
                return None
            raw = self.take(n)
            enc = "latin-1" if flags & (1 << 14) else "utf-8"   # LATIN1_MASK is 1<<2 of levels (bit 14)
            return raw.decode(enc, errors="replace")
        if t in (10, 13):                  # LGLSXP, INTSXP
            n = self.length()
            vals = list(struct.unpack(f">{n}i", self.take(4 * n)))
            vals = [None if v == NA_INT else v for v in vals]
            return self._finish(vals, flags)
        if t == 14:                        # REALSXP
            n = self.length()
            return self._finish(list(struct.unpack(f">{n}d", self.take(8 * n))), flags)
        if t == 15:                        # CPLXSXP
            n = self.length()
            v = struct.unpack(f">{2 * n}d", self.take(16 * n))
            return self._finish([complex(v[2 * k], v[2 * k + 1]) for k in range(n)], flags)
        if t == 24:                        # RAWSXP
            return self._finish(self.take(self.length()), flags)
        if t == 16:                        # STRSXP
            n = self.length()
            return self._finish([self.item() for _ in range(n)], flags)
        if t in (19, 20):                  # VECSXP, EXPRSXP
            n = self.length()
            return self._finish([self.item() for _ in range(n)], flags)
        if t == 238:                       # ALTREP_SXP
            info = self.item()
            state = self.item()
            attr = self.item()
            value = self._altrep(info, state)
            return self._named(value, attr)
        raise ValueError(f"R serialization: unsupported SEXP type {t} at byte {self.i - 4}")

    def _altrep(self, info, state):
        cls = info[0][1] if info else ""
        if cls == "compact_intseq" or cls == "compact_realseq":
            n, start, step = state[0], state[1], state[2]
            seq = [start + k * step for k in range(int(n))]
            return [int(x) for x in seq] if cls == "compact_intseq" else seq
        if cls.startswith("wrap_"):
            return state[0]
        if cls == "deferred_string":
            arg = state[0][1] if isinstance(state, list) and state and isinstance(state[0], tuple) else state
            return [None if v is None else (str(int(v)) if float(v).is_integer() else repr(v)) for v in arg]
        raise ValueError(f"R serialization: unsupported ALTREP class {cls!r}")

    def _finish(self, value, flags):
        attr = self.attributes(flags)
        return self._named(value, attr)

    @staticmethod
    def _named(value, attr):
        if not attr:
            return value
        names = dict(attr).get("names") if isinstance(attr, list) else None
        if names is None:
            return value
        out = RNamed(value)
        out.names = names
        return out


def unserialize(data):
    r = _Reader(data)
    r.header()
    return r.item()


def _blob(data):
    """A lazy-load DB blob: 4-byte big-endian uncompressed length, then a zlib stream."""
    (n,) = struct.unpack(">I", data[:4])
    out = zlib.decompress(data[4:])
    if len(out) != n:
        raise ValueError(f"lazy-load blob: expected {n} bytes, got {len(out)}")
    return out


def read_lazyload(rdx_path):
    """{object name: value} for every variable in an R lazy-load database (path.rdx + path.rdb)."""
    with open(rdx_path, "rb") as f:
        raw = f.read()
    index = unserialize(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else _blob(raw))
    variables = dict(zip(index.names, index))["variables"]
    with open(rdx_path[:-4] + ".rdb", "rb") as f:
        db = f.read()
    out = {}
    for name, pos in zip(variables.names, variables):
        off, length = int(pos[0]), int(pos[1])
        out[name] = unserialize(_blob(db[off:off + length]))
    return out
