"""Block encodings, CRC and signatures of [MS-PST] section 5, shared by reader and writer:
the permutation (§5.1) and cyclic (§5.2) encodings that bCryptMethod (§2.2.2.6) chooses,
the CRC (§5.3) and ComputeSig (§5.5).

Only the data bytes of external data blocks are encoded; pages, internal blocks and
trailers never are.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable

__all__ = [
    "MPBBCRYPT",
    "CRYPT_NONE",
    "CRYPT_PERMUTE",
    "CRYPT_CYCLIC",
    "CRYPT_NAMES",
    "permute_encode",
    "permute_decode",
    "cyclic_code",
    "encode_block",
    "decode_block",
    "crc32",
    "compute_sig",
]

CRYPT_NONE = 0x00
CRYPT_PERMUTE = 0x01
CRYPT_CYCLIC = 0x02
CRYPT_NAMES = {CRYPT_NONE: "none", CRYPT_PERMUTE: "permute", CRYPT_CYCLIC: "cyclic"}

# [MS-PST] §5.1 mpbbCrypt[0:256] (R) and [256:512] (S); I = [512:768] is R's inverse.
_R = bytes.fromhex(
    "41361362a8216ebbf416cc047f64e85d1ef2cb2a74c55e35d295479e962d9a88"
    "4c7d843fdbac31b6485ff6c4d8398be7233b388ec8c1df25b120a546604e9cfb"
    "aad35651457c550007c92b9d859b09a08fadb30f63ab894bd7a7155a716642bf"
    "264a6b98faea7753b270052cfd593a867ece06eb827857c78d43afb41cd45bcd"
    "e2e9274fc3087280cfb0eff5286dbe304d3492d50e3c2232e5e4f99fc2d10a81"
    "12e1ee918376e397e6618a1779a4b7dc907a5c8c02a6ca69de501a1193b95287"
    "58fced1d37491b6ae0293399bd6cd994f340546ff0c673b8d63e6518441fdd67"
    "10f10c19ecae03a1147ba90bfff8a3c0a201f72ebc2468750dfeba2fb5d0da3d"
)
_S = bytes.fromhex(
    "14530f56b3c87a9ceb65481716159f02cc547c83000d0c0ba262a876dbd9edc7"
    "c5a4dcac8574d6d0a79bae9a967166c36399b8dd73928e847da55ed15d93b157"
    "5150808952944f4e0a6bbc8d7f6e47464140440111cb033ff7f4e1a98f3c3af9"
    "fbf0193082092ec99da08649ee6f4d6dc42d813425871b88aafc06a11238fd4c"
    "4272641337246a757743ffe6b44b365ce4d8353d45b92cecb7312b290768a30e"
    "697b189e2139be281a5b78f523ca2ab0af3efe048ce7e5983295d3f64ae8a6ea"
    "e9f3d52f7020f21f0567ad5510cecde3273bdabad7c226d4911dd21c2233f8fa"
    "f15aefcf90b68bb5bdc0bf08971e6ce261e0c6c159abbb58de5fdf60797eb28a"
)


_I = bytes(_R.index(value) for value in range(256))  # I[R[b]] = b
MPBBCRYPT = _R + _S + _I


def permute_encode(data: bytes) -> bytes:
    """Encode with the permutation algorithm (§5.1): each byte b becomes R[b]."""
    return data.translate(_R)


def permute_decode(data: bytes) -> bytes:
    """Decode the permutation algorithm (§5.1): each byte b becomes I[b]."""
    return data.translate(_I)


_RAMP = bytes(range(256)) * 2


def _lanes(n: int) -> tuple[int, int]:
    """Masks of the low seven bits and the top bit of every byte lane of an n-byte int."""
    return int.from_bytes(b"\x7f" * n, "little"), int.from_bytes(b"\x80" * n, "little")


def _add_lanes(x: int, y: int, low: int, top: int) -> int:
    """Bytewise (x + y) mod 256 on n-byte ints at once: no carry crosses a lane."""
    return ((x & low) + (y & low)) ^ ((x ^ y) & top)


def _sub_lanes(x: int, y: int, low: int, top: int) -> int:
    """Bytewise (x - y) mod 256 on n-byte ints at once: no borrow crosses a lane."""
    return ((x | top) - (y & low)) ^ ((x ^ ~y) & top)


@functools.cache
def _middle(hi: int) -> bytes:
    """The steps of §5.2 between the two low-byte shifts, for one high byte, as one table."""
    return bytes(_I[(_S[(x + hi) & 0xFF] - hi) & 0xFF] for x in range(256))


def cyclic_code(data: bytes, key: int) -> bytes:
    """Encode or decode with the cyclic algorithm (§5.2); ``key`` is the block's BID.

    The routine is its own inverse. Only the low DWORD of the key is used. §5.2 walks the
    bytes one by one with a 16-bit counter w: add w's low byte, substitute through R, S
    (shifted by w's high byte) and I, subtract the low byte. Here the low-byte shifts are
    done on all lanes of one big integer at once, and the high byte, constant over runs of
    up to 256 bytes, selects one translation table per run.
    """
    n = len(data)
    if not n:
        return b""
    key &= 0xFFFFFFFF
    w = (key ^ (key >> 16)) & 0xFFFF
    low, top = _lanes(n)
    first = w & 0xFF
    ramp = int.from_bytes((_RAMP[first:256] + _RAMP[:256] * (n // 256 + 1))[:n], "little")
    shifted = _add_lanes(int.from_bytes(data, "little"), ramp, low, top)
    substituted = shifted.to_bytes(n, "little").translate(_R)
    runs, start, hi = [], 0, w >> 8
    end = 256 - first
    while start < n:
        runs.append(substituted[start:end].translate(_middle(hi)))
        start, end, hi = end, end + 256, (hi + 1) & 0xFF
    middle = int.from_bytes(b"".join(runs), "little")
    return _sub_lanes(middle, ramp, low, top).to_bytes(n, "little")


def _code(data: bytes, method: int, bid: int, permute: Callable[[bytes], bytes]) -> bytes:
    if method == CRYPT_NONE:
        return bytes(data)
    if method == CRYPT_PERMUTE:
        return permute(data)
    if method == CRYPT_CYCLIC:
        return cyclic_code(data, bid)
    raise ValueError(f"unknown bCryptMethod {method:#x}")


def encode_block(data: bytes, method: int, bid: int) -> bytes:
    """Encode an external data block's bytes as bCryptMethod ``method`` asks."""
    return _code(data, method, bid, permute_encode)


def decode_block(data: bytes, method: int, bid: int) -> bytes:
    """Decode an external data block's bytes as bCryptMethod ``method`` asks."""
    return _code(data, method, bid, permute_decode)


def crc32(data: bytes) -> int:
    """[MS-PST] §5.3 CRC: zlib's CRC-32 with its pre and post inversion undone."""
    return zlib.crc32(data, 0xFFFFFFFF) ^ 0xFFFFFFFF


def compute_sig(ib: int, bid: int) -> int:
    """[MS-PST] §5.5 ComputeSig: the wSig of BT pages and blocks at file offset ``ib``."""
    v = (ib ^ bid) & 0xFFFFFFFF
    return ((v >> 16) ^ v) & 0xFFFF
