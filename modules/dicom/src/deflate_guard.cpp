#include "deflate_guard.h"

#include <zlib.h>

#include <array>
#include <fstream>
#include <optional>
#include <vector>

#include "medpipe/core/error.h"

namespace medpipe::dicom {
namespace {

constexpr const char* kDeflatedExplicitLittleEndian = "1.2.840.10008.1.2.1.99";

uint32_t Little(const unsigned char* bytes, int count) {
  uint32_t value = 0;
  for (int i = count - 1; i >= 0; --i) value = value << 8 | bytes[i];
  return value;
}

// The file meta group (explicit VR little endian after the 128-byte preamble and "DICM"): the
// transfer syntax it declares and where the dataset starts. Empty when there is no such group.
struct MetaGroup {
  std::string transfer_syntax;
  uint64_t dataset_offset = 0;
};

std::optional<MetaGroup> ReadMetaGroup(std::ifstream& in) {
  std::array<unsigned char, 132> start{};
  if (!in.read(reinterpret_cast<char*>(start.data()), start.size()) || std::string(start.begin() + 128, start.end()) != "DICM")
    return std::nullopt;
  MetaGroup meta;
  uint64_t offset = start.size();
  for (std::array<unsigned char, 12> element{}; in.read(reinterpret_cast<char*>(element.data()), 8);) {
    if (Little(element.data(), 2) != 0x0002) break;
    const std::string vr(element.begin() + 4, element.begin() + 6);
    const bool long_length = vr == "OB" || vr == "OW" || vr == "UN" || vr == "SQ" || vr == "UT";
    uint64_t header = 8, length = Little(element.data() + 6, 2);
    if (long_length) {
      if (!in.read(reinterpret_cast<char*>(element.data() + 8), 4)) break;
      header = 12;
      length = Little(element.data() + 8, 4);
    }
    if (Little(element.data() + 2, 2) == 0x0010 && length < 256) {
      std::string uid(length, '\0');
      if (!in.read(uid.data(), length)) break;
      meta.transfer_syntax = uid.substr(0, uid.find_last_not_of(std::string(" \0", 2)) + 1);
    } else if (!in.seekg(static_cast<std::streamoff>(length), std::ios::cur)) {
      break;
    }
    offset += header + length;
  }
  meta.dataset_offset = offset;
  return meta;
}

}  // namespace

void CheckInflatedSize(const std::string& path, uint64_t max_inflated_bytes) {
  std::ifstream in(path, std::ios::binary);
  const auto meta = ReadMetaGroup(in);
  if (!meta || meta->transfer_syntax != kDeflatedExplicitLittleEndian) return;
  in.clear();
  in.seekg(static_cast<std::streamoff>(meta->dataset_offset));

  z_stream stream{};
  if (inflateInit2(&stream, -MAX_WBITS) != Z_OK) throw DicomError(path, "cannot start zlib to check the deflated dataset");
  std::vector<unsigned char> input(1 << 16), output(1 << 18);
  uint64_t inflated = 0;
  int status = Z_OK;
  while (status == Z_OK && in.read(reinterpret_cast<char*>(input.data()), input.size()).gcount() > 0) {
    stream.next_in = input.data();
    stream.avail_in = static_cast<uInt>(in.gcount());
    while (status == Z_OK && stream.avail_in > 0) {
      stream.next_out = output.data();
      stream.avail_out = static_cast<uInt>(output.size());
      status = inflate(&stream, Z_NO_FLUSH);
      inflated += output.size() - stream.avail_out;
      if (inflated > max_inflated_bytes) {
        inflateEnd(&stream);
        throw DicomError(path, "the deflated dataset inflates to more than " + std::to_string(max_inflated_bytes) +
                                   " bytes (the largest accepted image plus headers)");
      }
    }
  }
  inflateEnd(&stream);  // a corrupt stream is left for DCMTK to report
}

}  // namespace medpipe::dicom
