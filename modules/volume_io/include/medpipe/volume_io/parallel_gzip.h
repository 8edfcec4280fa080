#pragma once
// gzip compression on several threads into one gzip stream, as pigz does it.
#include <cstddef>
#include <string>
#include <string_view>

namespace medpipe {

// zlib level of the NIfTI files medpipe writes: on a 512x512x300 CT it compresses smaller than
// ITK's level 6 in a third of the time (docs/benchmarks.md, issue 26).
constexpr int kNiftiGzipLevel = 3;
// Uncompressed bytes per block: one thread's unit of work.
constexpr size_t kGzipBlockBytes = size_t{1} << 20;

// DATA as one gzip member (RFC 1952; zlib's header: no name, time 0, OS Unix). Each block of
// BLOCK_BYTES is compressed on its own thread as raw DEFLATE primed with the previous block's last
// 32 KiB as its dictionary and ended by a sync flush (byte-aligned, not final), the last block final;
// the blocks' CRC-32s are combined. Any gzip reader decompresses it to DATA. THREADS 0: the usable cores.
std::string GzipParallel(std::string_view data, int level = kNiftiGzipLevel, unsigned threads = 0,
                         size_t block_bytes = kGzipBlockBytes);

}  // namespace medpipe
