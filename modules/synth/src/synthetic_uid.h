#pragma once
#include <cstdint>
#include <string>

namespace medpipe::synth {

enum class UidRole { Study = 1, Series = 2, FrameOfReference = 3, Instance = 4 };

// Fixed root + study code + seed + role (+ instance number): regenerated sample data stays byte-identical.
std::string SyntheticUid(int study_code, uint32_t seed, UidRole role, int instance_number = 0);

}  // namespace medpipe::synth
