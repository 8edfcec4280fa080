// The one percentile convention, against numpy.percentile on a small array.
#include <gtest/gtest.h>

#include <vector>

#include "medpipe/core/percentile.h"

namespace medpipe {
namespace {

TEST(Percentile, AgreesWithNumpysDefault) {
  const std::vector<float> values = {7, -2, 3.5, 10, 0, 4, 4, -8, 1.25, 6};
  // numpy 1.24: np.percentile(np.array(values, dtype=np.float32), percent)
  const std::vector<std::pair<double, double>> numpy = {{0, -8.0},  {1, -7.46},  {5, -5.3}, {25, 0.3125},
                                                        {50, 3.75}, {62.5, 4.0}, {75, 5.5}, {95, 8.65},
                                                        {99, 9.73}, {100, 10.0}};
  std::vector<float> reordered = values;  // one vector through every call, as callers use it
  for (const auto& [percent, expected] : numpy) {
    std::vector<float> fresh = values;
    EXPECT_NEAR(Percentile(fresh, percent), expected, 1e-12) << percent;
    EXPECT_NEAR(Percentile(reordered, percent), expected, 1e-12) << percent;
  }
}

TEST(Percentile, OneValueIsEveryPercentile) {
  std::vector<float> one = {3};
  for (const double percent : {0.0, 40.0, 100.0}) EXPECT_EQ(Percentile(one, percent), 3.0);
}

}  // namespace
}  // namespace medpipe
