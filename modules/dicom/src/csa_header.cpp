#include "medpipe/dicom/csa_header.h"

#include <algorithm>
#include <cstring>

#include "medpipe/core/error.h"

namespace medpipe::dicom {
namespace {

constexpr uint32_t kMaxCount = 1000;  // elements or values per element, as nibabel bounds them
constexpr size_t kNameBytes = 64;

class Cursor {
 public:
  Cursor(const uint8_t* bytes, size_t size, const std::string& where) : bytes_(bytes), size_(size), where_(where) {}

  size_t Left() const { return size_ - at_; }
  uint32_t Uint32() {
    Need(4);
    const uint8_t* p = bytes_ + at_;
    at_ += 4;
    return p[0] | (p[1] << 8) | (p[2] << 16) | (uint32_t{p[3]} << 24);
  }
  // SIZE bytes up to their first NUL.
  std::string Text(size_t size) {
    Need(size);
    const char* p = reinterpret_cast<const char*>(bytes_ + at_);
    at_ += size;
    return std::string(p, strnlen(p, size));
  }
  void Skip(size_t size) {
    Need(size);
    at_ += size;
  }
  // The padding of a value to 4 bytes, which the last value may lack.
  void SkipPadding(size_t length) { at_ += std::min((4 - length % 4) % 4, size_ - at_); }
  uint32_t Count(const std::string& what) {
    const uint32_t count = Uint32();
    if (count > kMaxCount) Fail(what + " is " + std::to_string(count) + ", over " + std::to_string(kMaxCount));
    return count;
  }
  [[noreturn]] void Fail(const std::string& reason) const {
    throw DicomError(where_, "Siemens CSA header at byte " + std::to_string(at_) + ": " + reason);
  }

 private:
  void Need(size_t size) const {
    if (size > size_ - at_) Fail("needs " + std::to_string(size) + " more bytes, " + std::to_string(size_ - at_) + " left");
  }

  const uint8_t* bytes_;
  size_t size_;
  size_t at_ = 0;
  const std::string& where_;
};

// The elements after the signature; CSA1 when not CSA2.
CsaHeader ParseElements(Cursor& in, bool csa2) {
  CsaHeader header;
  const uint32_t elements = in.Count("the number of elements");
  in.Skip(4);
  // CSA1 stores an item's length plus an element's item count in its first word: nibabel's csareader
  // subtracts the second element's count, SPM the first's; they agree on headers whose elements all
  // list the same count, and nibabel cannot read a first element's items, so that one uses its own.
  uint32_t csa1_offset = 0;
  for (uint32_t e = 0; e < elements; ++e) {
    // name, VM, VR, SyngoDT, number of values, a check word
    const std::string name = in.Text(kNameBytes);
    in.Skip(4 + 4 + 4);
    const uint32_t values = in.Count("the number of values of " + name);
    in.Skip(4);
    if (e < 2) csa1_offset = values;
    std::vector<std::string>& kept = header[name];
    for (uint32_t v = 0; v < values; ++v) {
      size_t length = 0;
      if (csa2) {
        in.Skip(4);
        length = in.Uint32();
        in.Skip(8);
      } else {
        const uint32_t first = in.Uint32();
        in.Skip(12);
        // As nibabel: a length below zero or past the end ends this element's values, not the header.
        if (first < csa1_offset || first - csa1_offset > in.Left()) break;
        length = first - csa1_offset;
      }
      const std::string value = in.Text(length);
      in.SkipPadding(length);
      if (!value.empty()) kept.push_back(value);
    }
  }
  return header;
}

}  // namespace

CsaHeader ParseCsaHeader(const uint8_t* bytes, size_t size, const std::string& where) {
  Cursor in(bytes, size, where);
  if (size >= 4 && std::memcmp(bytes, "SV10", 4) == 0) {
    in.Skip(8);  // "SV10" and four unused bytes
    return ParseElements(in, true);
  }
  // Without a signature only parsing tells a CSA1 header from one an anonymiser overwrote: what does
  // not parse is no header.
  try {
    return ParseElements(in, false);
  } catch (const DicomError&) {
    return {};
  }
}

std::vector<double> CsaNumbers(const CsaHeader& header, const std::string& name, const std::string& where) {
  std::vector<double> numbers;
  const auto found = header.find(name);
  if (found == header.end()) return numbers;
  for (const std::string& value : found->second) {
    try {
      numbers.push_back(std::stod(value));
    } catch (const std::logic_error&) {
      throw DicomError(where, "Siemens CSA header element " + name + " holds '" + value + "', not a number");
    }
  }
  return numbers;
}

}  // namespace medpipe::dicom
