#pragma once
#include <filesystem>
#include <string>

namespace medpipe::synth {

// Creates out_dir/name and returns it. Refuses a folder that already holds files, since stale
// slices from an earlier, larger run would silently join the new series.
std::filesystem::path CreateStudyFolder(const std::filesystem::path& out_dir, const std::string& name);

// slice_0001.dcm for instance number 1.
std::string SliceFileName(int instance_number);

}  // namespace medpipe::synth
