#include "medpipe/volume_io/parallel_gzip.h"

#include <zlib.h>

#include <algorithm>
#include <vector>

#include "medpipe/core/cores.h"
#include "medpipe/core/error.h"
#include "medpipe/core/parallel_for.h"

namespace medpipe {
namespace {

constexpr size_t kWindowBytes = 32768;
constexpr int kRawDeflate = -15;  // windowBits: 32 KiB window, no zlib or gzip wrapper
constexpr int kMemLevel = 8;

void Check(int status, const char* what) {
  if (status != Z_OK && status != Z_STREAM_END && status != Z_BUF_ERROR)
    throw InternalError("gzip", std::string(what) + " failed with zlib status " + std::to_string(status));
}

// The raw DEFLATE of BLOCK, primed with DICTIONARY; a sync flush ends it, or the final block when LAST.
std::string DeflateBlock(std::string_view block, std::string_view dictionary, bool last, int level) {
  z_stream stream{};
  Check(deflateInit2(&stream, level, Z_DEFLATED, kRawDeflate, kMemLevel, Z_DEFAULT_STRATEGY), "deflateInit2");
  std::string out;
  try {
    if (!dictionary.empty())
      Check(deflateSetDictionary(&stream, reinterpret_cast<const Bytef*>(dictionary.data()), static_cast<uInt>(dictionary.size())),
            "deflateSetDictionary");
    out.resize(deflateBound(&stream, block.size()) + 64);  // + the sync flush's empty stored block
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(block.data()));
    stream.avail_in = static_cast<uInt>(block.size());
    stream.next_out = reinterpret_cast<Bytef*>(out.data());
    stream.avail_out = static_cast<uInt>(out.size());
    const int status = deflate(&stream, last ? Z_FINISH : Z_SYNC_FLUSH);
    Check(status, "deflate");
    if (stream.avail_in != 0 || (last && status != Z_STREAM_END))
      throw InternalError("gzip", "deflate left input over for a block of " + std::to_string(block.size()) + " bytes");
    out.resize(out.size() - stream.avail_out);
  } catch (...) {
    deflateEnd(&stream);
    throw;
  }
  deflateEnd(&stream);
  return out;
}

void AppendLittleEndian32(std::string& out, uLong value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

}  // namespace

std::string GzipParallel(std::string_view data, int level, unsigned threads, size_t block_bytes) {
  block_bytes = std::max(block_bytes, kWindowBytes);
  const size_t blocks = std::max<size_t>(1, (data.size() + block_bytes - 1) / block_bytes);
  std::vector<std::string> deflated(blocks);
  std::vector<uLong> crcs(blocks);
  ParallelFor(blocks, threads ? threads : UsableCores(), [&](size_t i) {
    const size_t start = i * block_bytes;
    const auto block = data.substr(std::min(start, data.size()), block_bytes);
    const size_t primed = std::min(start, kWindowBytes);
    deflated[i] = DeflateBlock(block, data.substr(start - primed, primed), i + 1 == blocks, level);
    crcs[i] = crc32(0, reinterpret_cast<const Bytef*>(block.data()), static_cast<uInt>(block.size()));
  });
  size_t total = 18;
  for (const auto& part : deflated) total += part.size();
  std::string out("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10);  // magic, deflate, no flags, time 0, Unix
  out.reserve(total);
  uLong crc = crc32(0, nullptr, 0);
  for (size_t i = 0; i < blocks; ++i) {
    out += deflated[i];
    const size_t length = std::min(block_bytes, data.size() - std::min(i * block_bytes, data.size()));
    crc = crc32_combine(crc, crcs[i], static_cast<z_off_t>(length));
  }
  AppendLittleEndian32(out, crc);
  AppendLittleEndian32(out, static_cast<uLong>(data.size() & 0xffffffffu));
  return out;
}

}  // namespace medpipe
