#pragma once
// DICOM Segmentation (SEG) objects for label images on the grid of a loaded source series, written and
// read back with DCMTK's dcmseg, and the geometry check that a written SEG lands where its mask was.
#include <filesystem>
#include <string>
#include <vector>

#include "medpipe/core/volume.h"
#include "medpipe/dicom/source_series.h"
#include "medpipe/model/manifest.h"

namespace medpipe::exporter {

// The model that produced the mask: its name and version become SegmentAlgorithmName, the
// Segmentation Algorithm Identification, ContentCreatorName and the equipment's model and serial number.
struct SegAlgorithm {
  std::string name, version;
};

// A DICOM object medpipe wrote, as later objects (the SR) reference it.
struct WrittenObject {
  std::string sop_instance_uid, series_instance_uid;
};

// Writes MASK (on the grid of the loaded SOURCE series) as a binary SEG at PATH: one segment per entry
// of LABELS, in that order, and one frame per segment and mask slice, empty frames included (viewers
// such as OHIF expect every slice). Frames are mask rows (y) by columns (x), placed by the mask grid;
// each references the source instance at the same position when there is one. Patient, study and frame
// of reference come from the first source file's re-encoded header. Returns the new object's UIDs.
// Throws DicomError naming PATH or the source file, ModelError for a label value outside 1..255 or a
// mask value that no label names.
WrittenObject WriteDicomSeg(const LabelImage& mask, const std::vector<model::Label>& labels,
                            const dicom::SourceSeries& source, const SegAlgorithm& algorithm,
                            const std::filesystem::path& path);

// Reads the binary SEG at PATH and rebuilds the label image on REFERENCE's grid: each frame is placed
// by its PlanePositionPatient, segment N becomes LABELS[N-1].value. Throws DicomError naming PATH when
// the SEG cannot be read or its frames do not lie on REFERENCE's slices.
LabelImage::Pointer ReadDicomSeg(const std::filesystem::path& path, const LabelImage& reference,
                                 const std::vector<model::Label>& labels);

// Each label's centroid and bounding box in patient (LPS) space agree between READ_BACK and EXPECTED
// within half a voxel of EXPECTED's grid. Throws InternalError (WHAT) naming the label and
// the mismatch otherwise.
void CheckSameGeometry(const LabelImage& expected, const LabelImage& read_back, const std::vector<model::Label>& labels,
                       const std::string& what);

}  // namespace medpipe::exporter
