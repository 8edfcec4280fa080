#pragma once
#include <filesystem>
#include <functional>
#include <string>

#include "axial_grid.h"
#include "grey_image.h"
#include "series_header.h"

class DcmItem;

namespace medpipe::synth {

// Writes slice_0001.dcm ... into a new folder out_dir/name and returns it, one slice at a time so memory stays one
// slice. Slices are rendered in order of increasing z, so a renderer may keep state such as its noise generator.
std::filesystem::path WriteAxialSeries(const std::filesystem::path& out_dir, const std::string& name,
                                       const VolumeSpec& spec, const SeriesIdentity& identity,
                                       const std::function<void(DcmItem&)>& put_modality_attributes,
                                       const std::function<GreyImage(const AxialGrid&, int slice)>& render_slice);

}  // namespace medpipe::synth
