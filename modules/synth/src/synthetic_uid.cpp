#include "synthetic_uid.h"

namespace medpipe::synth {

namespace {
constexpr const char* kUidRoot = "1.2.826.0.1.3680043.10.1511.";
}

std::string SyntheticUid(int study_code, uint32_t seed, UidRole role, int instance_number) {
  std::string uid =
      kUidRoot + std::to_string(study_code) + "." + std::to_string(seed) + "." + std::to_string(static_cast<int>(role));
  if (role == UidRole::Instance) uid += "." + std::to_string(instance_number);
  return uid;
}

}  // namespace medpipe::synth
