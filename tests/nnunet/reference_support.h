#pragma once
// Runs tests/nnunet/reference.py (nnU-Net's steps as scripts/lib/nnunet_inference.py computes them) on
// arrays a test writes, and compares its answers with the C++ side.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "npy.h"
#include "test_support.h"

namespace medpipe::nnunet::testing {

class ReferenceTest : public medpipe::testing::TempDirTest {
 protected:
  // DATA as DIR/NAME.npy; returns the file name for a job.
  std::string Save(const std::string& name, const Array4& data) {
    WriteNpy((dir_ / (name + ".npy")).string(), data);
    return name + ".npy";
  }
  Array4 Load(const std::string& name) const { return ReadNpy((dir_ / (name + ".npy")).string()); }
  // Runs every job added so far through tests/nnunet/SCRIPT; returns results.json.
  nlohmann::json Run(const std::string& script = "reference.py") {
    std::ofstream(dir_ / "jobs.json") << jobs_.dump();
    const std::string command = "/usr/bin/python3 " MEDPIPE_SOURCE_DIR "/tests/nnunet/" + script + " '" + dir_.string() +
                                "' > '" + (dir_ / "reference.log").string() + "' 2>&1";
    if (std::system(command.c_str()) != 0) {
      std::ifstream log(dir_ / "reference.log");
      ADD_FAILURE() << script << " failed:\n" << std::string(std::istreambuf_iterator<char>(log), {});
      return nlohmann::json::object();
    }
    return nlohmann::json::parse(std::ifstream(dir_ / "results.json"));
  }

  nlohmann::json jobs_ = nlohmann::json::array();
};

// Largest |a - b|, and that divided by the largest |b| (1 when B is all zeros).
struct Difference {
  double max_abs = 0.0;
  double relative = 0.0;
};

inline Difference Compare(const Array4& a, const Array4& b) {
  EXPECT_EQ(a.Channels(), b.Channels());
  EXPECT_EQ(a.Shape(), b.Shape());
  if (a.Values().size() != b.Values().size()) return {INFINITY, INFINITY};
  Difference d;
  double scale = 0.0;
  for (size_t i = 0; i < a.Values().size(); ++i) {
    d.max_abs = std::max(d.max_abs, std::abs(static_cast<double>(a.Values()[i]) - b.Values()[i]));
    scale = std::max(scale, std::abs(static_cast<double>(b.Values()[i])));
  }
  d.relative = d.max_abs / (scale > 0 ? scale : 1.0);
  return d;
}

// Uniform noise in [LOW, HIGH).
inline Array4 RandomArray(int64_t channels, const Shape3& shape, uint32_t seed, float low = -1000, float high = 1000) {
  Array4 data(channels, shape);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(low, high);
  for (float& v : data.Values()) v = uniform(rng);
  return data;
}

// A smooth field: a few periods of sines over each axis.
inline Array4 SmoothArray(int64_t channels, const Shape3& shape) {
  Array4 data(channels, shape);
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t i = 0; i < shape[0]; ++i)
      for (int64_t j = 0; j < shape[1]; ++j)
        for (int64_t k = 0; k < shape[2]; ++k)
          data.At(c, i, j, k) = static_cast<float>(100.0 * std::sin(0.4 * i + c) * std::cos(0.3 * j) + 20.0 * std::sin(0.7 * k));
  return data;
}

inline Shape3 ShapeOf(const nlohmann::json& value) { return {value[0], value[1], value[2]}; }
inline Box3 BoxOf(const nlohmann::json& bbox) {
  return {{bbox[0][0], bbox[1][0], bbox[2][0]}, {bbox[0][1], bbox[1][1], bbox[2][1]}};
}

}  // namespace medpipe::nnunet::testing
