#pragma once
// float32 .npy files (numpy's format 1.0, C order): how the tests hand arrays to and from numpy.
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "medpipe/core/error.h"
#include "medpipe/nnunet/array4.h"

namespace medpipe::nnunet::testing {

inline void WriteNpy(const std::string& path, const std::vector<int64_t>& shape, const std::vector<float>& values) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (int64_t n : shape) header += std::to_string(n) + ", ";
  header += "), }";
  header.append(63 - (10 + header.size()) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  const uint16_t length = static_cast<uint16_t>(header.size());
  out.write("\x93NUMPY\x01\x00", 8);
  out.write(reinterpret_cast<const char*>(&length), 2);
  out << header;
  out.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(float)));
  if (!out) throw IoError(path, "could not be written");
}

inline void WriteNpy(const std::string& path, const Array4& data) {
  const Shape3& s = data.Shape();
  WriteNpy(path, {data.Channels(), s[0], s[1], s[2]}, data.Values());
}

// A (C, d0, d1, d2) or (d0, d1, d2) float32 array; the latter as one channel.
inline Array4 ReadNpy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[8];
  uint16_t length = 0;
  in.read(magic, 8);
  in.read(reinterpret_cast<char*>(&length), 2);
  std::string header(length, '\0');
  in.read(header.data(), length);
  if (!in || header.find("'<f4'") == std::string::npos || header.find("False") == std::string::npos)
    throw IoError(path, "is not a C-order float32 .npy file: " + header);
  std::vector<int64_t> shape;
  const size_t open = header.find('(', header.find("'shape'"));
  for (size_t at = open + 1; header[at] != ')';) {
    size_t used = 0;
    shape.push_back(std::stoll(header.substr(at), &used));
    at += used;
    while (header[at] == ',' || header[at] == ' ') ++at;
  }
  if (shape.size() == 3) shape.insert(shape.begin(), 1);
  if (shape.size() != 4) throw IoError(path, "holds a " + std::to_string(shape.size()) + "-D array, not 3-D or 4-D");
  Array4 data(shape[0], {shape[1], shape[2], shape[3]});
  in.read(reinterpret_cast<char*>(data.Values().data()), static_cast<std::streamsize>(data.Values().size() * sizeof(float)));
  if (!in) throw IoError(path, "is truncated");
  return data;
}

}  // namespace medpipe::nnunet::testing
