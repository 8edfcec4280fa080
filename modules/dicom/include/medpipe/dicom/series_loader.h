#pragma once
// Turns an indexed series into a volume on a regular grid in LPS patient space.
#include <vector>

#include "medpipe/core/volume.h"
#include "medpipe/dicom/series_index.h"

namespace medpipe::dicom {

// Decodes every slice of SERIES and places it by its position along the normal. Uneven slice gaps
// are equalised and gantry tilt is resampled away onto an orthogonal grid (as dcm2niix's _Tilt_Eq),
// both by linear interpolation. Throws DicomError for refused series and undecodable files.
// TIMINGS, when given, receives the wall-clock milliseconds of decoding (reading, parsing and
// decoding every file, in parallel) and of assembling the volume from the slices. ALLOCATE, when given,
// provides the buffer the slices decode into (a greyscale volume on an even grid keeps it).
struct LoadTimings {
  double decode_ms = 0, assemble_ms = 0;
};
Volume LoadSeries(const Series& series, LoadTimings* timings = nullptr, const VoxelAllocator& allocate = AllocateVoxels);

// Volume VOLUME of a 4-D series (Series::later_volumes), on the same grid as volume 0; LoadSeries is volume 0.
Volume LoadSeriesVolume(const Series& series, size_t volume, LoadTimings* timings = nullptr,
                        const VoxelAllocator& allocate = AllocateVoxels);
// Every volume of SERIES in order: one for a 3-D series.
std::vector<Volume> LoadSeriesVolumes(const Series& series);

}  // namespace medpipe::dicom
