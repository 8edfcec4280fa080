#include "raw_checks.h"

#include <dcmtk/dcmdata/dctag.h>
#include <zlib.h>

#include <array>
#include <cctype>
#include <fstream>
#include <limits>
#include <memory>
#include <set>
#include <vector>

#include "medpipe/core/error.h"

namespace medpipe::dicom {
namespace {

constexpr uint32_t kUndefinedLength = 0xFFFFFFFF;

uint32_t Number(const unsigned char* bytes, int count, bool little_endian) {
  uint32_t value = 0;
  for (int i = 0; i < count; ++i) value = value << 8 | bytes[little_endian ? count - 1 - i : i];
  return value;
}

// Explicit VR elements of these VRs carry a 4-byte length after 2 reserved bytes (PS3.5 7.1.2).
bool HasLongLength(const std::string& vr) {
  static const std::set<std::string> kLong = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"};
  return kLong.count(vr) > 0;
}

// How the dataset after the file meta group is encoded, and where it starts.
struct Encoding {
  uint64_t offset = 0;
  bool explicit_vr = true;
  bool little_endian = true;
  bool deflated = false;
};

// Reads the file meta group (explicit VR little endian after the preamble and "DICM"); a file
// without one is a raw dataset, explicit when its first element carries a VR.
Encoding ReadEncoding(std::istream& in) {
  std::array<unsigned char, 132> start{};
  in.read(reinterpret_cast<char*>(start.data()), start.size());
  Encoding encoding;
  if (in.gcount() < 132 || std::string(start.begin() + 128, start.end()) != "DICM") {
    encoding.explicit_vr = in.gcount() >= 6 && std::isupper(start[4]) && std::isupper(start[5]);
    return encoding;
  }
  std::string transfer_syntax;
  uint64_t offset = start.size();
  for (std::array<unsigned char, 12> element{}; in.read(reinterpret_cast<char*>(element.data()), 8);) {
    if (Number(element.data(), 2, true) != 0x0002) break;
    const std::string vr(element.begin() + 4, element.begin() + 6);
    uint64_t header = 8, length = Number(element.data() + 6, 2, true);
    if (HasLongLength(vr)) {
      if (!in.read(reinterpret_cast<char*>(element.data() + 8), 4)) break;
      header = 12;
      length = Number(element.data() + 8, 4, true);
    }
    if (Number(element.data() + 2, 2, true) == 0x0010 && length < 256) {
      transfer_syntax.assign(length, '\0');
      if (!in.read(transfer_syntax.data(), length)) break;
      transfer_syntax.erase(transfer_syntax.find_last_not_of(std::string(" \0", 2)) + 1);
    } else if (!in.seekg(static_cast<std::streamoff>(length), std::ios::cur)) {
      break;
    }
    offset += header + length;
  }
  encoding.offset = offset;
  encoding.explicit_vr = transfer_syntax != "1.2.840.10008.1.2";
  encoding.little_endian = transfer_syntax != "1.2.840.10008.1.2.2";
  encoding.deflated = transfer_syntax == "1.2.840.10008.1.2.1.99";
  return encoding;
}

// The dataset of a deflated file as a stream of inflated bytes, refusing to inflate past a limit.
class InflatingBuffer : public std::streambuf {
 public:
  InflatingBuffer(std::istream& deflated, uint64_t limit, std::string path)
      : deflated_(deflated), limit_(limit), path_(std::move(path)), input_(1 << 16), output_(1 << 18) {
    if (inflateInit2(&stream_, -MAX_WBITS) != Z_OK) throw DicomError(path_, "cannot start zlib to check the deflated dataset");
  }
  ~InflatingBuffer() override { inflateEnd(&stream_); }

 protected:
  int_type underflow() override {
    while (status_ == Z_OK) {
      if (stream_.avail_in == 0) {
        deflated_.read(reinterpret_cast<char*>(input_.data()), static_cast<std::streamsize>(input_.size()));
        if (deflated_.gcount() == 0) break;
        stream_.next_in = input_.data();
        stream_.avail_in = static_cast<uInt>(deflated_.gcount());
      }
      stream_.next_out = reinterpret_cast<Bytef*>(output_.data());
      stream_.avail_out = static_cast<uInt>(output_.size());
      status_ = inflate(&stream_, Z_NO_FLUSH);
      const size_t produced = output_.size() - stream_.avail_out;
      inflated_ += produced;
      if (inflated_ > limit_)
        throw DicomError(path_, "the deflated dataset inflates to more than " + std::to_string(limit_) +
                                    " bytes (the largest accepted image plus headers)");
      if (produced > 0) {
        setg(output_.data(), output_.data(), output_.data() + produced);
        return traits_type::to_int_type(output_[0]);
      }
    }
    return traits_type::eof();  // the end, or a corrupt stream that DCMTK will report
  }

 private:
  std::istream& deflated_;
  uint64_t limit_;
  std::string path_;
  z_stream stream_{};
  int status_ = Z_OK;
  uint64_t inflated_ = 0;
  std::vector<unsigned char> input_;
  std::vector<char> output_;
};

// Follows elements, sequences and items through the dataset (values skipped, not read) to find how
// deep sequences nest. A sequence or item of defined length ends at its byte count; of undefined
// length, at its delimiter. Encapsulated pixel data holds fragments, not elements.
class NestingWalker {
 public:
  NestingWalker(std::istream& in, const Encoding& encoding) : in_(in), little_endian_(encoding.little_endian) {
    levels_.push_back({false, false, UINT64_MAX, encoding.explicit_vr});
  }

