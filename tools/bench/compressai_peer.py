#!/usr/bin/env python3
"""CompressAI's rANS coder (compressai.ans, C++ behind pybind11) on a symbol stream and a table
given by featjnd-bench-codec, which runs this script and prints its result beside its own coders.

  compressai_peer.py SYMBOLS.i32 TABLE.json [--repeat 5]

SYMBOLS.i32: little-endian int32 symbols. TABLE.json: {"lo": first value of the alphabet,
"freq": the engine's frequencies of the values lo, lo+1, ... then the escape (sum 2^15)}. The
same table is given to CompressAI as its 16-bit CDF (every frequency doubled: the same
probabilities), the escape being CompressAI's overflow symbol (index cdf_length - 2, then its
bypass coding of the value). One line of JSON on stdout: bytes, encode and decode seconds
(min and median of --repeat), exact. CompressAI's API takes Python lists, so its times include
converting them (what a user of compressai.ans pays too); the conversion alone is timed as well.
"""
import argparse
import json
import sys
import time

import numpy as np


def timed(f, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    times.sort()
    return out, times[0], (times[(repeat - 1) // 2] + times[repeat // 2]) / 2


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("symbols")
    ap.add_argument("table")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    try:
        from compressai.ans import RansDecoder, RansEncoder
        import compressai
    except ImportError as e:
        print(json.dumps({"error": f"compressai is not importable from {sys.executable}: {e}"}))
        return 0
    symbols = np.fromfile(args.symbols, dtype="<i4")
    with open(args.table) as f:
        table = json.load(f)
    freq = np.asarray(table["freq"], dtype=np.int64) * 2          # 2^15 -> 2^16
    if freq.sum() != 1 << 16 or (freq <= 0).any():
        raise SystemExit("compressai_peer: the table's frequencies must be positive and sum to 2^15")
    cdf = [0] + np.cumsum(freq).tolist()                           # length n + 2, last 2^16
    cdfs, lengths, offsets = [cdf], [len(cdf)], [int(table["lo"])]
    sym_list, conv_min, _ = timed(lambda: symbols.tolist(), args.repeat)
    indexes = [0] * len(sym_list)
    encoded, enc_min, enc_med = timed(
        lambda: RansEncoder().encode_with_indexes(sym_list, indexes, cdfs, lengths, offsets), args.repeat)
    decoded, dec_min, dec_med = timed(
        lambda: RansDecoder().decode_with_indexes(encoded, indexes, cdfs, lengths, offsets), args.repeat)
    print(json.dumps({"coder": f"CompressAI {compressai.__version__} rANS", "bytes": len(encoded),
                      "encode_s": [enc_min, enc_med], "decode_s": [dec_min, dec_med],
                      "list_conversion_s": conv_min, "exact": decoded == sym_list}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
