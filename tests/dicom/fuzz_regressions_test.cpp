// Inputs the fuzz targets (tests/fuzz/) found or that reach distinct rejections, replayed through
// the targets' three code paths in the normal build: each ends normally or with a DicomError.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "fuzz/fuzz_paths.h"

namespace medpipe::fuzz {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> RegressionInputs() {
  std::vector<fs::path> inputs;
  for (const auto& entry : fs::recursive_directory_iterator(MEDPIPE_SOURCE_DIR "/tests/data/fuzz-regressions")) {
    if (entry.is_regular_file()) inputs.push_back(entry.path());
  }
  std::sort(inputs.begin(), inputs.end());
  return inputs;
}

std::string Bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(FuzzRegressions, EveryInputEndsNormallyOrWithDicomErrorOnEveryPath) {
  const auto inputs = RegressionInputs();
  ASSERT_FALSE(inputs.empty()) << "tests/data/fuzz-regressions/ holds no inputs";
  for (const auto& input : inputs) {
    const std::string bytes = Bytes(input);
    for (const auto& [target, name] : {std::pair{Target::Header, "header"}, std::pair{Target::Index, "index"},
                                       std::pair{Target::Decode, "decode"}}) {
      try {
        RunInput(target, bytes);
      } catch (const DicomError&) {
      } catch (const std::exception& error) {
        ADD_FAILURE() << input << " on the " << name << " path: " << error.what();
      }
    }
  }
}

}  // namespace
}  // namespace medpipe::fuzz