  // True when some sequence nests deeper than MAX_DEPTH; stops at the first such or at bytes it cannot follow.
  bool Deeper(size_t max_depth) {
    std::array<unsigned char, 8> bytes{};
    while (Read(bytes.data(), 4)) {
      while (levels_.size() > 1 && position_ >= levels_.back().end) Pop();
      const uint32_t group = Number(bytes.data(), 2, little_endian_), element = Number(bytes.data() + 2, 2, little_endian_);
      if (group == 0xFFFE) {
        if (!Read(bytes.data(), 4)) return false;
        const uint32_t length = Number(bytes.data(), 4, little_endian_);
        if (element == 0xE000 && levels_.back().fragments) {
          if (!Skip(length)) return false;
        } else if (element == 0xE000) {
          levels_.push_back({true, false, End(length), levels_.back().explicit_vr});
        } else if (element == 0xE00D && levels_.back().item) {
          Pop();
        } else if (element == 0xE0DD) {
          if (levels_.back().item) Pop();
          if (levels_.size() > 1) Pop();
        }
        continue;
      }
      std::string vr = "??";
      uint32_t length = 0;
      if (levels_.back().explicit_vr) {
        if (!Read(bytes.data(), 4)) return false;
        vr.assign(bytes.begin(), bytes.begin() + 2);
        length = Number(bytes.data() + 2, 2, little_endian_);
        if (HasLongLength(vr)) {
          if (!Read(bytes.data(), 4)) return false;
          length = Number(bytes.data(), 4, little_endian_);
        }
      } else {
        if (!Read(bytes.data(), 4)) return false;
        length = Number(bytes.data(), 4, little_endian_);
        // Implicit VR: DCMTK takes the VR from its dictionary, and so recurses into what it lists as SQ.
        if (DcmTag(static_cast<Uint16>(group), static_cast<Uint16>(element)).getEVR() == EVR_SQ) vr = "SQ";
      }
      const bool pixel_data = group == 0x7FE0 && element == 0x0010;
      if (pixel_data && length == kUndefinedLength) {
        levels_.push_back({false, true, UINT64_MAX, false});
      } else if (vr == "SQ" || length == kUndefinedLength) {
        // An undefined-length UN holds an implicit VR little endian sequence (PS3.5 6.2.2).
        levels_.push_back({false, false, End(length), vr == "SQ" && levels_.back().explicit_vr});
        if (++depth_ > max_depth) return true;
      } else if (!Skip(length)) {
        return false;
      }
    }
    return false;
  }

 private:
  struct Level {
    bool item;       // an item; otherwise a sequence (or the dataset itself at the bottom)
    bool fragments;  // encapsulated pixel data
    uint64_t end;    // byte position where a defined-length level ends
    bool explicit_vr;
  };

  uint64_t End(uint32_t length) const { return length == kUndefinedLength ? UINT64_MAX : position_ + length; }

  void Pop() {
    if (!levels_.back().item && !levels_.back().fragments) --depth_;
    levels_.pop_back();
  }

  bool Read(unsigned char* out, size_t count) {
    in_.read(reinterpret_cast<char*>(out), static_cast<std::streamsize>(count));
    position_ += static_cast<uint64_t>(in_.gcount());
    return static_cast<size_t>(in_.gcount()) == count;
  }

  // Seeks past a value in a file; reads through it in an inflated stream, which cannot seek.
  bool Skip(uint64_t count) {
    if (in_.rdbuf()->pubseekoff(static_cast<std::streamoff>(count), std::ios::cur, std::ios::in) != std::streampos(-1)) {
      position_ += count;
      return true;  // past the end, the next read fails
    }
    in_.ignore(static_cast<std::streamsize>(count));
    position_ += static_cast<uint64_t>(in_.gcount());
    return static_cast<uint64_t>(in_.gcount()) == count;
  }

  std::istream& in_;
  bool little_endian_;
  std::vector<Level> levels_;
  size_t depth_ = 0;
  uint64_t position_ = 0;
};

}  // namespace

void CheckRawBytes(const std::string& path, uint64_t max_inflated_bytes) {
  std::ifstream file(path, std::ios::binary);
  const Encoding encoding = ReadEncoding(file);
  file.clear();
  file.seekg(static_cast<std::streamoff>(encoding.offset));
  std::unique_ptr<InflatingBuffer> inflating;
  std::istream inflated(nullptr);
  if (encoding.deflated) {
    inflating = std::make_unique<InflatingBuffer>(file, max_inflated_bytes, path);
    inflated.rdbuf(inflating.get());
    inflated.exceptions(std::ios::badbit);  // the buffer's DicomError reaches the caller
  }
  std::istream& dataset = encoding.deflated ? inflated : file;
  if (NestingWalker(dataset, encoding).Deeper(kMaxSequenceDepth))
    throw DicomError(path, "sequences nest deeper than " + std::to_string(kMaxSequenceDepth) + " levels");
  if (encoding.deflated) dataset.ignore(std::numeric_limits<std::streamsize>::max());  // the rest counts too
}

}  // namespace medpipe::dicom
